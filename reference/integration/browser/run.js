// MQTT.js in a real browser (headless Debian chromium, driven by playwright-core)
// against an MQTT-over-WebSocket broker on loopback.
//
//   node run.js '{"wsPort":N,"wssPort":N,"path":"/mqtt","cert":"server.pem","key":"server.key"}'
//
// Serves a page over http and over https (small servers in this process, on
// 127.0.0.1), loads MQTT.js into it from node_modules, and prints one JSON object:
//   roundTrips: QoS 0/1/2 publish -> subscribe -> receive, MQTT 3.1.1 (4) and 5,
//               ws:// from the http page and wss:// from the https page;
//   mixedContent: what the https page gets when it opens ws:// (the browser refuses:
//               "mixed content") and that wss:// from the same page works;
//   extraRawWs: bare WebSockets from the http page to cfg.extraRawWs URLs.
// cfg.onlyExtra skips the first two.
// The browser reaches everything under the name mqws.test, mapped to 127.0.0.1 with
// --host-resolver-rules: Chromium treats 127.0.0.1 and localhost as secure origins
// and would not apply the mixed-content rule to them.
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const path = require('path');
const { chromium } = require('playwright-core');

const cfg = JSON.parse(process.argv[2]);
const HOST = 'mqws.test';
const mqttJs = fs.readFileSync(path.join(__dirname, 'node_modules', 'mqtt', 'dist', 'mqtt.min.js'));
const page = '<!doctype html><html><head><meta charset="utf-8"><title>mqws browser test</title>' +
  '<script src="/mqtt.min.js"></script></head><body>mqws browser test</body></html>';

function handler(req, res) {
  if (req.url === '/mqtt.min.js') {
    res.writeHead(200, { 'Content-Type': 'application/javascript' });
    res.end(mqttJs);
  } else {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(page);
  }
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

// Runs in the page: connect, subscribe at QoS 2, publish at `qos`, wait for the message.
async function roundTrip({ url, version, qos, topic, payload }) {
  /* global mqtt */
  return await new Promise((resolve) => {
    let done = false;
    let client;
    try {
      client = mqtt.connect(url, {
        protocolVersion: version,
        clientId: 'browser-' + Math.random().toString(16).slice(2, 10),
        reconnectPeriod: 0,
        connectTimeout: 5000,
        clean: true,
      });
    } catch (e) {
      // e.g. the browser's mixed-content refusal, thrown by new WebSocket()
      return resolve({ ok: false, error: e.name + ': ' + e.message });
    }
    const finish = (result) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      client.end(true);
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, error: 'timeout' }), 8000);
    client.on('error', (e) => finish({ ok: false, error: String((e && e.message) || e) }));
    client.on('close', () => finish({ ok: false, error: 'closed before the message came back' }));
    client.on('connect', () => {
      client.subscribe(topic, { qos: 2 }, (err, granted) => {
        if (err) return finish({ ok: false, error: 'subscribe: ' + err.message });
        client.publish(topic, payload, { qos }, (perr) => {
          if (perr) finish({ ok: false, error: 'publish: ' + perr.message });
        });
      });
    });
    client.on('message', (t, message, packet) => {
      finish({ ok: true, topic: t, payload: message.toString(), receivedQos: packet.qos,
               protocolVersion: client.options.protocolVersion });
    });
  });
}

// Runs in the page: a bare WebSocket to `url`; reports whether the browser let it open.
async function rawWebSocket(url) {
  try {
    const ws = new WebSocket(url, 'mqtt');
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ opened: false, how: 'timeout' }), 5000);
      ws.onopen = () => { clearTimeout(timer); ws.close(); resolve({ opened: true, protocol: ws.protocol }); };
      ws.onerror = () => { clearTimeout(timer); resolve({ opened: false, how: 'error event' }); };
    });
  } catch (e) {
    return { opened: false, how: e.name + ': ' + e.message };
  }
}

async function main() {
  const httpServer = http.createServer(handler);
  const httpsServer = https.createServer(
    { cert: fs.readFileSync(cfg.cert), key: fs.readFileSync(cfg.key) }, handler);
  const httpPort = await listen(httpServer);
  const httpsPort = await listen(httpsServer);
  const browser = await chromium.launch({
    executablePath: cfg.chromium || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--ignore-certificate-errors',
           `--host-resolver-rules=MAP ${HOST} 127.0.0.1`],
  });
  const result = { roundTrips: [], mixedContent: {}, console: [] };
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const plain = await context.newPage();
    const secure = await context.newPage();
    for (const p of [plain, secure]) p.on('console', (m) => result.console.push(m.text()));
    await plain.goto(`http://${HOST}:${httpPort}/`);
    await secure.goto(`https://${HOST}:${httpsPort}/`);
    const wsUrl = `ws://${HOST}:${cfg.wsPort}${cfg.path}`;
    const wssUrl = `wss://${HOST}:${cfg.wssPort}${cfg.path}`;
    let n = 0;
    const scenarios = cfg.onlyExtra ? [] : [[plain, wsUrl, 'http'], [secure, wssUrl, 'https']];
    for (const [pg, url, origin] of scenarios) {
      for (const version of [4, 5]) {
        for (const qos of [0, 1, 2]) {
          const args = { url, version, qos, topic: `browser/${process.pid}/${n++}`,
                         payload: `hello v${version} qos${qos} ${origin}` };
          const r = await pg.evaluate(roundTrip, args);
          result.roundTrips.push({ page: origin, url, version, qos, sent: args.payload, ...r });
        }
      }
    }
    if (!cfg.onlyExtra) {
      // The seed article's pitfall: an https page may not open ws://, only wss://.
      result.mixedContent.pageUrl = secure.url();
      result.mixedContent.rawWs = await secure.evaluate(rawWebSocket, wsUrl);
      result.mixedContent.mqttJsWs = await secure.evaluate(roundTrip,
        { url: wsUrl, version: 4, qos: 1, topic: `browser/${process.pid}/mixed`, payload: 'never' });
      result.mixedContent.rawWss = await secure.evaluate(rawWebSocket, wssUrl);
      result.mixedContent.plainPageRawWs = await plain.evaluate(rawWebSocket, wsUrl);
    }
    // Extra ws:// URLs opened from the http page (e.g. a broker with an Origin allow-list).
    result.extraRawWs = [];
    for (const url of cfg.extraRawWs || []) {
      const r = await plain.evaluate(rawWebSocket, url);
      result.extraRawWs.push({ url, origin: new URL(plain.url()).origin, ...r });
    }
    result.userAgent = await plain.evaluate(() => navigator.userAgent);
  } finally {
    await browser.close();
    httpServer.close();
    httpsServer.close();
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => {
  process.stderr.write(String((e && e.stack) || e) + '\n');
  process.exit(1);
});
