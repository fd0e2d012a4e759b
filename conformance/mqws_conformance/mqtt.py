"""MQTT 3.1.1 / 5.0 byte layer, sans-IO.

Builders return the bytes of one packet (any field may be set to an invalid
value on purpose); `PacketReader` assembles packets from pushed bytes, and
`decode` turns one packet into a plain dict. Version 4 = 3.1.1, 5 = 5.0.
"""
import struct

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15
TYPE_NAMES = {0: "RESERVED", 1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC",
              6: "PUBREL", 7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE",
              11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH"}

# 5.0 properties: id -> (name, type); types: byte, u16, u32, varint, str, bin, pair
PROPS = {
    1: ("payload_format", "byte"), 2: ("message_expiry", "u32"), 3: ("content_type", "str"),
    8: ("response_topic", "str"), 9: ("correlation_data", "bin"), 11: ("subscription_id", "varint"),
    17: ("session_expiry", "u32"), 18: ("assigned_client_id", "str"), 19: ("server_keep_alive", "u16"),
    21: ("auth_method", "str"), 22: ("auth_data", "bin"), 23: ("request_problem_info", "byte"),
    24: ("will_delay", "u32"), 25: ("request_response_info", "byte"), 26: ("response_info", "str"),
    28: ("server_reference", "str"), 31: ("reason_string", "str"), 33: ("receive_maximum", "u16"),
    34: ("topic_alias_maximum", "u16"), 35: ("topic_alias", "u16"), 36: ("maximum_qos", "byte"),
    37: ("retain_available", "byte"), 38: ("user_property", "pair"), 39: ("maximum_packet_size", "u32"),
    40: ("wildcard_sub_available", "byte"), 41: ("sub_id_available", "byte"),
    42: ("shared_sub_available", "byte"),
}
PROP_IDS = {name: pid for pid, (name, _) in PROPS.items()}


class Malformed(ValueError):
    pass


def varint(n, width=None):
    """Variable Byte Integer; `width` forces a longer (non-minimal) encoding."""
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n or (width and len(out) + 1 < width):
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def utf8(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack(">H", len(b)) + b


def binary(b):
    return struct.pack(">H", len(b)) + bytes(b)


def encode_props(props):
    """`props`: list of (name or id, value); user properties take (key, value) tuples."""
    out = bytearray()
    for name, value in props or ():
        pid = name if isinstance(name, int) else PROP_IDS[name]
        kind = PROPS[pid][1]
        out += varint(pid)
        if kind == "byte":
            out.append(value)
        elif kind == "u16":
            out += struct.pack(">H", value)
        elif kind == "u32":
            out += struct.pack(">I", value)
        elif kind == "varint":
            out += varint(value)
        elif kind == "str":
            out += utf8(value)
        elif kind == "bin":
            out += binary(value)
        else:
            out += utf8(value[0]) + utf8(value[1])
    return varint(len(out)) + bytes(out)


def packet(ptype, flags, body, rl_width=None):
    return bytes([(ptype << 4) | (flags & 0x0F)]) + varint(len(body), rl_width) + body


def connect(version=4, client_id="", clean=True, keepalive=60, will=None, username=None,
            password=None, props=None, protocol_name="MQTT"):
    """`will`: dict(topic, payload, qos=0, retain=False, props=None)."""
    flags = 0x02 if clean else 0
    if will:
        flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    body = utf8(protocol_name) + bytes([version, flags]) + struct.pack(">H", keepalive)
    if version == 5:
        body += encode_props(props)
    body += utf8(client_id)
    if will:
        if version == 5:
            body += encode_props(will.get("props"))
        body += utf8(will["topic"]) + binary(will.get("payload", b""))
    if username is not None:
        body += utf8(username)
    if password is not None:
        body += binary(password.encode() if isinstance(password, str) else password)
    return packet(CONNECT, 0, body)


def publish(topic, payload=b"", qos=0, retain=False, dup=False, packet_id=None, version=4, props=None):
    flags = (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
    body = utf8(topic)
    if qos:
        body += struct.pack(">H", packet_id or 1)
    if version == 5:
        body += encode_props(props)
    return packet(PUBLISH, flags, body + (payload.encode() if isinstance(payload, str) else payload))


def ack(ptype, packet_id, version=4, reason=None, props=None):
    """PUBACK, PUBREC, PUBREL, PUBCOMP or UNSUBACK-like short acks."""
    body = struct.pack(">H", packet_id)
    if version == 5 and (reason or props):
        body += bytes([reason or 0])
        if props:
            body += encode_props(props)
    return packet(ptype, 2 if ptype == PUBREL else 0, body)


def subscribe(packet_id, filters, version=4, props=None):
    """`filters`: list of (filter, options byte); options = qos | nl<<2 | rap<<3 | rh<<4."""
    body = struct.pack(">H", packet_id)
    if version == 5:
        body += encode_props(props)
    for f, opts in filters:
        body += utf8(f) + bytes([opts])
    return packet(SUBSCRIBE, 2, body)


def unsubscribe(packet_id, filters, version=4, props=None):
    body = struct.pack(">H", packet_id)
    if version == 5:
        body += encode_props(props)
    for f in filters:
        body += utf8(f)
    return packet(UNSUBSCRIBE, 2, body)


def pingreq():
    return b"\xc0\x00"


def disconnect(version=4, reason=None, props=None):
    if version == 5 and (reason or props):
        body = bytes([reason or 0]) + (encode_props(props) if props else b"")
        return packet(DISCONNECT, 0, body)
    return b"\xe0\x00"


def connack(session_present=False, code=0, version=4, props=None):
    body = bytes([1 if session_present else 0, code])
    if version == 5:
        body += encode_props(props)
    return packet(CONNACK, 0, body)


def suback(packet_id, codes, version=4, props=None):
    body = struct.pack(">H", packet_id)
    if version == 5:
        body += encode_props(props)
    return packet(SUBACK, 0, body + bytes(codes))


def unsuback(packet_id, codes=(), version=4):
    body = struct.pack(">H", packet_id)
    if version == 5:
        body += b"\x00" + bytes(codes)
    return packet(UNSUBACK, 0, body)


# ---------------------------------------------------------------- reading

class PacketReader:
    """Assembles MQTT packets from a byte stream (chunks in any split).
    `feed` returns complete packets as bytes; a broken Remaining Length raises Malformed."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            n = self._length()
            if n is None:
                return out
            out.append(bytes(self.buf[:n]))
            del self.buf[:n]

    def _length(self):
        b = self.buf
        if len(b) < 2:
            return None
        mult, value = 1, 0
        for i in range(1, 5):
            if i >= len(b):
                return None
            value += (b[i] & 0x7F) * mult
            if not b[i] & 0x80:
                total = 1 + i + value
                return total if len(b) >= total else None
            mult *= 128
        raise Malformed("remaining length longer than 4 bytes")


class Cursor:
    def __init__(self, data, pos=0):
        self.data, self.pos = data, pos

    def left(self):
        return len(self.data) - self.pos

    def take(self, n):
        if self.pos + n > len(self.data):
            raise Malformed(f"packet too short: need {n} bytes at offset {self.pos}")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def byte(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def varint(self):
        mult, value = 1, 0
        for _ in range(4):
            b = self.byte()
            value += (b & 0x7F) * mult
            if not b & 0x80:
                return value
            mult *= 128
        raise Malformed("variable byte integer longer than 4 bytes")

    def str(self):
        raw = self.take(self.u16())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Malformed(f"invalid UTF-8 string: {e}") from None

    def bin(self):
        return self.take(self.u16())

    def props(self):
        end = self.varint()
        end += self.pos
        if end > len(self.data):
            raise Malformed("property length beyond the packet")
        out = []
        while self.pos < end:
            pid = self.varint()
            if pid not in PROPS:
                raise Malformed(f"unknown property id {pid}")
            name, kind = PROPS[pid]
            if kind == "byte":
                v = self.byte()
            elif kind == "u16":
                v = self.u16()
            elif kind == "u32":
                v = self.u32()
            elif kind == "varint":
                v = self.varint()
            elif kind == "str":
                v = self.str()
            elif kind == "bin":
                v = self.bin()
            else:
                v = (self.str(), self.str())
            out.append((name, v))
        if self.pos != end:
            raise Malformed("property overruns its length")
        return out


def split_header(pkt):
    c = Cursor(pkt, 1)
    rl = c.varint()
    return pkt[0] >> 4, pkt[0] & 0x0F, c.pos, rl


def prop(d, name, default=None):
    for n, v in d.get("props", ()):
        if n == name:
            return v
    return default


def decode(pkt, version=4):
    """One whole packet -> dict with 'type' (name), 'flags' and type-specific fields.
    Raises Malformed on bytes it cannot read (it checks framing, not every rule)."""
    ptype, flags, start, rl = split_header(pkt)
    if start + rl != len(pkt):
        raise Malformed("remaining length does not match the packet")
    c = Cursor(pkt, start)
    d = {"type": TYPE_NAMES[ptype], "flags": flags}
    v5 = version == 5
    if ptype == CONNECT:
        d["protocol_name"] = c.str()
        d["level"] = c.byte()
        v5 = d["level"] == 5
        f = c.byte()
        d["connect_flags"] = f
        d["clean"] = bool(f & 2)
        d["keepalive"] = c.u16()
        d["props"] = c.props() if v5 else []
        d["client_id"] = c.str()
        if f & 4:
            d["will"] = {"qos": (f >> 3) & 3, "retain": bool(f & 0x20),
                         "props": c.props() if v5 else []}
            d["will"]["topic"] = c.str()
            d["will"]["payload"] = c.bin()
        if f & 0x80:
            d["username"] = c.str()
        if f & 0x40:
            d["password"] = c.bin()
    elif ptype == CONNACK:
        d["session_present"] = bool(c.byte() & 1)
        d["code"] = c.byte()
        d["props"] = c.props() if v5 and c.left() else []
    elif ptype == PUBLISH:
        d["qos"] = (flags >> 1) & 3
        d["dup"] = bool(flags & 8)
        d["retain"] = bool(flags & 1)
        d["topic"] = c.str()
        d["packet_id"] = c.u16() if d["qos"] else None
        d["props"] = c.props() if v5 else []
        d["payload"] = c.take(c.left())
    elif ptype in (PUBACK, PUBREC, PUBREL, PUBCOMP):
        d["packet_id"] = c.u16()
        d["code"] = c.byte() if v5 and c.left() else 0
        d["props"] = c.props() if v5 and c.left() else []
    elif ptype in (SUBSCRIBE, UNSUBSCRIBE):
        d["packet_id"] = c.u16()
        d["props"] = c.props() if v5 else []
        d["filters"] = []
        while c.left():
            f = c.str()
            d["filters"].append((f, c.byte()) if ptype == SUBSCRIBE else (f, None))
    elif ptype in (SUBACK, UNSUBACK):
        d["packet_id"] = c.u16()
        d["props"] = c.props() if v5 else []
        d["codes"] = list(c.take(c.left()))
    elif ptype in (DISCONNECT, AUTH):
        d["code"] = c.byte() if c.left() else 0
        d["props"] = c.props() if c.left() else []
    return d


def describe(pkt, version=4):
    """Short text for transcripts: 'PUBLISH qos=1 id=3 topic=a/b len=5'."""
    try:
        d = decode(pkt, version)
    except (Malformed, KeyError, IndexError) as e:
        return f"undecodable packet ({e})"
    t = d["type"]
    bits = [t]
    if t == "PUBLISH":
        bits += [f"qos={d['qos']}"] + (["dup"] if d["dup"] else []) + (["retain"] if d["retain"] else [])
        if d["packet_id"] is not None:
            bits.append(f"id={d['packet_id']}")
        bits += [f"topic={d['topic']!r}", f"len={len(d['payload'])}"]
    elif t == "CONNECT":
        bits += [f"level={d['level']}", f"client_id={d['client_id']!r}", f"clean={int(d['clean'])}",
                 f"keepalive={d['keepalive']}"]
    elif "code" in d:
        if "packet_id" in d:
            bits.append(f"id={d['packet_id']}")
        bits.append(f"code=0x{d['code']:02x}")
        if t == "CONNACK":
            bits.append(f"sp={int(d['session_present'])}")
    elif "packet_id" in d:
        bits.append(f"id={d['packet_id']}")
        if "codes" in d:
            bits.append("codes=" + ",".join(f"0x{x:02x}" for x in d["codes"]))
    if d.get("props"):
        bits.append("props=" + ",".join(n for n, _ in d["props"]))
    return " ".join(bits)
