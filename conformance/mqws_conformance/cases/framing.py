"""Hand-written cases: RFC 6455 section 5 framing, and MQTT packets across
WebSocket frames (MQTT-6.0.0-2)."""
import struct
import time

from .. import mqtt, ws
from ..net import MqttClient
from .util import add, publish, pubacks_and_publishes, receive, subscribe
from .vectors import judge_invalid_close, judge_refusal

PING = mqtt.pingreq()


def refuse_frames(frames_fn, close=1002, sent_close=None):
    def run(ctx):
        m = ctx.mqtt(version=4)
        for data, note in frames_fn():
            m.ws.send_raw(data, note)
        if sent_close is None:
            judge_refusal(ctx, m, close)
            return
        judge_invalid_close(ctx, m, 1002, sent_close)
    return run


FRAME_CASES = [
    ("framing.unmasked-binary", "An unmasked binary frame from the client fails the connection", ["RFC6455-5.1"],
     lambda: [(ws.encode_frame(ws.OP_BINARY, PING, mask=False), "unmasked PINGREQ frame")]),
    ("framing.rsv1", "RSV1 set without an extension fails the connection", ["RFC6455-5.2", "RFC6455-5.8"],
     lambda: [(ws.encode_frame(ws.OP_BINARY, PING, rsv=4), "PINGREQ frame with RSV1")]),
    ("framing.rsv2", "RSV2 set fails the connection", ["RFC6455-5.2"],
     lambda: [(ws.encode_frame(ws.OP_BINARY, PING, rsv=2), "PINGREQ frame with RSV2")]),
    ("framing.rsv3", "RSV3 set fails the connection", ["RFC6455-5.2"],
     lambda: [(ws.encode_frame(ws.OP_BINARY, PING, rsv=1), "PINGREQ frame with RSV3")]),
    ("framing.opcode-3", "Reserved data opcode 0x3 fails the connection", ["RFC6455-5.2"],
     lambda: [(ws.encode_frame(3, PING), "frame with opcode 3")]),
    ("framing.opcode-7", "Reserved data opcode 0x7 fails the connection", ["RFC6455-5.2"],
     lambda: [(ws.encode_frame(7, PING), "frame with opcode 7")]),
    ("framing.opcode-b", "Reserved control opcode 0xB fails the connection", ["RFC6455-5.2"],
     lambda: [(ws.encode_frame(0xB, b""), "frame with opcode B")]),
    ("framing.opcode-f", "Reserved control opcode 0xF fails the connection", ["RFC6455-5.2"],
     lambda: [(ws.encode_frame(0xF, b"x"), "frame with opcode F")]),
    ("framing.ping-126-bytes", "A 126-byte ping fails the connection", ["RFC6455-5.5"],
     lambda: [(ws.encode_frame(ws.OP_PING, b"p" * 126), "ping with 126 bytes")]),
    ("framing.close-126-bytes", "A 126-byte close frame fails the connection", ["RFC6455-5.5"],
     lambda: [(ws.encode_frame(ws.OP_CLOSE, struct.pack(">H", 1000) + b"r" * 124), "close with 126 bytes")]),
    ("framing.fragmented-ping", "A ping with FIN 0 fails the connection", ["RFC6455-5.5", "RFC6455-5.4"],
     lambda: [(ws.encode_frame(ws.OP_PING, b"a", fin=False), "ping fin=0")]),
    ("framing.continuation-first", "A continuation frame with no message started fails the connection",
     ["RFC6455-5.4"], lambda: [(ws.encode_frame(ws.OP_CONT, PING), "continuation without a start")]),
    ("framing.binary-inside-fragmented", "A new binary frame inside a fragmented message fails the connection",
     ["RFC6455-5.4"], lambda: [(ws.encode_frame(ws.OP_BINARY, b"\xc0", fin=False), "binary fin=0"),
                               (ws.encode_frame(ws.OP_BINARY, b"\x00"), "binary again instead of continuation")]),
    ("framing.length-64-non-minimal", "A 64-bit length for a 2-byte payload fails the connection",
     ["RFC6455-5.2"], lambda: [(ws.encode_frame(ws.OP_BINARY, PING, length_form=64), "PINGREQ with 64-bit length")]),
    ("framing.close-code-1005", "A close frame carrying 1005 fails the connection", ["RFC6455-7.4.1"],
     lambda: [(ws.encode_frame(ws.OP_CLOSE, struct.pack(">H", 1005)), "close 1005")]),
    ("framing.close-code-999", "A close frame carrying 999 fails the connection", ["RFC6455-7.4.1"],
     lambda: [(ws.encode_frame(ws.OP_CLOSE, struct.pack(">H", 999)), "close 999")]),
]


def empty_binary(ctx):
    m = ctx.mqtt(version=4)
    for _ in range(3):
        m.ws.send_frame(ws.OP_BINARY, b"", "empty binary frame")
    m.ws.send_frame(ws.OP_BINARY, PING[:1], "first PINGREQ byte", fin=False)
    m.ws.send_frame(ws.OP_CONT, b"", "empty continuation", fin=False)
    m.ws.send_frame(ws.OP_CONT, PING[1:], "last PINGREQ byte")
    o2 = m.outcome(probe=False)
    ctx.check(o2.accepted, f"empty frames then PINGREQ: {o2.summary()}", "empty frames are harmless")


def ping_pong(ctx):
    m = ctx.mqtt(version=4)
    m.ws.send_frame(ws.OP_PING, b"mqws-ping", "ping 'mqws-ping'")
    o = m.outcome()
    ok = b"mqws-ping" in m.ws.pongs
    ctx.check(ok and o.accepted, f"pongs {m.ws.pongs}; {o.summary()}", "a pong with the same payload")


def server_frames_unmasked(ctx):
    m = ctx.mqtt(version=4)
    subscribe(m, [(ctx.topic(), 1)])
    publish(m, ctx.topic(), b"x" * 300, qos=1)
    receive(m, count=1)
    fr = m.ws.server_frames
    masked = sum(f.masked for f in fr)
    rsv = sum(1 for f in fr if f.rsv)
    ctx.check(masked == 0 and rsv == 0 and fr, f"{len(fr)} server frames, {masked} masked, {rsv} with RSV bits",
              "server frames unmasked, RSV bits 0")


# ---------------------------------------------------------------- reassembly

def connect_one_byte_frames(ctx):
    c = ctx.ws()
    m = MqttClient(c, 4)
    pkt = mqtt.connect(4, ctx.client_id())
    for i, b in enumerate(pkt):
        op = ws.OP_BINARY if i == 0 else ws.OP_CONT
        c.send_frame(op, bytes([b]), "" if i else f"CONNECT in {len(pkt)} one-byte frames", fin=i == len(pkt) - 1)
    d = m.recv()
    ok = isinstance(d, dict) and d["type"] == "CONNACK" and d["code"] == 0
    ctx.check(ok, f"{d if not isinstance(d, dict) else d['type']}", "CONNACK 0")


def connect_one_byte_messages(ctx):
    c = ctx.ws()
    m = MqttClient(c, 4)
    pkt = mqtt.connect(4, ctx.client_id())
    for i, b in enumerate(pkt):
        c.send_frame(ws.OP_BINARY, bytes([b]), "" if i else f"CONNECT in {len(pkt)} one-byte messages")
    d = m.recv()
    ok = isinstance(d, dict) and d["type"] == "CONNACK" and d["code"] == 0
    ctx.check(ok, f"{d if not isinstance(d, dict) else d['type']}", "CONNACK 0")


def connect_every_split(ctx):
    pkt = mqtt.connect(ctx.version, ctx.client_id())
    bad = []
    for cut in range(1, len(pkt)):
        c = ctx.ws()
        m = MqttClient(c, ctx.version)
        c.send_frame(ws.OP_BINARY, pkt[:cut], f"CONNECT bytes 0..{cut}")
        c.send_frame(ws.OP_BINARY, pkt[cut:], f"CONNECT bytes {cut}..")
        d = m.recv()
        c.close()
        if not (isinstance(d, dict) and d["type"] == "CONNACK" and d["code"] == 0):
            bad.append(cut)
            break  # one failing split decides the case; the rest would only add timeouts
    ctx.check(not bad, f"no CONNACK 0 for the split after byte {bad[0]}" if bad else f"all {len(pkt) - 1} splits answered",
              "CONNACK 0 for every split point")


def publish_every_split(ctx):
    m = ctx.mqtt()
    topic = ctx.topic()
    subscribe(m, [(topic, 1)])
    n = 0
    for pid in range(1, 200):
        pkt = mqtt.publish(topic, f"payload-{pid}".encode(), 1, False, False, pid, ctx.version)
        n = len(pkt)
        cut = pid
        if cut >= len(pkt):
            break
        m.ws.send_frame(ws.OP_BINARY, pkt[:cut], f"PUBLISH id {pid} bytes 0..{cut}")
        m.ws.send_frame(ws.OP_BINARY, pkt[cut:], f"PUBLISH id {pid} bytes {cut}..")
    want = {f"payload-{i}".encode() for i in range(1, n)}
    acks, payloads = pubacks_and_publishes(m, len(want))
    got = set(payloads)
    ok = len(acks) == len(want) and got == want
    ctx.check(ok, f"{len(want)} splits: {len(acks)} PUBACKs, {len(got)} intact messages back",
              "a PUBACK and the intact message for every split point")


def several_in_one_frame(ctx):
    m = ctx.mqtt()
    topic = ctx.topic()
    data = (mqtt.subscribe(1, [(topic, 0)], ctx.version) + mqtt.publish(topic, b"one", version=ctx.version)
            + mqtt.pingreq())
    m.ws.send_frame(ws.OP_BINARY, data, "SUBSCRIBE + PUBLISH + PINGREQ in one frame")
    seen = []
    deadline = time.monotonic() + ctx.target.timeout
    while len(seen) < 3 and time.monotonic() < deadline:
        d = m.recv(deadline - time.monotonic(), skip=())
        if not isinstance(d, dict):
            break
        seen.append(d["type"])
    ok = sorted(seen) == ["PINGRESP", "PUBLISH", "SUBACK"] and seen[0] == "SUBACK"
    ctx.check(ok, f"answers {seen}", "SUBACK, the PUBLISH, PINGRESP")


def continuation_with_pings(ctx):
    m = ctx.mqtt()
    topic = ctx.topic()
    pkt = mqtt.publish(topic, b"p" * 100, 1, False, False, 9, ctx.version)
    parts = [pkt[:5], pkt[5:40], pkt[40:]]
    m.ws.send_frame(ws.OP_BINARY, parts[0], "PUBLISH part 1 (fin=0)", fin=False)
    m.ws.send_frame(ws.OP_PING, b"p1", "ping between fragments")
    m.ws.send_frame(ws.OP_CONT, parts[1], "PUBLISH part 2 (fin=0)", fin=False)
    m.ws.send_frame(ws.OP_PING, b"p2", "ping between fragments")
    m.ws.send_frame(ws.OP_CONT, parts[2], "PUBLISH part 3 (fin=1)")
    d = m.expect("PUBACK")
    o = m.outcome()
    pongs = [p for p in m.ws.pongs if p in (b"p1", b"p2")]
    ok = d["packet_id"] == 9 and pongs and o.accepted
    ctx.check(ok, f"PUBACK id {d['packet_id']}, pongs {pongs}, {o.summary()}",
              "PUBACK for the reassembled PUBLISH and pongs")
    if ok and b"p2" not in pongs:
        # RFC 6455 5.5.3 lets a busy endpoint answer only the most recent ping
        ctx.non_strict(f"pongs {pongs}: the most recent ping ('p2') was not answered", "a pong for 'p2'")


def straddling(ctx):
    m = ctx.mqtt()
    topic = ctx.topic()
    subscribe(m, [(topic, 1)])
    pkts = [mqtt.publish(topic, f"s{i}".encode() * 10, 1, False, False, 20 + i, ctx.version) for i in range(3)]
    blob = b"".join(pkts)
    cuts = [len(pkts[0]) + 3, len(pkts[0]) + len(pkts[1]) + 7]
    m.ws.send_frame(ws.OP_BINARY, blob[:cuts[0]], "packet 1 + start of packet 2")
    m.ws.send_frame(ws.OP_BINARY, blob[cuts[0]:cuts[1]], "rest of 2 + start of 3", fin=False)
    m.ws.send_frame(ws.OP_CONT, blob[cuts[1]:], "rest of packet 3 (continuation)")
    acks, got = pubacks_and_publishes(m, 3)
    ok = acks == {20, 21, 22} and got == [f"s{i}".encode() * 10 for i in range(3)]
    ctx.check(ok, f"PUBACKs {sorted(acks)}, {len(got)} messages in order: {got == sorted(got)}",
              "three PUBACKs and the three messages in order")


def big_publish(ctx):
    m = ctx.mqtt()
    mx = dict(m.connack.get("props", [])).get("maximum_packet_size") if ctx.version == 5 else None
    if mx is not None and mx < 1 << 20:
        ctx.skip(f"the target's Maximum Packet Size is {mx}")
    topic = ctx.topic()
    subscribe(m, [(topic, 1)])
    head = len(mqtt.publish(topic, b"", 1, False, False, 5, ctx.version))
    payload = (bytes(range(256)) * 4096)[:(1 << 20) - head - 2]  # the whole packet is 1 MiB
    pkt = mqtt.publish(topic, payload, 1, False, False, 5, ctx.version)
    assert len(pkt) == 1 << 20, len(pkt)
    step = 65536
    for i in range(0, len(pkt), step):
        last = i + step >= len(pkt)
        m.ws.send_frame(ws.OP_BINARY if i == 0 else ws.OP_CONT, pkt[i:i + step],
                        f"1 MiB PUBLISH fragment {i // step + 1}", fin=last)
    acked, back = False, None
    deadline = time.monotonic() + max(ctx.target.timeout, 10)
    while (not acked or back is None) and time.monotonic() < deadline:
        d = m.recv(deadline - time.monotonic())
        if not isinstance(d, dict):
            if d.kind == "timeout":
                ctx.info(f"PUBACK {'received' if acked else 'missing'}; the message did not come back within "
                         f"{max(ctx.target.timeout, 10):.0f} s (a slow target)", "PUBACK and the message back")
            elif d.kind == "close" and d.code != 1009:
                ctx.fail(f"the connection failed (close {d.code}) on a fragmented 1 MiB message",
                         "PUBACK, or close 1009 if the target limits the message size")
            else:
                ctx.info(f"connection ended: {d.kind} (close {d.code})", "the target may limit packet size")
            return
        if d["type"] == "PUBACK":
            acked = True
        elif d["type"] == "PUBLISH":
            back = d["payload"]
            m.send(mqtt.ack(mqtt.PUBACK, d["packet_id"], m.version))
    ctx.check(acked and back == payload, f"PUBACK {acked}, message back {'intact' if back == payload else back and len(back)}",
              "PUBACK and the 1 MiB message back intact")


def register():
    for cid, title, refs, fn in FRAME_CASES:
        sent = {"framing.close-code-1005": 1005, "framing.close-code-999": 999,
                "framing.close-126-bytes": 1000}.get(cid)
        add(cid, title, "framing", refs, refuse_frames(fn, 1002, sent),
            expectation="the connection failed (close 1002 or TCP close)")
    add("framing.empty-binary-frames", "Empty binary frames and continuations are harmless", "framing",
        ["RFC6455-5.4", "MQTT-6.0.0-2"], empty_binary)
    add("framing.ping-answered", "A ping is answered with a pong carrying its payload", "framing",
        ["RFC6455-5.5.2"], ping_pong)
    add("framing.server-frames-unmasked", "Server frames are unmasked with RSV bits 0", "framing",
        ["RFC6455-5.1", "RFC6455-5.2"], server_frames_unmasked)
    add("reassembly.connect-one-byte-frames", "CONNECT in one-byte fragments of one message", "reassembly",
        ["MQTT-6.0.0-2", "RFC6455-5.4"], connect_one_byte_frames, mqtt=4)
    add("reassembly.connect-one-byte-messages", "CONNECT in one-byte binary messages", "reassembly",
        ["MQTT-6.0.0-2"], connect_one_byte_messages, mqtt=4)
    from .util import both
    both("reassembly.connect-every-split", "CONNECT split in two messages at every byte", "reassembly",
         ["MQTT-6.0.0-2"], ["MQTT-6.0.0-2"], connect_every_split)
    both("reassembly.publish-every-split", "PUBLISH split in two messages at every byte", "reassembly",
         ["MQTT-6.0.0-2", "MQTT-4.3.2-1"], ["MQTT-6.0.0-2", "MQTT-4.3.2-1"], publish_every_split)
    both("reassembly.several-in-one-frame", "SUBSCRIBE, PUBLISH and PINGREQ in one frame", "reassembly",
         ["MQTT-6.0.0-2", "MQTT-3.8.4-1", "MQTT-3.12.4-1"], ["MQTT-6.0.0-2", "MQTT-3.8.4-1", "MQTT-3.12.4-1"],
         several_in_one_frame)
    both("reassembly.continuation-with-pings", "A PUBLISH across continuation frames with pings between",
         "reassembly", ["MQTT-6.0.0-2", "RFC6455-5.4", "RFC6455-5.5.2"],
         ["MQTT-6.0.0-2", "RFC6455-5.4", "RFC6455-5.5.2"], continuation_with_pings)
    both("reassembly.straddling-packets", "Packets straddling frame and fragment boundaries both ways",
         "reassembly", ["MQTT-6.0.0-2", "MQTT-4.6.0-6"], ["MQTT-6.0.0-2", "MQTT-4.6.0-6"], straddling)
    both("reassembly.publish-1mib-64k-fragments", "A 1 MiB PUBLISH in 64 KiB fragments comes back intact",
         "reassembly", ["MQTT-6.0.0-2", "RFC6455-5.4"], ["MQTT-6.0.0-2", "RFC6455-5.4"], big_publish)
