"""Debian mosquitto_pub / mosquitto_sub over tcp against each broker."""
import shutil
import subprocess
import time

import pytest

PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
SUB = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"


@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mosquitto_tools_tcp(broker, version, qos, uniq):
    port = str(broker.port("tcp"))
    topic = f"{uniq}/tools"
    sub = subprocess.Popen([SUB, "-h", "127.0.0.1", "-p", port, "-V", version, "-t", topic, "-q", "2",
                            "-C", "1", "-W", "10", "-v"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        # mosquitto_sub says nothing when it is subscribed: publish until it gets one.
        deadline = time.monotonic() + 10
        while sub.poll() is None and time.monotonic() < deadline:
            r = subprocess.run([PUB, "-h", "127.0.0.1", "-p", port, "-V", version, "-t", topic,
                                "-m", f"tools qos{qos}", "-q", str(qos)], capture_output=True, text=True,
                               timeout=10)
            assert r.returncode == 0, r.stderr
            time.sleep(0.1)
        out, err = sub.communicate(timeout=10)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
    assert sub.returncode == 0, err
    assert out == f"{topic} tools qos{qos}\n"


def test_mosquitto_retained_tcp(broker, uniq):
    port = str(broker.port("tcp"))
    topic = f"{uniq}/ret"
    r = subprocess.run([PUB, "-h", "127.0.0.1", "-p", port, "-t", topic, "-m", "stay", "-r", "-q", "1"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([SUB, "-h", "127.0.0.1", "-p", port, "-t", topic, "-C", "1", "-W", "5"],
                       capture_output=True, text=True, timeout=10)
    assert (r.returncode, r.stdout) == (0, "stay\n"), r.stderr
    subprocess.run([PUB, "-h", "127.0.0.1", "-p", port, "-t", topic, "-n", "-r"], check=True, timeout=10)
