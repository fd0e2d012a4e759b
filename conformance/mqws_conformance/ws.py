"""WebSocket byte layer (RFC 6455), sans-IO.

Pure functions build any frame or handshake request, including invalid ones
(unmasked, reserved bits, non-minimal lengths, oversized control frames); a
small parser object reads frames and HTTP response heads from pushed bytes.
Nothing here touches a socket.
"""
import base64
import hashlib
import os
import struct

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
OPCODE_NAMES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}


def accept_for(key):
    """Sec-WebSocket-Accept value the server must answer for `key` (RFC 6455 4.2.2)."""
    if isinstance(key, str):
        key = key.encode("ascii")
    return base64.b64encode(hashlib.sha1(key + GUID).digest()).decode("ascii")


def new_key():
    return base64.b64encode(os.urandom(16)).decode("ascii")


def apply_mask(data, key):
    if not data:
        return b""
    n = len(data)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def encode_frame(opcode, payload=b"", fin=True, rsv=0, mask=True, length_form=None):
    """One frame. `mask`: True (random key), False/None (unmasked) or 4 key bytes.
    `length_form`: None (minimal), 16 or 64 to force a (possibly non-minimal) extended length."""
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    n = len(payload)
    masked = mask is not False and mask is not None
    mbit = 0x80 if masked else 0
    if length_form == 64 or (length_form is None and n > 0xFFFF):
        head = bytes([b0, mbit | 127]) + struct.pack(">Q", n)
    elif length_form == 16 or (length_form is None and n > 125):
        head = bytes([b0, mbit | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, mbit | n])
    if not masked:
        return head + payload
    key = os.urandom(4) if mask is True else bytes(mask)
    return head + key + apply_mask(payload, key)


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    return struct.pack(">H", code) + reason


class Frame:
    __slots__ = ("fin", "rsv", "opcode", "masked", "payload", "raw_len")

    def __init__(self, fin, rsv, opcode, masked, payload, raw_len):
        self.fin, self.rsv, self.opcode, self.masked = fin, rsv, opcode, masked
        self.payload, self.raw_len = payload, raw_len

    @property
    def name(self):
        return OPCODE_NAMES.get(self.opcode, f"opcode-{self.opcode:x}")

    def close_code(self):
        if self.opcode != OP_CLOSE or len(self.payload) < 2:
            return None
        return struct.unpack(">H", self.payload[:2])[0]

    def close_reason(self):
        return self.payload[2:].decode("utf-8", "replace") if self.opcode == OP_CLOSE else ""

    def describe(self):
        s = f"{self.name}{'' if self.fin else ' (fin=0)'} len={len(self.payload)}"
        if self.rsv:
            s += f" rsv={self.rsv}"
        if self.masked:
            s += " MASKED"
        if self.opcode == OP_CLOSE:
            s += f" code={self.close_code()}"
        return s

    def __repr__(self):
        return f"Frame({self.describe()})"


class FrameParser:
    """Push bytes in, take complete frames out. Never raises on odd frames: it
    reports what it saw (mask bit, rsv, opcode) so a case can judge it."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            f = self._one()
            if f is None:
                return out
            out.append(f)

    def _one(self):
        b = self.buf
        if len(b) < 2:
            return None
        fin = bool(b[0] & 0x80)
        rsv = (b[0] >> 4) & 7
        op = b[0] & 0x0F
        masked = bool(b[1] & 0x80)
        n = b[1] & 0x7F
        pos = 2
        if n == 126:
            if len(b) < 4:
                return None
            n = struct.unpack(">H", b[2:4])[0]
            pos = 4
        elif n == 127:
            if len(b) < 10:
                return None
            n = struct.unpack(">Q", b[2:10])[0]
            if n >> 63:
                raise ValueError("64-bit payload length with the most significant bit set")
            pos = 10
        key = None
        if masked:
            if len(b) < pos + 4:
                return None
            key = bytes(b[pos:pos + 4])
            pos += 4
        if len(b) < pos + n:
            return None
        payload = bytes(b[pos:pos + n])
        if masked:
            payload = apply_mask(payload, key)
        del self.buf[:pos + n]
        return Frame(fin, rsv, op, masked, payload, pos + n)


# ---------------------------------------------------------------- handshake

def build_request(host, path="/mqtt", key=None, protocols=("mqtt",), version="13",
                  extra=(), method="GET", http="HTTP/1.1", omit=(), protocol_headers=None):
    """An Upgrade request as bytes. `protocols`: list joined into one
    Sec-WebSocket-Protocol field (None: no field); `protocol_headers`: raw
    values, one field each (overrides `protocols`). `omit`: lower-case names to
    leave out. `extra`: (name, value) pairs appended."""
    key = key or new_key()
    fields = [("Host", host), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
              ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", version)]
    if protocol_headers is not None:
        fields += [("Sec-WebSocket-Protocol", v) for v in protocol_headers]
    elif protocols is not None:
        fields.append(("Sec-WebSocket-Protocol", ", ".join(protocols)))
    fields = [(n, v) for n, v in fields if n.lower() not in omit and v is not None]
    fields += list(extra)
    head = f"{method} {path} {http}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in fields) + "\r\n"
    return head.encode("latin-1"), key


class Response:
    def __init__(self, status, reason, headers, raw):
        self.status, self.reason, self.headers, self.raw = status, reason, headers, raw

    def get_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def get(self, name):
        vals = self.get_all(name)
        return vals[0] if vals else None

    def tokens(self, name):
        out = []
        for v in self.get_all(name):
            out += [t.strip() for t in v.split(",") if t.strip()]
        return out


def parse_response_head(buf):
    """(Response, bytes after the head) or None while the head is incomplete.
    Raises ValueError when the bytes are not an HTTP/1.x response."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > 65536:
            raise ValueError("response head longer than 64 KiB")
        if not b"HTTP/".startswith(bytes(buf[:5])):
            raise ValueError(f"not an HTTP response: {bytes(buf[:40])!r}")
        return None
    head = bytes(buf[:end]).decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ValueError(f"bad status line: {lines[0]!r}")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"bad header line: {line!r}")
        headers.append((name.strip(), value.strip()))
    return Response(int(parts[1]), parts[2] if len(parts) > 2 else "", headers,
                    bytes(buf[:end + 4])), bytes(buf[end + 4:])
