"""Helpers shared by the hand-written cases."""
import time

from .. import mqtt
from ..net import Event, Expectation
from ..registry import REGISTRY, Case

V = {4: "v4", 5: "v5"}


def add(id, title, group, refs, run, **kw):
    REGISTRY.add(Case(id, title, group, refs, run, **kw))


def both(id, title, group, refs4, refs5, run, **kw):
    """Registers `id.v4` (MQTT 3.1.1) and `id.v5` (MQTT 5.0); refs per version
    (None: the version has no such case)."""
    if refs4 is not None:
        REGISTRY.add(Case(f"{id}.v4", title + " (3.1.1)", group, refs4, run, mqtt=4, **kw))
    if refs5 is not None:
        REGISTRY.add(Case(f"{id}.v5", title + " (5.0)", group, refs5, run, mqtt=5, **kw))


def subscribe(m, filters, pid=1, props=None):
    """SUBSCRIBE and wait for the SUBACK; `filters`: [(filter, options)]."""
    m.send(mqtt.subscribe(pid, filters, m.version, props))
    d = m.expect("SUBACK")
    if d["packet_id"] != pid:
        raise Expectation(f"SUBACK id {pid}", f"SUBACK id {d['packet_id']}")
    return d


def publish(m, topic, payload, qos=0, retain=False, pid=1, props=None, dup=False):
    """PUBLISH and complete its flow (PUBACK, or PUBREC/PUBREL/PUBCOMP)."""
    m.send(mqtt.publish(topic, payload, qos, retain, dup, pid, m.version, props))
    if qos == 1:
        d = m.expect("PUBACK")
        return d
    if qos == 2:
        d = m.expect("PUBREC")
        m.send(mqtt.ack(mqtt.PUBREL, pid, m.version))
        return m.expect("PUBCOMP")
    return None


def ack(m, d):
    """Acknowledges a received PUBLISH as its QoS asks."""
    if d["type"] == "PUBLISH" and d["qos"] == 1:
        m.send(mqtt.ack(mqtt.PUBACK, d["packet_id"], m.version))
    elif d["type"] == "PUBLISH" and d["qos"] == 2:
        m.send(mqtt.ack(mqtt.PUBREC, d["packet_id"], m.version))
    elif d["type"] == "PUBREL":
        m.send(mqtt.ack(mqtt.PUBCOMP, d["packet_id"], m.version))


def receive(m, timeout=None, until=None, auto_ack=True, count=None):
    """PUBLISH packets (dicts) until `until(d)` is true for one (included), `count`
    arrived, the connection ends or `timeout` passes. Acks as needed."""
    timeout = m.ws.target.timeout if timeout is None else timeout
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = m.recv(deadline - time.monotonic())
        if isinstance(d, Event):
            break
        if auto_ack:
            ack(m, d)
        if d["type"] != "PUBLISH":
            continue
        out.append(d)
        if (until and until(d)) or (count and len(out) >= count):
            break
    return out


def pubacks_and_publishes(m, n, timeout=None):
    """Reads until `n` distinct PUBACK ids and `n` distinct PUBLISH payloads arrived
    (each PUBLISH acked as its QoS asks; a QoS 1 duplicate does not count), the
    connection ends or `timeout` passes. Returns the PUBACKs' packet ids (a set) and
    every PUBLISH payload in arrival order."""
    timeout = m.ws.target.timeout if timeout is None else timeout
    acks, payloads = set(), []
    deadline = time.monotonic() + timeout
    while (len(acks) < n or len(set(payloads)) < n) and time.monotonic() < deadline:
        d = m.recv(deadline - time.monotonic())
        if not isinstance(d, dict):
            break
        if d["type"] == "PUBACK":
            acks.add(d["packet_id"])
        elif d["type"] == "PUBLISH":
            payloads.append(d["payload"])
            ack(m, d)
    return acks, payloads


def marker(ctx, topic, version=None, name="marker"):
    """Publishes a QoS 1 marker message from a separate client; a subscriber that
    receives the marker has received everything the server sent before it."""
    payload = f"marker-{time.monotonic_ns()}".encode()
    p = ctx.mqtt(name, version=version)
    publish(p, topic, payload, qos=1)
    p.disconnect()
    return payload


def until_payload(payload):
    return lambda d: d["payload"] == payload


def props(d):
    return dict(d.get("props", []))


def prop_all(d, name):
    return [v for n, v in d.get("props", []) if n == name]


def session_props(version, expiry=300):
    return [("session_expiry", expiry)] if version == 5 else None
