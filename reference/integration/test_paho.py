"""paho-mqtt (Debian python3-paho-mqtt) over ws and wss against each broker."""
import time

import pytest

from helpers import Paho

TRANSPORTS = ["ws", "wss"]
VERSIONS = [4, 5]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("scheme", TRANSPORTS)
def test_round_trip_qos(broker, scheme, version, test_ca, uniq):
    url = broker.url(scheme)
    sub = Paho(url, version, f"{uniq}-s", ca=test_ca.ca)
    pub = Paho(url, version, f"{uniq}-p", ca=test_ca.ca)
    try:
        sub.subscribe(f"{uniq}/+", 2)
        for qos in (0, 1, 2):
            pub.publish(f"{uniq}/q{qos}", f"paho {qos}".encode() * (1 + 500 * qos), qos)
            m = sub.get()
            assert (m.topic, m.qos) == (f"{uniq}/q{qos}", qos)
            assert m.payload == f"paho {qos}".encode() * (1 + 500 * qos)
        # a 25 kB message crosses many TCP segments and WebSocket reads
        big = bytes(range(256)) * 100
        pub.publish(f"{uniq}/big", big, 1)
        assert sub.get().payload == big
    finally:
        sub.disconnect()
        pub.disconnect()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("scheme", TRANSPORTS)
def test_retained(broker, scheme, version, test_ca, uniq):
    url = broker.url(scheme)
    topic = f"{uniq}/state"
    pub = Paho(url, version, f"{uniq}-p", ca=test_ca.ca)
    try:
        pub.publish(topic, b"on", 1, retain=True)
        late = Paho(url, version, f"{uniq}-late", ca=test_ca.ca)
        late.subscribe(topic, 1)
        m = late.get()
        assert (m.payload, m.retain) == (b"on", True)
        # a live message to a subscriber is not flagged retained
        pub.publish(topic, b"off", 1, retain=True)
        m = late.get()
        assert (m.payload, m.retain) == (b"off", False)
        late.disconnect()
        pub.publish(topic, b"", 1, retain=True)  # clears it
        later = Paho(url, version, f"{uniq}-later", ca=test_ca.ca)
        later.subscribe(topic, 1)
        later.nothing(0.5)
        later.disconnect()
    finally:
        pub.disconnect()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("scheme", TRANSPORTS)
def test_will_on_abrupt_close(broker, scheme, version, test_ca, uniq):
    url = broker.url(scheme)
    watcher = Paho(url, version, f"{uniq}-w", ca=test_ca.ca)
    try:
        watcher.subscribe(f"{uniq}/will", 1)
        dying = Paho(url, version, f"{uniq}-d", ca=test_ca.ca, will=(f"{uniq}/will", b"gone", 1, False))
        dying.drop()
        m = watcher.get(timeout=10)
        assert (m.topic, m.payload) == (f"{uniq}/will", b"gone")
        # a clean DISCONNECT sends no will
        polite = Paho(url, version, f"{uniq}-polite", ca=test_ca.ca, will=(f"{uniq}/will", b"no", 1, False))
        polite.disconnect()
        watcher.nothing(0.5)
    finally:
        watcher.disconnect()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("scheme", TRANSPORTS)
def test_session_resume_with_queued_messages(broker, scheme, version, test_ca, uniq):
    """QoS 1 and 2 messages published while a persistent session is offline arrive on resume."""
    url = broker.url(scheme)
    cid = f"{uniq}-persistent"
    expiry = 300 if version == 5 else None
    first = Paho(url, version, cid, clean=True, ca=test_ca.ca, session_expiry=expiry)
    first.disconnect()
    first = Paho(url, version, cid, clean=False, ca=test_ca.ca, session_expiry=expiry)
    first.subscribe(f"{uniq}/queued", 2)
    first.disconnect()
    pub = Paho(url, version, f"{uniq}-p", ca=test_ca.ca)
    try:
        for i, qos in enumerate((1, 2, 1, 2, 0)):
            pub.publish(f"{uniq}/queued", f"queued {i}".encode(), qos)
    finally:
        pub.disconnect()
    back = Paho(url, version, cid, clean=False, ca=test_ca.ca, session_expiry=expiry)
    try:
        assert back.session_present
        got = [back.get() for _ in range(4)]
        # paho hands QoS 2 messages over at PUBREL, so QoS 1 and 2 may interleave differently
        assert sorted((m.payload, m.qos) for m in got) == [
            (b"queued 0", 1), (b"queued 1", 2), (b"queued 2", 1), (b"queued 3", 2)]
        back.nothing(0.3)  # QoS 0 is not queued for an offline client
    finally:
        back.disconnect()
    # the session is still there, with its subscription, for a clean-start-false reconnect
    again = Paho(url, version, cid, clean=True, ca=test_ca.ca)
    assert not again.session_present
    again.disconnect()
