"""Hand-written cases: MQTT semantics over WebSocket, each for 3.1.1 and 5.0."""
import time

from .. import mqtt
from ..net import Event
from .util import both, marker, props, publish, receive, session_props, subscribe, until_payload


def qos_delivery(q):
    def run(ctx):
        topic = ctx.topic()
        sub = ctx.mqtt("sub")
        subscribe(sub, [(topic, 2)])
        pub = ctx.mqtt("pub")
        a = publish(pub, topic, b"hello", qos=q, pid=7)
        if q == 1 and a["packet_id"] != 7:
            ctx.fail(f"PUBACK id {a['packet_id']}", "PUBACK id 7")
            return
        got = receive(sub, count=1)
        if not got:
            ctx.fail("no message delivered", f"the QoS {q} message")
            return
        d = got[0]
        ok = d["payload"] == b"hello" and d["qos"] == q and d["topic"] == topic and not (q == 0 and d["dup"])
        ctx.check(ok, f"delivered qos={d['qos']} dup={d['dup']} topic ok={d['topic'] == topic}",
                  f"the message once, QoS {q}, topic and payload intact")
    return run


def qos2_no_duplicate(ctx):
    topic = ctx.topic()
    sub = ctx.mqtt("sub")
    subscribe(sub, [(topic, 2)])
    pub = ctx.mqtt("pub")
    pub.send(mqtt.publish(topic, b"once", 2, False, False, 11, ctx.version))
    pub.expect("PUBREC")
    pub.send(mqtt.publish(topic, b"once", 2, False, True, 11, ctx.version), "the same PUBLISH again, DUP=1")
    pub.expect("PUBREC")
    pub.send(mqtt.ack(mqtt.PUBREL, 11, ctx.version))
    pub.expect("PUBCOMP")
    mk = marker(ctx, topic)
    got = receive(sub, until=until_payload(mk))
    n = sum(1 for d in got if d["payload"] == b"once")
    ctx.check(n == 1, f"{n} deliveries before the marker", "exactly one delivery")


def qos1_redelivery(ctx):
    topic = ctx.topic()
    sp = session_props(ctx.version)
    sub = ctx.mqtt("sub", clean=False, props=sp)
    subscribe(sub, [(topic, 1)])
    pub = ctx.mqtt("pub")
    publish(pub, topic, b"redeliver-me", qos=1)
    got = receive(sub, count=1, auto_ack=False)
    if not got:
        ctx.fail("first delivery missing", "the message")
        return
    first = got[0]
    sub.ws.tr.note("dropping the connection without PUBACK")
    sub.ws.close()
    time.sleep(0.1)
    sub2 = ctx.mqtt("sub", clean=False, props=sp)
    if not sub2.connack["session_present"]:
        ctx.fail("Session Present 0 on reconnect", "Session Present 1")
        return
    got = receive(sub2, count=1)
    if not got:
        ctx.fail("not re-sent after reconnect", "the unacknowledged PUBLISH re-sent with DUP 1")
        return
    d = got[0]
    ctx.check(d["payload"] == b"redeliver-me" and d["dup"] and d["packet_id"] == first["packet_id"],
              f"re-sent dup={d['dup']} id={d['packet_id']} (first id {first['packet_id']})",
              "the same packet id, DUP 1")
    cleanup(ctx, "sub")


def cleanup(ctx, name):
    """Ends a persistent session (clean connect) so the target keeps no state."""
    try:
        m = ctx.mqtt(name, clean=True)
        m.disconnect()
    except Exception:  # noqa: BLE001 - cleanup only
        pass


def qos2_pubrel_redelivery(ctx):
    topic = ctx.topic()
    sp = session_props(ctx.version)
    sub = ctx.mqtt("sub", clean=False, props=sp)
    subscribe(sub, [(topic, 2)])
    pub = ctx.mqtt("pub")
    publish(pub, topic, b"q2", qos=2)
    got = receive(sub, count=1, auto_ack=False)
    if not got:
        ctx.fail("no delivery", "the QoS 2 message")
        return
    pid = got[0]["packet_id"]
    sub.send(mqtt.ack(mqtt.PUBREC, pid, ctx.version))
    d = sub.expect("PUBREL")
    sub.ws.tr.note("dropping the connection without PUBCOMP")
    sub.ws.close()
    time.sleep(0.1)
    sub2 = ctx.mqtt("sub", clean=False, props=sp)
    d = sub2.recv()
    if isinstance(d, Event):
        ctx.fail(f"nothing re-sent ({d.kind})", "PUBREL re-sent")
    elif d["type"] == "PUBLISH":
        ctx.fail("the PUBLISH was re-sent after PUBREC", "PUBREL re-sent, not the PUBLISH")
    else:
        ctx.check(d["type"] == "PUBREL" and d["packet_id"] == pid, f"{d['type']} id {d.get('packet_id')}",
                  f"PUBREL id {pid}")
        sub2.send(mqtt.ack(mqtt.PUBCOMP, pid, ctx.version))
    cleanup(ctx, "sub")


def session_resume(ctx):
    topic = ctx.topic()
    sp = session_props(ctx.version)
    sub = ctx.mqtt("sub", clean=False, props=sp)
    subscribe(sub, [(topic, 1)])
    sub.disconnect()
    sub.outcome(probe=False, timeout=2)
    pub = ctx.mqtt("pub")
    for i in range(3):
        publish(pub, topic, f"queued-{i}".encode(), qos=1, pid=i + 1)
    sub2 = ctx.mqtt("sub", clean=False, props=sp)
    got = receive(sub2, count=3)
    pl = [d["payload"] for d in got]
    ctx.check(sub2.connack["session_present"] and pl == [b"queued-0", b"queued-1", b"queued-2"],
              f"Session Present {int(sub2.connack['session_present'])}, messages {pl}",
              "Session Present 1 and the three queued messages in order")
    cleanup(ctx, "sub")


def clean_discards(ctx):
    topic = ctx.topic()
    sp = session_props(ctx.version)
    sub = ctx.mqtt("sub", clean=False, props=sp)
    subscribe(sub, [(topic, 1)])
    sub.disconnect()
    sub.outcome(probe=False, timeout=2)
    sub2 = ctx.mqtt("sub", clean=True)
    sp_flag = sub2.connack["session_present"]
    pub = ctx.mqtt("pub")
    publish(pub, topic, b"not-for-you", qos=1)
    sub2.send(mqtt.pingreq())
    got = [d for d in sub2.collect(0.3) if isinstance(d, dict) and d["type"] == "PUBLISH"]
    ctx.check(not sp_flag and not got, f"Session Present {int(sp_flag)}, {len(got)} messages",
              "Session Present 0 and no old subscription")


def retained(ctx):
    topic = ctx.topic()
    pub = ctx.mqtt("pub")
    publish(pub, topic, b"kept", qos=1, retain=True)
    sub = ctx.mqtt("sub")
    subscribe(sub, [(topic, 1)])
    got = receive(sub, count=1)
    if not got:
        ctx.fail("no retained message on subscribe", "the retained message, RETAIN 1")
    else:
        ctx.check(got[0]["payload"] == b"kept" and got[0]["retain"], f"retain={got[0]['retain']}",
                  "the retained message with RETAIN 1")
    publish(pub, topic, b"", qos=1, retain=True)


def retained_clear(ctx):
    topic = ctx.topic()
    pub = ctx.mqtt("pub")
    publish(pub, topic, b"to-clear", qos=1, retain=True)
    publish(pub, topic, b"", qos=1, retain=True)
    sub = ctx.mqtt("sub")
    subscribe(sub, [(topic, 1)])
    mk = marker(ctx, topic)
    got = receive(sub, until=until_payload(mk))
    old = [d for d in got if d["payload"] in (b"to-clear", b"")]
    ctx.check(not old and got, f"{len(old)} retained messages before the marker",
              "no retained message after clearing")


def retained_live_flag(ctx):
    topic = ctx.topic()
    sub = ctx.mqtt("sub")
    subscribe(sub, [(topic, 1)])
    pub = ctx.mqtt("pub")
    publish(pub, topic, b"live", qos=1, retain=True)
    got = receive(sub, count=1)
    publish(pub, topic, b"", qos=1, retain=True)
    if not got:
        ctx.fail("not delivered", "the message")
        return
    ctx.check(not got[0]["retain"], f"retain={got[0]['retain']}", "RETAIN 0 to an existing subscriber")


def keepalive(ctx):
    m = ctx.mqtt(keepalive=2)
    ska = props(m.connack).get("server_keep_alive") if ctx.version == 5 else None
    ka = ska if ska is not None else 2
    if ka == 0:
        ctx.skip("the server set Server Keep Alive 0")
    t0 = time.monotonic()
    e = m.recv(ka * 1.5 + 5)
    dt = time.monotonic() - t0
    if isinstance(e, dict) and e["type"] == "DISCONNECT":
        ctx.note(f"DISCONNECT reason 0x{e['code']:02x} before the close")
        e = Event("close")
    limit = ka * 1.5
    if not isinstance(e, Event) or e.kind == "timeout":
        ctx.fail(f"still open after {dt:.1f} s", f"closed after about {limit:.1f} s")
    elif dt < ka - 0.05:
        ctx.fail(f"closed after {dt:.2f} s, within the client's own Keep Alive", f"about {limit:.1f} s")
    elif dt > limit + 1.0:
        ctx.non_strict(f"closed after {dt:.2f} s, more than 1 s late", f"about {limit:.1f} s")
    else:
        ctx.passed(f"closed after {dt:.2f} s (keep alive {ka} s, limit {limit:.1f} s)")


def keepalive_ping(ctx):
    m = ctx.mqtt(keepalive=1)
    for _ in range(5):
        time.sleep(0.5)
        m.send(mqtt.pingreq())
        d = m.recv(1.5, skip=())
        if isinstance(d, Event) or d["type"] != "PINGRESP":
            ctx.fail(f"no PINGRESP: {d}", "PINGRESP each time, connection alive")
            return
    ctx.passed("five PINGREQs over 2.5 s answered with keep alive 1 s")


def suback_order(ctx):
    m = ctx.mqtt()
    d = subscribe(m, [(ctx.topic("a"), 0), (ctx.topic("b"), 1), (ctx.topic("c"), 2)], pid=42)
    ctx.check(d["codes"][:3] == [0, 1, 2] and len(d["codes"]) == 3, f"codes {d['codes']}", "granted 0, 1, 2 in order")


def unsubscribe(ctx):
    topic = ctx.topic()
    m = ctx.mqtt()
    subscribe(m, [(topic, 1)])
    m.send(mqtt.unsubscribe(77, [topic], ctx.version))
    d = m.expect("UNSUBACK")
    pub = ctx.mqtt("pub")
    publish(pub, topic, b"after-unsubscribe", qos=1)
    m.send(mqtt.pingreq())
    got = [x for x in m.collect(0.3) if isinstance(x, dict) and x["type"] == "PUBLISH"]
    ctx.check(d["packet_id"] == 77 and not got, f"UNSUBACK id {d['packet_id']}, {len(got)} messages after",
              "UNSUBACK id 77, no further messages")


def unsubscribe_nothing(ctx):
    m = ctx.mqtt()
    m.send(mqtt.unsubscribe(5, [ctx.topic("never")], ctx.version))
    d = m.expect("UNSUBACK")
    ctx.check(d["packet_id"] == 5, f"UNSUBACK id {d['packet_id']} codes {d.get('codes')}", "UNSUBACK id 5")


def qos_downgrade(ctx):
    topic = ctx.topic()
    sub = ctx.mqtt("sub")
    subscribe(sub, [(topic, 0)])
    pub = ctx.mqtt("pub")
    publish(pub, topic, b"down", qos=2)
    got = receive(sub, count=1)
    ctx.check(got and got[0]["qos"] == 0, f"delivered at QoS {got[0]['qos'] if got else None}", "QoS 0")


def wildcards(ctx):
    base = ctx.topic()
    sub = ctx.mqtt("sub")
    subscribe(sub, [(base + "/+/x", 1), (base + "/h/#", 1)])
    pub = ctx.mqtt("pub")
    for t in ("a/x", "a/y", "h", "h/1/2", "b/x/z", "a/b/x"):
        publish(pub, f"{base}/{t}", t.encode(), qos=1)
    mk = marker(ctx, base + "/m/x")
    got = receive(sub, until=until_payload(mk))
    pl = sorted(d["payload"].decode() for d in got if d["payload"] != mk)
    ctx.check(pl == ["a/x", "h", "h/1/2"], f"matched {pl}", "a/x, h, h/1/2")


def dollar_topics(ctx):
    sub = ctx.mqtt("sub")
    base = ctx.topic()
    subscribe(sub, [("+/" + "/".join(base.split("/")[1:]) + "/#", 1)])
    pub = ctx.mqtt("pub")
    try:
        pub.send(mqtt.publish("$" + base + "/x", b"dollar", 0, version=ctx.version))
    except OSError:
        pass
    mk = marker(ctx, base + "/m")
    got = receive(sub, until=until_payload(mk))
    ctx.check(not any(d["payload"] == b"dollar" for d in got) and got, f"{len(got)} messages, "
              f"dollar topic matched: {any(d['payload'] == b'dollar' for d in got)}",
              "a filter starting with '+' does not match a '$' topic")


def order(ctx):
    topic = ctx.topic()
    sub = ctx.mqtt("sub")
    subscribe(sub, [(topic, 1)])
    pub = ctx.mqtt("pub")
    for i in range(10):
        publish(pub, topic, str(i).encode(), qos=1, pid=i + 1)
    got = receive(sub, count=10)
    pl = [d["payload"].decode() for d in got]
    ctx.check(pl == [str(i) for i in range(10)], f"received {pl}", "0..9 in order")


def takeover(ctx):
    a = ctx.mqtt("same")
    b = ctx.mqtt("same")
    o = a.outcome()
    ctx.check(o.refused, f"first connection: {o.summary()}", "the first connection closed")
    b.disconnect()


def session_present_clean(ctx):
    m = ctx.mqtt("sp", clean=True)
    ctx.check(not m.connack["session_present"], f"Session Present {int(m.connack['session_present'])}",
              "Session Present 0 with a clean start")


def pingresp(ctx):
    m = ctx.mqtt()
    m.send(mqtt.pingreq())
    d = m.recv(skip=())
    ctx.check(isinstance(d, dict) and d["type"] == "PINGRESP", str(d if isinstance(d, Event) else d["type"]), "PINGRESP")


def first_packet_connack(ctx):
    c = ctx.ws()
    from ..net import MqttClient
    m = MqttClient(c, ctx.version)
    m.send(mqtt.connect(ctx.version, ctx.client_id()))
    d = m.recv(skip=())
    ctx.check(isinstance(d, dict) and d["type"] == "CONNACK", str(d if isinstance(d, Event) else d["type"]),
              "CONNACK first")


def register():
    both("mqtt.qos0-delivery", "A QoS 0 message is delivered", "mqtt",
         ["MQTT-4.3.1-1", "MQTT-3.3.1-2", "MQTT-4.5.0-1"], ["MQTT-4.3.1-1", "MQTT-3.3.1-2", "MQTT-4.5.0-1"],
         qos_delivery(0))
    both("mqtt.qos1-delivery", "A QoS 1 message is acknowledged with its id and delivered", "mqtt",
         ["MQTT-4.3.2-1", "MQTT-2.3.1-6", "MQTT-3.3.4-1"], ["MQTT-4.3.2-1", "MQTT-2.2.1-5", "MQTT-3.3.4-1"],
         qos_delivery(1))
    both("mqtt.qos2-delivery", "A QoS 2 flow PUBREC/PUBREL/PUBCOMP completes and delivers", "mqtt",
         ["MQTT-4.3.3-1", "MQTT-3.3.4-1"], ["MQTT-4.3.3-1", "MQTT-3.3.4-1"], qos_delivery(2), needs=("qos2",))
    both("mqtt.qos2-no-duplicate", "A QoS 2 PUBLISH re-sent before PUBREL is delivered once", "mqtt",
         ["MQTT-4.3.3-2", "MQTT-3.3.1-1"], ["MQTT-4.3.3-2", "MQTT-3.3.1-1"], qos2_no_duplicate, needs=("qos2",))
    both("mqtt.qos1-redelivery-after-reconnect", "An unacknowledged QoS 1 message is re-sent with DUP after reconnect",
         "mqtt", ["MQTT-4.4.0-1", "MQTT-3.3.1-1", "MQTT-4.3.2-2", "MQTT-3.1.2-4"],
         ["MQTT-4.4.0-1", "MQTT-3.3.1-1", "MQTT-4.3.2-2", "MQTT-3.1.2-5"], qos1_redelivery)
    both("mqtt.qos2-pubrel-after-reconnect", "After PUBREC, a reconnect gets PUBREL re-sent, not the PUBLISH", "mqtt",
         ["MQTT-4.4.0-1", "MQTT-4.3.3-3"], ["MQTT-4.4.0-1", "MQTT-4.3.3-3"], qos2_pubrel_redelivery, needs=("qos2",))
    both("mqtt.session-resume", "A resumed session receives the messages queued while away, in order", "mqtt",
         ["MQTT-3.1.2-4", "MQTT-3.1.2-5", "MQTT-3.2.2-2", "MQTT-4.6.0-6", "MQTT-4.1.0-1"],
         ["MQTT-3.1.2-5", "MQTT-3.1.2-23", "MQTT-3.2.2-3", "MQTT-4.6.0-6", "MQTT-4.1.0-1"], session_resume)
    both("mqtt.clean-start-discards", "A clean start discards the old session", "mqtt",
         ["MQTT-3.1.2-6", "MQTT-3.2.2-1"], ["MQTT-3.1.2-4", "MQTT-3.2.2-2"], clean_discards)
    both("mqtt.retained-delivered", "A retained message reaches a new subscriber with RETAIN 1", "mqtt",
         ["MQTT-3.3.1-5", "MQTT-3.3.1-6", "MQTT-3.3.1-8"], ["MQTT-3.3.1-5", "MQTT-3.3.1-9"], retained,
         needs=("retain",))
    both("mqtt.retained-cleared", "An empty retained PUBLISH clears the retained message", "mqtt",
         ["MQTT-3.3.1-10", "MQTT-3.3.1-11"], ["MQTT-3.3.1-6", "MQTT-3.3.1-7"], retained_clear, needs=("retain",))
    both("mqtt.retained-live-flag", "A retained PUBLISH forwarded to an existing subscriber has RETAIN 0", "mqtt",
         ["MQTT-3.3.1-9"], ["MQTT-3.3.1-12"], retained_live_flag, needs=("retain",))
    both("mqtt.keepalive-enforced", "Keep Alive 1 s: the server closes the silent connection after about 1.5 s",
         "mqtt", ["MQTT-3.1.2-24"], ["MQTT-3.1.2-22", "MQTT-3.1.2-21"], keepalive)
    both("mqtt.keepalive-pings", "PINGREQs keep a Keep Alive 1 s connection open", "mqtt",
         ["MQTT-3.1.2-23", "MQTT-3.12.4-1"], ["MQTT-3.12.4-1"], keepalive_ping)
    both("mqtt.suback-order", "SUBACK echoes the id and grants each filter in order", "mqtt",
         ["MQTT-3.8.4-1", "MQTT-3.8.4-2", "MQTT-3.8.4-5", "MQTT-3.9.3-1"],
         ["MQTT-3.8.4-1", "MQTT-3.8.4-2", "MQTT-3.9.3-1"], suback_order)
    both("mqtt.unsubscribe", "UNSUBACK echoes the id and the subscription ends", "mqtt",
         ["MQTT-3.10.4-1", "MQTT-3.10.4-4", "MQTT-3.10.4-5"], ["MQTT-3.10.4-1", "MQTT-3.10.4-4", "MQTT-3.10.4-5"],
         unsubscribe)
    both("mqtt.unsubscribe-unknown", "UNSUBSCRIBE of a filter never subscribed still gets UNSUBACK", "mqtt",
         ["MQTT-3.10.4-4"], ["MQTT-3.10.4-4"], unsubscribe_nothing)
    both("mqtt.qos-downgrade", "A QoS 2 message to a QoS 0 subscription is delivered at QoS 0", "mqtt",
         ["MQTT-3.3.4-2"], ["MQTT-3.3.4-2"], qos_downgrade, needs=("qos2",))
    both("mqtt.wildcards", "'+' and '#' filters match the right topics", "mqtt",
         ["MQTT-4.7.1-1", "MQTT-4.7.1-2", "MQTT-4.7.1-3", "MQTT-3.3.2-3"],
         ["MQTT-4.7.1-1", "MQTT-4.7.1-2", "MQTT-4.7.1-3", "MQTT-3.3.2-3"], wildcards, needs=("wildcards",))
    both("mqtt.dollar-topics", "A filter starting with '+' does not match a topic starting with '$'", "mqtt",
         ["MQTT-4.7.2-1"], ["MQTT-4.7.2-1"], dollar_topics, needs=("wildcards",))
    both("mqtt.order", "Ten QoS 1 messages arrive in publish order", "mqtt", ["MQTT-4.6.0-6"], ["MQTT-4.6.0-6"], order)
    both("mqtt.client-takeover", "A second connection with the same ClientId closes the first", "mqtt",
         ["MQTT-3.1.4-2"], ["MQTT-3.1.4-2"], takeover)
    both("mqtt.session-present-clean", "Clean start gets Session Present 0", "mqtt",
         ["MQTT-3.2.2-1"], ["MQTT-3.2.2-2"], session_present_clean)
    both("mqtt.pingresp", "PINGREQ is answered with PINGRESP", "mqtt", ["MQTT-3.12.4-1"], ["MQTT-3.12.4-1"], pingresp)
    both("mqtt.connack-first", "The server's first packet is CONNACK", "mqtt",
         ["MQTT-3.2.0-1"], ["MQTT-3.2.0-1"], first_packet_connack)
