"""The suite against a broker it was not written with: Debian's mosquitto 2.0
(websockets listener). Every case must reach a verdict (no `error`), the
deviations mosquitto is known for must be found, and its correct behaviour
must pass."""
import json
import shutil

import pytest

from mqws_conformance import cli

KNOWN_DEVIATIONS = [
    "binary.connect-in-text-frame",    # text frames accepted (MQTT-6.0.0-1)
    "binary.text-after-connack",
    "framing.unmasked-binary",         # unmasked client frames accepted (RFC6455-5.1)
    "subprotocol.legacy-then-mqtt",    # 'mqttv3.1' chosen over an offered 'mqtt' (MQTT-6.0.0-4)
]
MUST_PASS = [
    "mqtt.qos1-delivery.v4", "mqtt.qos2-no-duplicate.v5", "mqtt.session-resume.v5",
    "mqtt.qos1-redelivery-after-reconnect.v4", "close.ws-close-triggers-will.v5", "mqtt5.no-local",
    "reassembly.publish-every-split.v5", "handshake.accept-several-keys", "subprotocol.mqtt",
]


@pytest.mark.skipif(not shutil.which("mosquitto") and not shutil.which("/usr/sbin/mosquitto"),
                    reason="mosquitto is not installed (ci/deps.sh conformance installs it)")
def test_suite_against_mosquitto(tmp_path):
    from targets import Mosquitto
    m = Mosquitto()
    try:
        rc = cli.main([m.url, "--quiet", "--jobs", "8", "--timeout", "2", "--report-dir", str(tmp_path),
                       "--format", "json"])
    finally:
        m.stop()
    doc = json.load(open(tmp_path / "report.json"))
    v = {c["id"]: c["verdict"] for c in doc["cases"]}
    assert not [i for i, x in v.items() if x == "error"]
    assert rc == 1
    assert [i for i in KNOWN_DEVIATIONS if v[i] != "fail"] == []
    assert [i for i in MUST_PASS if v[i] != "pass"] == []
