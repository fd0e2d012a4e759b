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


_results = {}


def run_browser(node, broker, test_ca):
    if broker.name in _results:
        return _results[broker.name]
    cfg = {"wsPort": broker.port("ws"), "wssPort": broker.port("wss"), "path": "/mqtt",
           "cert": str(test_ca.cert), "key": str(test_ca.key), "chromium": CHROMIUM}
    r = subprocess.run([node, str(BROWSER_DIR / "run.js"), json.dumps(cfg)], capture_output=True, text=True,
                       timeout=120, cwd=BROWSER_DIR)
    assert r.returncode == 0, f"run.js failed:\n{r.stderr[-4000:]}"
    _results[broker.name] = json.loads(r.stdout.strip().splitlines()[-1])
    return _results[broker.name]


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
