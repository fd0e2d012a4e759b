"""MQTT.js (npm mqtt) in headless Debian chromium, driven by npm playwright-core.

browser/run.js serves a test page over http and https, loads MQTT.js into it and
reports JSON; these tests check it: QoS 0/1/2 round trips with MQTT 3.1.1 (4)
and 5 over ws:// (http page) and wss:// (https page), and the mixed-content rule:
the https page is refused ws:// and works over wss://.
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

BROWSER_DIR = Path(__file__).resolve().parent / "browser"
CHROMIUM = os.environ.get("MQWS_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser_ready():
    node = shutil.which("node")
    if not node:
        pytest.fail("node is not installed (ci/deps.sh integration installs Debian nodejs)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing (ci/deps.sh integration installs Debian chromium)")
    if not (BROWSER_DIR / "node_modules" / "mqtt" / "dist" / "mqtt.min.js").exists() or \
       not (BROWSER_DIR / "node_modules" / "playwright-core").exists():
        pytest.fail(f"npm packages missing: run 'npm ci' in {BROWSER_DIR} (make test-integration does)")
    return node


@pytest.fixture(scope="module")
def origin_broker(mqws_broker, test_ca, tmp_path_factory):
    """mqws-broker that only accepts pages from http://allowed.test (cross-site WebSocket hijacking)."""
    from conftest import start_mqws, stop
    b = start_mqws(tmp_path_factory.mktemp("origin"), test_ca, ["--ws-origin", "http://allowed.test"])
    yield b
    assert stop(b.proc) == 0


_results = {}


def run_browser(node, broker, test_ca, extra_ws=()):
    key = (broker.name, tuple(extra_ws))
    if key in _results:
        return _results[key]
    cfg = {"wsPort": broker.port("ws"), "wssPort": broker.port("wss"), "path": "/mqtt",
           "cert": str(test_ca.cert), "key": str(test_ca.key), "chromium": CHROMIUM,
           "extraRawWs": list(extra_ws), "onlyExtra": bool(extra_ws)}
    r = subprocess.run([node, str(BROWSER_DIR / "run.js"), json.dumps(cfg)], capture_output=True, text=True,
                       timeout=120, cwd=BROWSER_DIR)
    assert r.returncode == 0, f"run.js failed:\n{r.stderr[-4000:]}"
    _results[key] = json.loads(r.stdout.strip().splitlines()[-1])
    return _results[key]


def test_browser_round_trips(browser_ready, broker, test_ca):
    res = run_browser(browser_ready, broker, test_ca)
    trips = res["roundTrips"]
    assert len(trips) == 12
    for t in trips:
        assert t["ok"], f"{t['page']} page, {t['url']}, MQTT v{t['version']}, QoS {t['qos']}: {t.get('error')}"
        assert t["payload"] == t["sent"]
        assert t["receivedQos"] == t["qos"], "subscribed at QoS 2: delivered at the publish QoS"
        assert t["protocolVersion"] == t["version"]
    assert {(t["page"], t["url"].split(":")[0]) for t in trips} == {("http", "ws"), ("https", "wss")}
    assert "Chrome" in res["userAgent"]


def test_browser_mixed_content(browser_ready, broker, test_ca):
    """The seed article's pitfall: an https page cannot use ws://, only wss://."""
    res = run_browser(browser_ready, broker, test_ca)
    mc = res["mixedContent"]
    assert mc["pageUrl"].startswith("https://")
    assert not mc["rawWs"]["opened"] and mc["rawWs"]["how"].startswith("SecurityError"), mc
    assert not mc["mqttJsWs"]["ok"], mc
    assert mc["rawWss"]["opened"] and mc["rawWss"]["protocol"] == "mqtt", mc
    assert mc["plainPageRawWs"]["opened"], "the same ws:// URL works from the http page"
    # Chromium says why on the console
    assert any("Mixed Content" in line and "ws://" in line for line in res["console"]), res["console"]


def test_browser_origin_allow_list(browser_ready, mqws_broker, origin_broker, test_ca):
    """--ws-origin: the browser's page (http://mqws.test:PORT) is refused with 403, while
    mqws-client presenting the allowed Origin, or none (not a browser), gets in."""
    from helpers import run_client
    url = origin_broker.url("ws").replace("127.0.0.1", "mqws.test")
    res = run_browser(browser_ready, mqws_broker, test_ca, extra_ws=[url])
    (extra,) = res["extraRawWs"]
    assert extra["origin"].startswith("http://mqws.test:")
    assert not extra["opened"], extra
    refusals = [line for line in origin_broker.log_text().splitlines() if "403" in line and "Origin" in line]
    assert refusals, origin_broker.log_text()
    ws = origin_broker.url("ws")
    r = run_client("pub", "-L", ws, "-t", "o/k", "-m", "x", "--origin", "http://allowed.test")
    assert r.returncode == 0, r.stderr
    r = run_client("pub", "-L", ws, "-t", "o/k", "-m", "x", "--origin", "https://evil.test")
    assert r.returncode == 3 and "HTTP 403" in r.stderr, r.stderr
    assert run_client("pub", "-L", ws, "-t", "o/k", "-m", "x").returncode == 0
