"""Hand-written cases: opening handshake, subprotocol selection, binary-only."""
import time

from .. import mqtt, ws
from ..net import MqttClient
from .util import add
from .vectors import judge_101, judge_selection


def request(ctx, c, **kw):
    raw, key = ws.build_request(ctx.target.host_header, ctx.target.path, **kw)
    c.send_raw(raw, "Upgrade request")
    return key


def still_serving(ctx):
    """True when a fresh, valid connection still gets 101 and CONNACK."""
    try:
        m = ctx.mqtt("alive", version=4)
        m.disconnect()
        return True
    except Exception as e:  # noqa: BLE001 - any failure means the target stopped serving
        ctx.note(f"a fresh connection failed: {e}")
        return False


# ---------------------------------------------------------------- handshake

def accept_keys(ctx):
    for i in range(5):
        c = ctx.raw_ws()
        key = ws.new_key() if i else "dGhlIHNhbXBsZSBub25jZQ=="
        request(ctx, c, key=key)
        r = c.read_response()
        if r is None or r.status != 101:
            ctx.fail(f"key {key}: {'no response' if r is None else r.status}", "101 for every key")
            return
        if not judge_101(ctx, r, key):
            return
        c.close()
    ctx.passed("five keys, five correct Sec-WebSocket-Accept values")


def split_writes(ctx):
    c = ctx.raw_ws()
    raw, key = ws.build_request(ctx.target.host_header, ctx.target.path)
    for i in range(0, len(raw), 7):
        c.send_raw(raw[i:i + 7], "" if i else "Upgrade request in 7-byte writes")
        time.sleep(0.002)
    r = c.read_response()
    if r is None or r.status != 101:
        ctx.fail(f"{'no response' if r is None else r.status}", "101 after the request arrived in pieces")
        return
    if judge_101(ctx, r, key):
        m = MqttClient(c, 4)
        m.connect(ctx.client_id())
        ctx.passed("101 and CONNACK after a request in 7-byte writes")


def version_426(ctx):
    c = ctx.raw_ws()
    request(ctx, c, version="8")
    r = c.read_response()
    if r is None:
        ctx.fail("no HTTP response", "426 with Sec-WebSocket-Version: 13")
    elif r.status == 101:
        ctx.fail("upgraded with version 8", "426 with Sec-WebSocket-Version: 13")
    elif "13" not in r.tokens("Sec-WebSocket-Version"):
        ctx.fail(f"HTTP {r.status} without Sec-WebSocket-Version 13", "the supported version listed")
    elif r.status != 426:
        ctx.non_strict(f"HTTP {r.status} listing version 13", "426 Upgrade Required")
    else:
        ctx.passed("426 with Sec-WebSocket-Version: 13")


def oversized_headers(ctx):
    c = ctx.raw_ws()
    request(ctx, c, extra=[("X-Padding", "a" * 16384)])
    r = c.read_response()
    seen = "no response" if r is None else f"HTTP {r.status}"
    c.close()
    if not still_serving(ctx):
        ctx.fail(f"{seen}; afterwards the target no longer served connections", "the target keeps serving")
    elif r is not None and r.status == 101:
        ctx.info("a 16 KiB header field was accepted", "431/400, or acceptance (no rule fixes a limit)")
    else:
        ctx.passed(f"{seen} to a 16 KiB header field; the target still serves")


def other_path(ctx):
    c = ctx.raw_ws()
    raw, key = ws.build_request(ctx.target.host_header, "/mqws-check-no-such-path")
    c.send_raw(raw, "Upgrade request for another path")
    r = c.read_response()
    ctx.info("no response" if r is None else f"HTTP {r.status}", "recorded: which paths the target serves")


def origin(ctx):
    c = ctx.raw_ws()
    request(ctx, c, extra=[("Origin", "http://mqws-check.invalid")])
    r = c.read_response()
    ctx.info("no response" if r is None else f"HTTP {r.status} to a foreign Origin",
             "recorded: a server may refuse origins it does not trust (403)")


def head_method(ctx):
    c = ctx.raw_ws()
    request(ctx, c, method="PUT")
    r = c.read_response()
    ctx.check(r is None or r.status != 101, "no response" if r is None else f"HTTP {r.status}",
              "a refusal of a PUT Upgrade request")


def unknown_extension(ctx):
    c = ctx.raw_ws()
    request(ctx, c, extra=[("Sec-WebSocket-Extensions", "x-mqws-unknown; level=1")])
    r = c.read_response()
    if r is None or r.status != 101:
        ctx.fail("no upgrade" if r is None else f"HTTP {r.status}", "101 (an unknown extension offer is ignored)")
        return
    ext = r.get("Sec-WebSocket-Extensions") or ""
    ctx.check("x-mqws-unknown" not in ext, f"Sec-WebSocket-Extensions: {ext!r}",
              "no extension the server does not implement")


def response_headers(ctx):
    c = ctx.raw_ws()
    key = request(ctx, c)
    r = c.read_response()
    if r is None or r.status != 101:
        ctx.fail("no upgrade", "101")
        return
    if judge_101(ctx, r, key):
        ctx.passed("Upgrade: websocket, Connection: Upgrade and the accept value present")


# ---------------------------------------------------------------- subprotocol

def make_sub(offer_fields, mqtt_offered):
    """offer_fields: the Sec-WebSocket-Protocol field values (None: no field)."""
    def run(ctx):
        c = ctx.raw_ws()
        request(ctx, c, protocol_headers=offer_fields, protocols=None)
        r = c.read_response()
        offered = [t.strip() for v in (offer_fields or []) for t in v.split(",") if t.strip()]
        if r is None:
            if mqtt_offered:
                ctx.fail("no HTTP response", "101 with 'mqtt'")
            else:
                ctx.non_strict("refused without an HTTP response", "an HTTP error response, or an upgrade")
            return
        if r.status != 101:
            if mqtt_offered:
                ctx.fail(f"HTTP {r.status}: a client offering 'mqtt' was refused", "101 with 'mqtt'")
            else:
                ctx.passed(f"refused with HTTP {r.status} ('mqtt' not offered)")
            return
        judge_selection(ctx, r, offered)
    return run


SUBPROTOCOL_CASES = [
    ("subprotocol.mqtt", "'mqtt' offered alone", ["mqtt"], True),
    ("subprotocol.mqtt-then-legacy", "'mqtt, mqttv3.1' offered", ["mqtt, mqttv3.1"], True),
    ("subprotocol.legacy-then-mqtt", "'mqttv3.1, mqtt' offered: 'mqtt' still selected", ["mqttv3.1, mqtt"], True),
    ("subprotocol.legacy-only", "'mqttv3.1' alone", ["mqttv3.1"], False),
    ("subprotocol.none", "no Sec-WebSocket-Protocol field", None, False),
    ("subprotocol.unknown-only", "only 'chat' offered", ["chat"], False),
    ("subprotocol.two-fields", "'chat' and 'mqtt' in two fields", ["chat", "mqtt"], True),
    ("subprotocol.odd-whitespace", "' chat ,\tmqtt ' with odd whitespace", [" chat ,\tmqtt "], True),
    ("subprotocol.upper-case", "'MQTT' (case differs)", ["MQTT"], False),
    ("subprotocol.mixed-case-and-mqtt", "'Mqtt, mqtt': the exact 'mqtt' selected", ["Mqtt, mqtt"], True),
    ("subprotocol.three-values", "'chat, superchat, mqtt'", ["chat, superchat, mqtt"], True),
]


# ---------------------------------------------------------------- binary only

def refused_after(ctx, m, what):
    o = m.outcome()
    ctx.tr.note("outcome: " + o.summary())
    ctx.judge_close(1003, o)
    ctx.check(o.refused, f"{what}: {o.summary()}", "the connection closed (MQTT-6.0.0-1)")


def connect_in_text(ctx):
    c = ctx.ws()
    m = MqttClient(c, 4)
    c.send_frame(ws.OP_TEXT, mqtt.connect(4, ctx.client_id()), "CONNECT in a text frame (valid UTF-8)")
    refused_after(ctx, m, "CONNECT in a text frame")


def connect_in_text_bad_utf8(ctx):
    c = ctx.ws()
    m = MqttClient(c, 4)
    pkt = mqtt.connect(4, ctx.client_id(), username="u", password=b"\xff\xfe")
    c.send_frame(ws.OP_TEXT, pkt, "CONNECT in a text frame (not UTF-8)")
    refused_after(ctx, m, "CONNECT in a text frame with invalid UTF-8")


def text_after_connack(ctx):
    m = ctx.mqtt(version=4)
    m.ws.send_frame(ws.OP_TEXT, mqtt.pingreq(), "PINGREQ in a text frame")
    refused_after(ctx, m, "a text frame after CONNACK")


def fragmented_text(ctx):
    m = ctx.mqtt(version=4)
    m.ws.send_frame(ws.OP_TEXT, b"\xc0", "text frame fin=0", fin=False)
    m.ws.send_frame(ws.OP_CONT, b"\x00", "continuation fin=1")
    refused_after(ctx, m, "a fragmented text message")


def server_binary_only(ctx):
    sub = ctx.mqtt("sub", version=4)
    from .util import publish, receive, subscribe
    subscribe(sub, [(ctx.topic("#"), 1)])
    pub = ctx.mqtt("pub", version=4)
    for i, q in enumerate((0, 1, 2)):
        publish(pub, ctx.topic(f"t{q}"), f"text-like payload {i}".encode(), qos=q, pid=i + 1)
    got = receive(sub, count=3)
    sub.send(mqtt.pingreq())
    sub.expect("PINGRESP")
    frames = [f for c in ctx.clients for f in c.server_frames]
    text = sum(1 for f in frames if f.opcode == ws.OP_TEXT)
    ok = len(got) == 3 and text == 0
    ctx.check(ok, f"{len(frames)} server frames, {text} text; {len(got)} of 3 messages",
              "every MQTT packet in binary frames, no text frame")


def register():
    add("handshake.accept-several-keys", "Sec-WebSocket-Accept is right for the RFC key and four random keys",
        "handshake", ["RFC6455-4.2.2", "RFC6455-1.2"], accept_keys)
    add("handshake.response-fields", "The 101 response has Upgrade, Connection and Sec-WebSocket-Accept",
        "handshake", ["RFC6455-4.2.2"], response_headers)
    add("handshake.split-writes", "A request arriving in 7-byte TCP writes is upgraded", "handshake",
        ["RFC6455-4.2.1", "RFC7230-3"], split_writes)
    add("handshake.version-8-426", "Version 8 is answered with 426 and Sec-WebSocket-Version: 13", "handshake",
        ["RFC6455-4.4", "RFC6455-4.2.2"], version_426)
    add("handshake.non-get", "A PUT Upgrade request is refused", "handshake", ["RFC6455-4.2.1"], head_method)
    add("handshake.oversized-headers", "A 16 KiB header field is refused or accepted, and the target keeps serving",
        "handshake", ["RFC6585-5", "RFC6455-4.2.1"], oversized_headers)
    add("handshake.other-path", "An Upgrade for an unknown path (recorded)", "handshake", ["RFC6455-3"], other_path)
    add("handshake.origin", "An Upgrade with a foreign Origin (recorded)", "handshake", ["RFC6455-10.2"], origin)
    add("handshake.unknown-extension", "An unknown extension offer is not selected", "handshake",
        ["RFC6455-9.1", "RFC6455-4.2.2"], unknown_extension)
    for cid, title, fields, offered in SUBPROTOCOL_CASES:
        add(cid, title, "subprotocol", ["MQTT-6.0.0-4", "RFC6455-4.2.2"] + (["MQTT-6.0.0-3"] if offered else []),
            make_sub(fields, offered),
            expectation="exactly one offered value selected, 'mqtt' where offered; never a list or an unoffered token"
            + ("" if offered else "; refusing a client that does not offer 'mqtt' is the strict reading"))
    add("binary.connect-in-text-frame", "CONNECT in a text frame (valid UTF-8) closes the connection", "binary",
        ["MQTT-6.0.0-1"], connect_in_text)
    add("binary.connect-in-text-frame-bad-utf8", "CONNECT in a text frame that is not UTF-8 closes the connection",
        "binary", ["MQTT-6.0.0-1", "RFC6455-5.6"], connect_in_text_bad_utf8)
    add("binary.text-after-connack", "A text frame after CONNACK closes the connection", "binary",
        ["MQTT-6.0.0-1"], text_after_connack)
    add("binary.fragmented-text", "A fragmented text message after CONNACK closes the connection", "binary",
        ["MQTT-6.0.0-1", "RFC6455-5.4"], fragmented_text)
    add("binary.server-sends-binary", "The server sends MQTT packets in binary frames only", "binary",
        ["MQTT-6.0.0-1"], server_binary_only)
