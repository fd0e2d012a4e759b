"""Hand-written cases: MQTT 5.0 features over WebSocket."""
import time

from .. import mqtt
from .util import add, marker, prop_all, props, publish, receive, subscribe, until_payload


def case5(id, title, refs, needs=()):
    def wrap(fn):
        add(id, title, "mqtt", refs, fn, mqtt=5, needs=tuple(needs))
        return fn
    return wrap


def register():
    pass  # the decorators below register at import time


@case5("mqtt5.session-expiry-resume", "Session Expiry 300: the session survives the connection",
       ["MQTT-3.1.2-23", "MQTT-3.2.2-3", "MQTT-3.1.2-5"])
def session_expiry_resume(ctx):
    topic = ctx.topic()
    s = ctx.mqtt("sub", clean=True, props=[("session_expiry", 300)])
    subscribe(s, [(topic, 1)])
    s.disconnect()
    s.outcome(probe=False, timeout=2)
    p = ctx.mqtt("pub")
    publish(p, topic, b"while-away", qos=1)
    s2 = ctx.mqtt("sub", clean=False, props=[("session_expiry", 0)])
    got = receive(s2, count=1)
    ctx.check(s2.connack["session_present"] and got and got[0]["payload"] == b"while-away",
              f"Session Present {int(s2.connack['session_present'])}, {len(got)} messages",
              "Session Present 1 and the queued message")


@case5("mqtt5.session-expiry-zero", "Session Expiry 0 (absent): the session ends with the connection",
       ["MQTT-3.1.2-23", "MQTT-3.1.2-6"])
def session_expiry_zero(ctx):
    s = ctx.mqtt("sub", clean=True)
    subscribe(s, [(ctx.topic(), 1)])
    s.disconnect()
    s.outcome(probe=False, timeout=2)
    s2 = ctx.mqtt("sub", clean=False)
    ctx.check(not s2.connack["session_present"], f"Session Present {int(s2.connack['session_present'])}",
              "Session Present 0: nothing was kept")


@case5("mqtt5.session-expiry-elapsed", "Session Expiry 1 s: the session is gone after 2 s",
       ["MQTT-3.1.2-23", "MQTT-4.1.0-1"])
def session_expiry_elapsed(ctx):
    s = ctx.mqtt("sub", clean=True, props=[("session_expiry", 1)])
    subscribe(s, [(ctx.topic(), 1)])
    s.disconnect()
    s.outcome(probe=False, timeout=2)
    time.sleep(2.2)
    s2 = ctx.mqtt("sub", clean=False)
    ctx.check(not s2.connack["session_present"], f"Session Present {int(s2.connack['session_present'])} after 2.2 s",
              "Session Present 0")


def alias_max(ctx, m):
    mx = props(m.connack).get("topic_alias_maximum", 0)
    if mx < 1:
        ctx.skip("the target's Topic Alias Maximum is 0")
    return mx


@case5("mqtt5.topic-alias", "A Topic Alias set by the client names the topic in later PUBLISHes",
       ["MQTT-3.3.2-12", "MQTT-3.3.2-9"], needs=("topic_alias",))
def topic_alias(ctx):
    topic = ctx.topic()
    sub = ctx.mqtt("sub")
    subscribe(sub, [(topic, 1)])
    p = ctx.mqtt("pub")
    alias_max(ctx, p)
    publish(p, topic, b"first", qos=1, props=[("topic_alias", 1)])
    publish(p, "", b"second", qos=1, pid=2, props=[("topic_alias", 1)])
    got = receive(sub, count=2)
    ok = [(d["topic"], d["payload"]) for d in got] == [(topic, b"first"), (topic, b"second")]
    ctx.check(ok, f"received {[(d['topic'][-12:], d['payload']) for d in got]}", "both on the full topic")


@case5("mqtt5.topic-alias-zero", "Topic Alias 0 is a protocol error", ["MQTT-3.3.2-8"], needs=("topic_alias",))
def topic_alias_zero(ctx):
    p = ctx.mqtt()
    p.send(mqtt.publish(ctx.topic(), b"x", version=5, props=[("topic_alias", 0)]))
    o = p.outcome()
    ctx.check(o.refused, o.summary(), "the connection closed (DISCONNECT 0x94)")


@case5("mqtt5.topic-alias-over-maximum", "A Topic Alias above the server's maximum is a protocol error",
       ["MQTT-3.3.2-9", "MQTT-3.3.2-10"])
def topic_alias_over(ctx):
    p = ctx.mqtt()
    mx = props(p.connack).get("topic_alias_maximum", 0)
    p.send(mqtt.publish(ctx.topic(), b"x", version=5, props=[("topic_alias", mx + 1)]))
    o = p.outcome()
    ctx.check(o.refused, f"alias {mx + 1} (maximum {mx}): {o.summary()}", "the connection closed (DISCONNECT 0x94)")


@case5("mqtt5.topic-alias-per-connection", "Topic aliases do not carry over to a new connection",
       ["MQTT-3.3.2-7"], needs=("topic_alias",))
def topic_alias_per_connection(ctx):
    a = ctx.mqtt("a")
    alias_max(ctx, a)
    publish(a, ctx.topic(), b"x", qos=1, props=[("topic_alias", 1)])
    b = ctx.mqtt("b")
    b.send(mqtt.publish("", b"y", version=5, props=[("topic_alias", 1)]), "empty topic with an alias never set here")
    o = b.outcome()
    ctx.check(o.refused, o.summary(), "the connection closed (alias unknown on this connection)")


@case5("mqtt5.no-server-alias-without-maximum", "Without a client Topic Alias Maximum the server sends no alias",
       ["MQTT-3.1.2-27", "MQTT-3.1.2-26"])
def no_server_alias(ctx):
    topic = ctx.topic()
    sub = ctx.mqtt("sub")
    subscribe(sub, [(topic, 0)])
    p = ctx.mqtt("pub")
    for i in range(3):
        publish(p, topic, b"a", qos=0)
    got = receive(sub, count=3)
    aliased = [d for d in got if props(d).get("topic_alias") is not None]
    ctx.check(len(got) == 3 and not aliased, f"{len(got)} messages, {len(aliased)} with a Topic Alias",
              "three messages, none with a Topic Alias")


@case5("mqtt5.maximum-packet-size", "A message above the client's Maximum Packet Size is not sent to it",
       ["MQTT-3.1.2-24", "MQTT-3.1.2-25"])
def max_packet_size(ctx):
    topic = ctx.topic()
    sub = ctx.mqtt("sub", props=[("maximum_packet_size", 200)])
    subscribe(sub, [(topic, 1)])
    p = ctx.mqtt("pub")
    publish(p, topic, b"L" * 500, qos=1)
    mk = marker(ctx, topic)
    big = []
    deadline = time.monotonic() + ctx.target.timeout
    seen_marker = False
    while time.monotonic() < deadline and not seen_marker:
        e = sub.ws.next_event(deadline - time.monotonic())
        if e.kind != "packet":
            break
        if len(e.data) > 200:
            big.append(len(e.data))
            continue
        d = mqtt.decode(e.data, 5)
        if d["type"] == "PUBLISH":
            if d["qos"]:
                sub.send(mqtt.ack(mqtt.PUBACK, d["packet_id"], 5))
            seen_marker = d["payload"] == mk
    ctx.check(not big and seen_marker, f"{len(big)} packets over 200 bytes; marker {'seen' if seen_marker else 'missing'}",
              "no packet above 200 bytes; later small messages still delivered")


@case5("mqtt5.receive-maximum", "The server keeps at most Receive Maximum QoS 1 messages unacknowledged",
       ["MQTT-3.3.4-7", "MQTT-3.3.4-8"])
def receive_maximum(ctx):
    topic = ctx.topic()
    sub = ctx.mqtt("sub", props=[("receive_maximum", 2)])
    subscribe(sub, [(topic, 1)])
    p = ctx.mqtt("pub")
    for i in range(5):
        publish(p, topic, str(i).encode(), qos=1, pid=i + 1)
    first = receive(sub, auto_ack=False, count=2)
    extra = receive(sub, auto_ack=False, count=1, timeout=0.5)
    if extra:
        ctx.fail(f"{len(first) + len(extra)} unacknowledged messages in flight", "at most 2")
        return
    for d in first:
        sub.send(mqtt.ack(mqtt.PUBACK, d["packet_id"], 5))
    rest = receive(sub, count=5 - len(first))
    pl = [d["payload"] for d in first + rest]
    ctx.check(len(first) == 2 and pl == [str(i).encode() for i in range(5)],
              f"{len(first)} before acking, then {len(rest)}; order {pl}", "2, then the other 3 after PUBACKs")


@case5("mqtt5.subscription-identifier", "A message carries the Subscription Identifier of its subscription",
       ["MQTT-3.3.4-3"], needs=("subscription_ids",))
def subscription_identifier(ctx):
    topic = ctx.topic()
    sub = ctx.mqtt("sub")
    subscribe(sub, [(topic, 1)], props=[("subscription_id", 42)])
    p = ctx.mqtt("pub")
    publish(p, topic, b"id", qos=1)
    got = receive(sub, count=1)
    ids = prop_all(got[0], "subscription_id") if got else None
    ctx.check(ids == [42], f"Subscription Identifiers {ids}", "[42]")


@case5("mqtt5.subscription-identifiers-overlap", "Overlapping subscriptions deliver both identifiers",
       ["MQTT-3.3.4-3", "MQTT-3.3.4-4"], needs=("subscription_ids", "wildcards"))
def subscription_identifiers_overlap(ctx):
    topic = ctx.topic("x")
    sub = ctx.mqtt("sub")
    subscribe(sub, [(topic, 1)], pid=1, props=[("subscription_id", 1)])
    subscribe(sub, [(ctx.topic("+"), 1)], pid=2, props=[("subscription_id", 2)])
    p = ctx.mqtt("pub")
    publish(p, topic, b"both", qos=1)
    mk = marker(ctx, topic)
    got = receive(sub, until=until_payload(mk))
    ids = sorted(i for d in got if d["payload"] == b"both" for i in prop_all(d, "subscription_id"))
    ctx.check(ids == [1, 2], f"identifiers {ids}", "1 and 2 (in one PUBLISH or one each)")


@case5("mqtt5.no-local", "No Local: the server does not send a client its own messages", ["MQTT-3.8.3-3"])
def no_local(ctx):
    topic = ctx.topic()
    m = ctx.mqtt()
    subscribe(m, [(topic, 1 | 4)])
    publish(m, topic, b"mine", qos=1)
    mk = marker(ctx, topic)
    got = receive(m, until=until_payload(mk))
    own = [d for d in got if d["payload"] == b"mine"]
    ctx.check(not own and any(d["payload"] == mk for d in got), f"{len(own)} own messages echoed",
              "none of its own; the marker from another client arrives")


def retain_handling(rh):
    def run(ctx):
        topic = ctx.topic()
        p = ctx.mqtt("pub")
        publish(p, topic, b"ret", qos=1, retain=True)
        s = ctx.mqtt("sub")
        subscribe(s, [(topic, 1 | (rh << 4))], pid=1)
        subscribe(s, [(topic, 1 | (rh << 4))], pid=2)  # the same subscription again
        mk = marker(ctx, topic)
        got = receive(s, until=until_payload(mk))
        n = sum(1 for d in got if d["payload"] == b"ret")
        publish(p, topic, b"", qos=1, retain=True)
        want = {0: (2,), 1: (1,), 2: (0,)}[rh]
        ctx.check(n in want, f"{n} retained copies for two SUBSCRIBEs", f"{want[0]} copies")
    return run


def retain_as_published(rap):
    def run(ctx):
        topic = ctx.topic()
        s = ctx.mqtt("sub")
        subscribe(s, [(topic, 1 | (rap << 3))])
        p = ctx.mqtt("pub")
        publish(p, topic, b"rap", qos=1, retain=True)
        got = receive(s, count=1)
        publish(p, topic, b"", qos=1, retain=True)
        flag = got[0]["retain"] if got else None
        ctx.check(flag == bool(rap), f"RETAIN {flag}", f"RETAIN {rap}")
    return run


@case5("mqtt5.pubrel-unknown-id", "PUBREL for an unknown id gets PUBCOMP (reason 0x92)",
       ["MQTT-4.3.3-1", "MQTT-3.7.2-1"])
def pubrel_unknown(ctx):
    m = ctx.mqtt()
    m.send(mqtt.ack(mqtt.PUBREL, 999, 5))
    d = m.expect("PUBCOMP")
    if d["packet_id"] != 999:
        ctx.fail(f"PUBCOMP id {d['packet_id']}", "PUBCOMP id 999")
    elif d["code"] != 0x92:
        ctx.non_strict(f"PUBCOMP reason 0x{d['code']:02x}", "reason 0x92 (Packet Identifier not found)")
    else:
        ctx.passed("PUBCOMP 999 reason 0x92")


@case5("mqtt5.suback-reason-codes", "SUBACK reason codes: granted QoS per filter, 0x80+ for refused ones",
       ["MQTT-3.8.4-1", "MQTT-3.9.3-1", "MQTT-2.4"])
def suback_reasons(ctx):
    m = ctx.mqtt()
    d = subscribe(m, [(ctx.topic("a"), 1), (ctx.topic("b"), 2)])
    ok = len(d["codes"]) == 2 and d["codes"][0] in (0, 1, 0x80, 0x87, 0x97) and all(
        c in (0, 1, 2) or c >= 0x80 for c in d["codes"])
    ctx.check(ok, f"codes {[hex(c) for c in d['codes']]}", "one code per filter, granted QoS or >= 0x80")


@case5("mqtt5.unsuback-reason-codes", "UNSUBACK reason codes: 0x00 for a subscription, 0x11 for none",
       ["MQTT-3.10.4-4", "MQTT-3.10.4-5", "MQTT-2.4"])
def unsuback_reasons(ctx):
    m = ctx.mqtt()
    subscribe(m, [(ctx.topic("a"), 1)])
    m.send(mqtt.unsubscribe(3, [ctx.topic("a"), ctx.topic("none")], 5))
    d = m.expect("UNSUBACK")
    if len(d["codes"]) != 2 or d["codes"][0] != 0:
        ctx.fail(f"codes {d['codes']}", "[0x00, 0x11]")
    elif d["codes"][1] != 0x11:
        ctx.non_strict(f"codes {[hex(c) for c in d['codes']]}", "0x11 (No subscription existed) for the second")
    else:
        ctx.passed("codes [0x00, 0x11]")


@case5("mqtt5.assigned-client-id", "An empty ClientId gets an Assigned Client Identifier",
       ["MQTT-3.2.2-16", "MQTT-3.1.3-6"])
def assigned_client_id(ctx):
    from ..net import MqttClient
    c = ctx.ws()
    m = MqttClient(c, 5)
    m.send(mqtt.connect(5, "", True, 60, username=ctx.target.username, password=ctx.target.password),
           secret=ctx.target.password is not None)
    d = m.expect("CONNACK")
    if d["code"] != 0:
        ctx.info(f"CONNACK 0x{d['code']:02x}: an empty ClientId is refused", "(a server may refuse it)")
        return
    cid = props(d).get("assigned_client_id")
    ctx.check(bool(cid), f"Assigned Client Identifier {cid!r}", "a non-empty assigned identifier")


@case5("mqtt5.properties-forwarded", "Payload Format, Content Type, Response Topic, Correlation Data and User "
       "Properties reach the subscriber", ["MQTT-3.3.2-4", "MQTT-3.3.2-20", "MQTT-3.3.2-15", "MQTT-3.3.2-16",
                                           "MQTT-3.3.2-17", "MQTT-3.3.2-18"])
def properties_forwarded(ctx):
    topic = ctx.topic()
    s = ctx.mqtt("sub")
    subscribe(s, [(topic, 1)])
    p = ctx.mqtt("pub")
    sent = [("payload_format", 1), ("content_type", "text/plain"), ("response_topic", topic + "/r"),
            ("correlation_data", b"\x01\x02"), ("user_property", ("k1", "v1")), ("user_property", ("k2", "v2"))]
    publish(p, topic, b"props", qos=1, props=sent)
    got = receive(s, count=1)
    if not got:
        ctx.fail("not delivered", "the message with its properties")
        return
    rec = [x for x in got[0]["props"] if x[0] not in ("subscription_id", "topic_alias", "message_expiry")]
    missing = [x for x in sent if x not in rec]
    order = [x for x in rec if x[0] == "user_property"] == [x for x in sent if x[0] == "user_property"]
    ctx.check(not missing and order, f"missing {missing}; user property order kept: {order}",
              "all properties unchanged, user properties in order")


@case5("mqtt5.message-expiry", "An expired queued message is not delivered", ["MQTT-3.3.2-5"])
def message_expiry(ctx):
    topic = ctx.topic()
    s = ctx.mqtt("sub", props=[("session_expiry", 60)])
    subscribe(s, [(topic, 1)])
    s.disconnect()
    s.outcome(probe=False, timeout=2)
    p = ctx.mqtt("pub")
    publish(p, topic, b"short-lived", qos=1, props=[("message_expiry", 1)])
    publish(p, topic, b"long-lived", qos=1, pid=2, props=[("message_expiry", 60)])
    time.sleep(2.1)
    s2 = ctx.mqtt("sub", clean=False, props=[("session_expiry", 0)])
    got = receive(s2, until=until_payload(b"long-lived"))
    pl = [d["payload"] for d in got]
    left = [props(d).get("message_expiry") for d in got if d["payload"] == b"long-lived"]
    ctx.check(pl == [b"long-lived"] and left and left[0] <= 60, f"delivered {pl}, expiry left {left}",
              "only the unexpired message, its expiry reduced")


@case5("mqtt5.will-retained", "Will Retain 1: the will is published as retained", ["MQTT-3.1.2-15", "MQTT-3.1.2-8"],
       needs=("retain",))
def will_retained(ctx):
    wt = ctx.topic("will")
    w = ctx.mqtt("w", will={"topic": wt, "payload": b"bye", "qos": 1, "retain": True})
    w.ws.close()
    time.sleep(0.3)
    deadline = time.monotonic() + ctx.target.timeout
    got = []
    while time.monotonic() < deadline and not got:
        s = ctx.mqtt("sub")
        subscribe(s, [(wt, 1)])
        got = [d for d in receive(s, count=1, timeout=0.5) if d["payload"] == b"bye"]
        s.disconnect()
    pc = ctx.mqtt("pub")
    publish(pc, wt, b"", qos=1, retain=True)
    ctx.check(got and got[0]["retain"], f"{len(got)} retained will", "the will retained")


@case5("mqtt5.packet-too-large", "A packet above the server's Maximum Packet Size is refused (DISCONNECT 0x95)",
       ["MQTT-3.2.2-15", "MQTT-4.13.2-1"])
def packet_too_large(ctx):
    from .. import ws as wsmod
    m = ctx.mqtt()
    mx = props(m.connack).get("maximum_packet_size")
    if not mx:
        ctx.skip("the target announces no Maximum Packet Size")
    if mx > 16 << 20:
        ctx.skip(f"the target's Maximum Packet Size ({mx}) is too large to test here")
    topic = ctx.topic()
    n = mx + 1 - len(mqtt.publish(topic, b"", 0, version=5))
    pkt = mqtt.publish(topic, b"x" * n, 0, version=5)
    while len(pkt) != mx + 1:  # a longer Remaining Length field takes bytes from the payload
        n -= len(pkt) - (mx + 1)
        pkt = mqtt.publish(topic, b"x" * n, 0, version=5)
    step = 65536
    for i in range(0, len(pkt), step):
        m.ws.send_frame(wsmod.OP_BINARY if i == 0 else wsmod.OP_CONT, pkt[i:i + step],
                        f"PUBLISH of {len(pkt)} bytes (maximum {mx})" if i == 0 else "", fin=i + step >= len(pkt))
    o = m.outcome()
    if not o.refused:
        ctx.fail(f"{len(pkt)}-byte packet: {o.summary()}", "the connection closed, DISCONNECT 0x95 first")
    elif o.disconnect is not None and o.disconnect != 0x95:
        ctx.non_strict(f"DISCONNECT 0x{o.disconnect:02x}", "DISCONNECT 0x95 (Packet too large)")
    else:
        ctx.passed(f"{len(pkt)}-byte packet refused: {o.summary()}")


@case5("mqtt5.will-delay-reconnect", "A reconnect within the Will Delay Interval cancels the will",
       ["MQTT-3.1.3-9", "MQTT-3.1.2-8"])
def will_delay_reconnect(ctx):
    wt = ctx.topic("will")
    sub = ctx.mqtt("sub")
    subscribe(sub, [(wt, 1)])
    w = ctx.mqtt("w", clean=True, props=[("session_expiry", 30)],
                 will={"topic": wt, "payload": b"late", "qos": 1, "props": [("will_delay", 2)]})
    w.ws.tr.note("closing TCP without DISCONNECT; reconnecting within the 2 s Will Delay Interval")
    w.ws.close()
    time.sleep(0.3)
    w2 = ctx.mqtt("w", clean=False, props=[("session_expiry", 0)])
    time.sleep(2.2)
    mk = marker(ctx, wt)
    got = receive(sub, until=until_payload(mk))
    w2.disconnect()
    wills = [d for d in got if d["payload"] == b"late"]
    ctx.check(not wills and any(d["payload"] == mk for d in got), f"{len(wills)} will messages before the marker",
              "no will: the session was resumed within the delay")


@case5("mqtt5.will-delay-elapsed", "Without a reconnect the will comes after its Will Delay Interval, not before",
       ["MQTT-3.1.3-9", "MQTT-3.1.2-8"])
def will_delay_elapsed(ctx):
    wt = ctx.topic("will")
    sub = ctx.mqtt("sub")
    subscribe(sub, [(wt, 1)])
    w = ctx.mqtt("w", clean=True, props=[("session_expiry", 30)],
                 will={"topic": wt, "payload": b"late", "qos": 1, "props": [("will_delay", 1)]})
    t0 = time.monotonic()
    w.ws.close()
    got = receive(sub, count=1, timeout=ctx.target.timeout + 2)
    dt = time.monotonic() - t0
    if not got:
        ctx.fail("no will", "the will after about 1 s")
    else:
        ctx.check(dt >= 0.9, f"will after {dt:.2f} s", "the will not before its 1 s delay")
    c = ctx.mqtt("w", clean=True)
    c.disconnect()


def register_more():
    for rh, refs in ((0, ["MQTT-3.3.1-9"]), (1, ["MQTT-3.3.1-10"]), (2, ["MQTT-3.3.1-11"])):
        add(f"mqtt5.retain-handling-{rh}", f"Retain Handling {rh} on two identical SUBSCRIBEs", "mqtt", refs,
            retain_handling(rh), mqtt=5, needs=("retain",))
    for rap, refs in ((0, ["MQTT-3.3.1-12"]), (1, ["MQTT-3.3.1-13"])):
        add(f"mqtt5.retain-as-published-{rap}", f"Retain As Published {rap}: the forwarded RETAIN flag", "mqtt",
            refs, retain_as_published(rap), mqtt=5, needs=("retain",))


register_more()
