"""The suite's own byte layers against the shared vectors and by round trip."""
import json
import os

import pytest

from mqws_conformance import mqtt, ws

VEC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "vectors")


def load(rel):
    with open(os.path.join(VEC, rel)) as f:
        return json.load(f)


def vector_tests(doc):
    for g in doc["testGroups"]:
        for t in g["tests"]:
            yield g.get("params") or {}, t


def test_accept_vectors():
    doc = load("handshake/accept.json")
    n = 0
    for _, t in vector_tests(doc):
        if "accept" in t["expect"]:
            assert ws.accept_for(t["key"]) == t["expect"]["accept"], t["id"]
            n += 1
    assert n >= 5


CLIENT_FRAMES = [t for p, t in vector_tests(load("ws/frames.json")) if p.get("role") == "client" and t["result"] == "valid"
                 and not t["expect"].get("incomplete")]


def frame_events(frames):
    out = []
    for f in frames:
        if f.opcode in (ws.OP_PING, ws.OP_PONG):
            out.append({"type": f.name, "payload": f.payload.hex()})
        elif f.opcode == ws.OP_CLOSE:
            out.append(("close", f.close_code() or 1005))
        else:
            out.append(("data", f.payload.hex()))
    return out


def expected_events(t):
    out = []
    for e in t["expect"]["events"]:
        if e["type"] in ("ping", "pong"):
            out.append({"type": e["type"], "payload": e["payload"]})
        elif e["type"] == "close":
            out.append(("close", e["close_code"]))
        else:
            out.append(("data", e["payload"]))
    return out


@pytest.mark.parametrize("t", CLIENT_FRAMES, ids=[t["id"] for t in CLIENT_FRAMES])
def test_frame_parser_every_split(t):
    raw = bytes.fromhex(t["input"])
    want = expected_events(t)
    assert frame_events(ws.FrameParser().feed(raw)) == want
    cuts = range(1, len(raw)) if len(raw) < 400 else sorted(set(range(1, 40)) | set(range(1, len(raw), len(raw) // 50)))
    for cut in cuts:
        p = ws.FrameParser()
        assert frame_events(p.feed(raw[:cut]) + p.feed(raw[cut:])) == want


def test_frame_round_trip_and_forms():
    for n in (0, 1, 125, 126, 65535, 65536):
        payload = bytes(range(256)) * (n // 256) + bytes(range(n % 256))
        for mask in (True, False, b"\x01\x02\x03\x04"):
            raw = ws.encode_frame(ws.OP_BINARY, payload, mask=mask)
            (f,) = ws.FrameParser().feed(raw)
            assert f.payload == payload and f.masked == (mask is not False)
    raw = ws.encode_frame(ws.OP_BINARY, b"ab", mask=False, length_form=64)
    assert raw[:2] == b"\x82\x7f" and len(raw) == 12
    raw = ws.encode_frame(ws.OP_PING, b"", rsv=7, fin=False, mask=False)
    (f,) = ws.FrameParser().feed(raw)
    assert f.rsv == 7 and not f.fin
    with pytest.raises(ValueError):
        ws.FrameParser().feed(b"\x82\x7f\x80" + b"\x00" * 7)


def test_request_and_response_head():
    raw, key = ws.build_request("h:1", "/p", protocols=("mqtt", "x"), extra=[("A", "b")])
    assert raw.startswith(b"GET /p HTTP/1.1\r\nHost: h:1\r\n") and b"Sec-WebSocket-Protocol: mqtt, x\r\n" in raw
    raw, _ = ws.build_request("h", "/", protocols=None, omit=("upgrade",), version="8", protocol_headers=["a", "b"])
    assert b"Upgrade:" not in raw and raw.count(b"Sec-WebSocket-Protocol") == 2 and b"Version: 8" in raw
    resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: a, Upgrade\r\n\r\n\x82\x00"
    assert ws.parse_response_head(resp[:20]) is None
    r, rest = ws.parse_response_head(resp)
    assert r.status == 101 and r.tokens("connection") == ["a", "Upgrade"] and rest == b"\x82\x00"
    with pytest.raises(ValueError):
        ws.parse_response_head(b"SSH-2.0-x\r\n\r\n")


VALID_PACKETS = [(p["version"], t) for rel in ("mqtt/v311.json", "mqtt/v5.json") for p, t in vector_tests(load(rel))
                 if t["result"] == "valid" and "type" in t["expect"]]


@pytest.mark.parametrize("version,t", VALID_PACKETS, ids=[t["id"] for _, t in VALID_PACKETS])
def test_decode_valid_vectors(version, t):
    raw = bytes.fromhex(t["input"])
    d = mqtt.decode(raw, version)
    assert d["type"] == t["expect"]["type"]
    pub = t["expect"].get("publish")
    if pub:
        assert d["topic"] == pub["topic"] and d["qos"] == pub["qos"] and d["payload"].hex() == pub["payload"]
    if "packet_id" in t["expect"]:
        assert d["packet_id"] == t["expect"]["packet_id"]


STREAMS = [t for p, t in vector_tests(load("stream/reassembly.json")) if p.get("transport") == "tcp"
           and t["result"] == "valid" and "max_packet" not in p]


@pytest.mark.parametrize("t", STREAMS, ids=[t["id"] for t in STREAMS])
def test_packet_reader_every_split(t):
    data = b"".join(bytes.fromhex(c) for c in t["chunks"])
    want = [e["hex"] for e in t["expect"]["events"]]
    for cut in range(0, len(data) + 1):
        r = mqtt.PacketReader()
        assert [p.hex() for p in r.feed(data[:cut]) + r.feed(data[cut:])] == want
    r = mqtt.PacketReader()
    assert [p.hex() for b in data for p in r.feed(bytes([b]))] == want


def test_builders_round_trip():
    for v in (4, 5):
        p = mqtt.connect(v, "cid", False, 30, {"topic": "w", "payload": b"x", "qos": 1, "retain": True},
                         "u", "p", [("session_expiry", 5)] if v == 5 else None)
        d = mqtt.decode(p, v)
        assert (d["client_id"], d["keepalive"], d["will"]["topic"], d["username"], d["password"]) == \
            ("cid", 30, "w", "u", b"p")
        props = [("topic_alias", 3), ("user_property", ("k", "v")), ("correlation_data", b"\x00")] if v == 5 else None
        d = mqtt.decode(mqtt.publish("a/b", b"pl", 2, True, True, 9, v, props), v)
        assert (d["qos"], d["retain"], d["dup"], d["packet_id"], d["payload"]) == (2, True, True, 9, b"pl")
        if v == 5:
            assert d["props"] == props
        d = mqtt.decode(mqtt.subscribe(3, [("a/#", 0x2D)], v), v)
        assert d["filters"] == [("a/#", 0x2D)]
        assert mqtt.decode(mqtt.ack(mqtt.PUBREL, 7, v), v)["flags"] == 2
    assert mqtt.varint(0, 2) == b"\x80\x00" and mqtt.varint(268435455) == b"\xff\xff\xff\x7f"
    with pytest.raises(mqtt.Malformed):
        mqtt.PacketReader().feed(b"\x30\xff\xff\xff\xff\x01")
    assert "PUBLISH qos=1" in mqtt.describe(mqtt.publish("t", b"x", 1, packet_id=2))


def test_requirement_table_complete():
    """Every requirement a case cites has a level and a summary of its own."""
    from mqws_conformance.cli import load_cases
    from mqws_conformance.requirements import REQS
    reg = load_cases()
    missing = sorted({r for c in reg.cases for r in c.refs if r not in REQS})
    assert missing == []
    for ref, entry in REQS.items():
        for level, summary in (entry.values() if isinstance(entry, dict) else [entry]):
            assert level in ("MUST", "SHOULD", "MAY") and 10 < len(summary) < 200, ref
