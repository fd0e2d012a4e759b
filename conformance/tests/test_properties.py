"""Property tests of the byte layers (python3-hypothesis): any payload, mask,
length form and split point round-trips."""
from hypothesis import given, settings
from hypothesis import strategies as st

from mqws_conformance import mqtt, ws


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(max_size=70000), op=st.sampled_from([0, 1, 2]), fin=st.booleans(),
       rsv=st.integers(0, 7), mask=st.one_of(st.booleans(), st.binary(min_size=4, max_size=4)),
       cut=st.integers(0, 80000))
def test_frame_round_trip_any_split(payload, op, fin, rsv, mask, cut):
    raw = ws.encode_frame(op, payload, fin=fin, rsv=rsv, mask=mask)
    p = ws.FrameParser()
    frames = p.feed(raw[:cut]) + p.feed(raw[cut:])
    assert len(frames) == 1 and not p.buf
    f = frames[0]
    assert (f.payload, f.opcode, f.fin, f.rsv, f.masked) == (payload, op, fin, rsv, mask is not False)


topics = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00+#"),
                 min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(topic=topics, payload=st.binary(max_size=3000), qos=st.integers(0, 2), retain=st.booleans(),
       pid=st.integers(1, 65535), version=st.sampled_from([4, 5]), cuts=st.lists(st.integers(0, 4000), max_size=4))
def test_publish_round_trip_any_chunks(topic, payload, qos, retain, pid, version, cuts):
    pkt = mqtt.publish(topic, payload, qos, retain, False, pid, version,
                       [("user_property", ("k", topic))] if version == 5 else None)
    stream = pkt + mqtt.pingreq() + pkt
    r = mqtt.PacketReader()
    got = []
    prev = 0
    for c in sorted(set(min(c, len(stream)) for c in cuts)) + [len(stream)]:
        got += r.feed(stream[prev:c])
        prev = c
    assert got == [pkt, mqtt.pingreq(), pkt]
    d = mqtt.decode(pkt, version)
    assert (d["topic"], d["payload"], d["qos"], d["retain"]) == (topic, payload, qos, retain)
    assert d["packet_id"] == (pid if qos else None)


@given(n=st.integers(0, 268435455))
def test_varint_minimal(n):
    b = mqtt.varint(n)
    c = mqtt.Cursor(b)
    assert c.varint() == n and c.left() == 0
    assert len(b) == 1 + (n >= 128) + (n >= 16384) + (n >= 2097152)
