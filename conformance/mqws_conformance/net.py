"""The socket edge: a target URL, a recorded TCP/TLS connection, and a
WebSocket + MQTT client built on the sans-IO layers in ws.py and mqtt.py.

Every byte sent and received is kept in a transcript (time, direction, hex,
decoded note) that ends up in the reports.
"""
import errno
import socket
import ssl
import time
import urllib.parse

from . import mqtt, ws

HEX_LIMIT = 2048  # bytes of one transcript entry kept as hex


class Unreachable(Exception):
    """The target cannot be used at all: `kind` is dns, tcp, tls, http or protocol."""

    def __init__(self, kind, detail):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


class Target:
    def __init__(self, url, cafile=None, insecure=False, username=None, password=None, timeout=5.0):
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("ws", "wss"):
            raise ValueError(f"URL must start with ws:// or wss://, got {url!r}")
        if not u.hostname:
            raise ValueError(f"URL has no host: {url!r}")
        self.url, self.scheme, self.host = url, u.scheme, u.hostname
        try:
            self.port = u.port or (443 if u.scheme == "wss" else 80)
        except ValueError:
            raise ValueError(f"bad port in {url!r}") from None
        self.path = (u.path or "/") + (f"?{u.query}" if u.query else "")
        self.tls = u.scheme == "wss"
        self.cafile, self.insecure = cafile, insecure
        self.username, self.password, self.timeout = username, password, timeout
        self._ctx = None

    @property
    def host_header(self):
        h = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls else 80
        return h if self.port == default else f"{h}:{self.port}"

    def ssl_context(self):
        if self._ctx is None:
            ctx = ssl.create_default_context(cafile=self.cafile)
            if self.insecure:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self._ctx = ctx
        return self._ctx


class Transcript:
    def __init__(self):
        self.t0 = time.monotonic()
        self.entries = []

    def add(self, direction, data=b"", note="", secret=False):
        e = {"t_ms": round((time.monotonic() - self.t0) * 1000, 1), "dir": direction,
             "len": len(data), "hex": "" if secret else data[:HEX_LIMIT].hex()}
        if secret:
            note = (note + " " if note else "") + "(carries credentials: bytes not recorded)"
        if len(data) > HEX_LIMIT:
            e["truncated"] = True
        if note:
            e["note"] = note
        self.entries.append(e)

    def note(self, text):
        self.add("note", b"", text)


class Conn:
    """One TCP (or TLS) connection with recorded traffic."""

    def __init__(self, target, transcript, connect_timeout=None):
        self.target, self.tr = target, transcript
        self.closed = False
        timeout = connect_timeout or target.timeout
        try:
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise Unreachable("dns", f"cannot resolve {target.host}: {e.strerror}") from None
        err = None
        self.sock = None
        for family, stype, proto, _, addr in infos:
            s = socket.socket(family, stype, proto)
            s.settimeout(timeout)
            try:
                s.connect(addr)
                self.sock = s
                break
            except ConnectionRefusedError:
                err = Unreachable("tcp", f"connection refused by {target.host}:{target.port}")
            except OSError as e:
                err = Unreachable("tcp", f"cannot connect to {target.host}:{target.port}: "
                                  f"{e.strerror or e}")
            s.close()
        if self.sock is None:
            raise err
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if target.tls:
            try:
                self.sock = target.ssl_context().wrap_socket(self.sock, server_hostname=target.host)
            except ssl.SSLError as e:
                self.sock.close()
                raise Unreachable("tls", e.reason or str(e)) from None
            except (OSError, socket.timeout) as e:
                self.sock.close()
                raise Unreachable("tls", f"handshake failed: {e}") from None
        self.tr.note(f"connected to {target.host}:{target.port}{' (TLS)' if target.tls else ''}")

    def send(self, data, note="", secret=False):
        self.tr.add("out", data, note, secret)
        try:
            # recv() leaves short timeouts behind; a big write needs the full one
            self.sock.settimeout(max(self.target.timeout, 5.0))
            self.sock.sendall(data)
            return True
        except OSError as e:
            self.tr.note(f"send failed: {e}")
            return False

    def recv(self, timeout):
        """Bytes, b'' at EOF or reset, None on timeout."""
        if self.closed:
            return b""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            return None
        except ssl.SSLWantReadError:
            return None
        except (ConnectionResetError, BrokenPipeError) as e:
            self.tr.note(f"connection reset ({e.__class__.__name__})")
            self.closed = True
            return b""
        except OSError as e:
            if e.errno in (errno.ECONNRESET, errno.EPIPE):
                self.tr.note("connection reset")
                self.closed = True
                return b""
            if isinstance(e, ssl.SSLError):
                self.tr.note(f"TLS error: {e}")
                self.closed = True
                return b""
            raise
        if not data:
            self.tr.note("TCP closed by the server")
            self.closed = True
        return data

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True


class Event:
    """packet (data=bytes), close (code, reason), eof, timeout, text (data)."""
    __slots__ = ("kind", "data", "code", "reason")

    def __init__(self, kind, data=None, code=None, reason=""):
        self.kind, self.data, self.code, self.reason = kind, data, code, reason

    def __repr__(self):
        return f"Event({self.kind}, code={self.code})"


class HandshakeRefused(Exception):
    def __init__(self, response):
        super().__init__(f"HTTP {response.status} {response.reason}")
        self.response = response


class WsClient:
    """A WebSocket client that can also send anything at all. Server pings are
    answered and otherwise ignored; binary messages are reassembled and split
    into MQTT packets whatever the server's framing; violations by the server
    (text frames, masked frames, RSV bits) are counted."""

    def __init__(self, target, transcript, version=4):
        self.target, self.tr, self.version = target, transcript, version
        self.conn = None
        self.response = None
        self.frames = ws.FrameParser()
        self.reader = mqtt.PacketReader()
        self.pending = []
        self.msg_op = None
        self.text_frames = 0
        self.masked_frames = 0
        self.rsv_frames = 0
        self.server_frames = []
        self.pongs = []
        self.close_received = None
        self.close_sent = False
        self.auto_pong = True
        self.bad_response = None

    # --- connection and handshake
    def connect_tcp(self):
        self.conn = Conn(self.target, self.tr)
        return self.conn

    def send_raw(self, data, note="", secret=False):
        return self.conn.send(data, note, secret)

    def read_response(self, timeout=None):
        """Reads the HTTP response head; returns Response or None (EOF/timeout)."""
        buf = bytearray()
        deadline = time.monotonic() + (timeout or self.target.timeout)
        while True:
            try:
                got = ws.parse_response_head(buf)
            except ValueError as e:
                self.tr.note(f"not an HTTP response: {e}")
                self.bad_response = bytes(buf)
                return None
            if got:
                self.response, rest = got
                if rest:
                    self._feed(rest)
                return self.response
            left = deadline - time.monotonic()
            if left <= 0:
                self.tr.note("no complete HTTP response before the timeout")
                return None
            data = self.conn.recv(left)
            if data is None:
                continue
            if not data:
                return None
            self.tr.add("in", data, "HTTP response" if not buf else "")
            buf += data

    def open(self, protocols=("mqtt",), path=None, extra=()):
        """TCP/TLS connect + a valid Upgrade request. Raises HandshakeRefused on non-101."""
        self.connect_tcp()
        req, key = ws.build_request(self.target.host_header, path or self.target.path,
                                    protocols=protocols, extra=extra)
        self.key = key
        self.send_raw(req, "Upgrade request")
        resp = self.read_response()
        if resp is None:
            raise Unreachable("http", "no HTTP response to the Upgrade request")
        if resp.status != 101:
            raise HandshakeRefused(resp)
        return resp

    # --- sending
    def send_frame(self, opcode, payload=b"", note="", secret=False, **kw):
        data = ws.encode_frame(opcode, payload, **kw)
        if opcode == ws.OP_CLOSE:
            self.close_sent = True
        return self.send_raw(data, note or f"frame {ws.OPCODE_NAMES.get(opcode, opcode)} len={len(payload)}", secret)

    def send_mqtt(self, pkt, note=None, **kw):
        return self.send_frame(ws.OP_BINARY, pkt, note or mqtt.describe(pkt, self.version), **kw)

    def send_close(self, code=1000, reason=b""):
        return self.send_frame(ws.OP_CLOSE, ws.close_payload(code, reason), f"close {code}")

    # --- receiving
    def _feed(self, data):
        try:
            frames = self.frames.feed(data)
        except ValueError as e:
            self.pending.append(Event("badframe", data, reason=str(e)))
            return
        for f in frames:
            self.server_frames.append(f)
            if f.masked:
                self.masked_frames += 1
            if f.rsv:
                self.rsv_frames += 1
            if f.opcode == ws.OP_PING:
                if self.auto_pong and not self.close_sent and not self.conn.closed:
                    self.send_raw(ws.encode_frame(ws.OP_PONG, f.payload), "pong (answer to ping)")
                continue
            if f.opcode == ws.OP_PONG:
                self.pongs.append(f.payload)
                continue
            if f.opcode == ws.OP_CLOSE:
                self.close_received = f
                self.pending.append(Event("close", f.payload, f.close_code(), f.close_reason()))
                continue
            op = f.opcode
            if op == ws.OP_CONT:
                op = self.msg_op
            elif not f.fin:
                self.msg_op = op
            if op == ws.OP_TEXT or op not in (ws.OP_BINARY, ws.OP_TEXT):
                self.text_frames += op == ws.OP_TEXT
                self.pending.append(Event("text" if op == ws.OP_TEXT else "badframe", f.payload))
                continue
            try:
                for pkt in self.reader.feed(f.payload):
                    self.pending.append(Event("packet", pkt))
            except mqtt.Malformed as e:
                self.pending.append(Event("badframe", f.payload, reason=str(e)))

    def next_event(self, timeout):
        deadline = time.monotonic() + timeout
        while not self.pending:
            if self.conn.closed:
                return Event("eof")
            left = deadline - time.monotonic()
            if left <= 0:
                return Event("timeout")
            data = self.conn.recv(left)
            if data is None:
                continue
            if not data:
                return Event("eof")
            before = len(self.pending)
            self._feed(data)
            self.tr.add("in", data, "; ".join(self._describe(e) for e in self.pending[before:]))
        return self.pending.pop(0)

    def _describe(self, e):
        if e.kind == "packet":
            return mqtt.describe(e.data, self.version)
        if e.kind == "close":
            return f"close frame code={e.code}"
        return e.kind

    def close(self):
        if self.conn:
            self.conn.close()


class Outcome:
    """What a target did after an input: the MQTT reaction and the WebSocket
    close, kept apart."""

    def __init__(self):
        self.accepted = False       # a later PINGREQ was answered
        self.close_code = None      # close frame code (0: close frame without code)
        self.disconnect = None      # 5.0 DISCONNECT reason code
        self.connack = None         # CONNACK return/reason code
        self.eof = False
        self.silent = False
        self.packets = []           # other packets seen

    @property
    def refused(self):
        return not self.accepted and (self.close_code is not None or self.eof or
                                      self.disconnect is not None or
                                      (self.connack is not None and self.connack != 0))

    def summary(self):
        bits = []
        if self.connack is not None:
            bits.append(f"CONNACK code 0x{self.connack:02x}")
        if self.disconnect is not None:
            bits.append(f"DISCONNECT reason 0x{self.disconnect:02x}")
        if self.close_code is not None:
            bits.append(f"close frame {self.close_code or '(no code)'}")
        if self.eof:
            bits.append("TCP closed")
        if self.accepted:
            bits.append("PINGREQ answered (input accepted)")
        if self.silent:
            bits.append("no reaction before the timeout")
        return ", ".join(bits) or "nothing"


class MqttClient:
    """MQTT on top of WsClient: connect, send, expect, and judge reactions."""

    def __init__(self, ws_client, version=4):
        self.ws, self.version = ws_client, version
        ws_client.version = version
        self.connack = None
        self.stash = []  # PUBLISH packets read while waiting for something else

    @property
    def tr(self):
        return self.ws.tr

    def send(self, pkt, note=None, **kw):
        return self.ws.send_mqtt(pkt, note, **kw)

    def connect(self, client_id, clean=True, keepalive=60, will=None, props=None, username=None,
                password=None, expect_ok=True):
        t = self.ws.target
        if username is None and t.username is not None:
            username, password = t.username, t.password
        self.send(mqtt.connect(self.version, client_id, clean, keepalive, will, username, password, props),
                  secret=password is not None)
        d = self.expect("CONNACK")
        self.connack = d
        if expect_ok and d["code"] != 0:
            raise CaseError(f"CONNECT refused with code 0x{d['code']:02x}")
        return d

    def recv(self, timeout=None, skip=("PINGRESP",)):
        """Next packet as a dict (skipping `skip` types), or an Event for close/eof/timeout."""
        if self.stash:
            return self.stash.pop(0)
        timeout = self.ws.target.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            e = self.ws.next_event(max(deadline - time.monotonic(), 0))
            if e.kind != "packet":
                return e
            try:
                d = mqtt.decode(e.data, self.version)
            except (mqtt.Malformed, KeyError) as err:
                raise CaseError(f"undecodable packet from the server: {err}: {e.data.hex()}") from None
            if d["type"] in skip:
                continue
            return d

    def expect(self, ptype, timeout=None):
        """The next packet of type `ptype`; PUBLISH packets that come first are
        kept for later recv() calls (the server may deliver before it acks)."""
        timeout = self.ws.target.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        held = []
        while True:
            d = self._recv_raw(max(deadline - time.monotonic(), 0), ptype)
            if isinstance(d, dict) and d["type"] == "PUBLISH" and ptype != "PUBLISH":
                held.append(d)
                continue
            break
        self.stash.extend(held)
        if isinstance(d, Event):
            raise Expectation(f"{ptype}", f"{d.kind}" + (f" (close code {d.code})" if d.code else ""))
        if d["type"] != ptype:
            raise Expectation(ptype, d["type"] + (f" code 0x{d['code']:02x}" if "code" in d else ""))
        return d

    def _recv_raw(self, timeout, want):
        skip = () if want == "PINGRESP" else ("PINGRESP",)
        while True:
            e = self.ws.next_event(timeout)
            if e.kind != "packet":
                return e
            try:
                d = mqtt.decode(e.data, self.version)
            except (mqtt.Malformed, KeyError) as err:
                raise CaseError(f"undecodable packet from the server: {err}: {e.data.hex()}") from None
            if d["type"] not in skip:
                return d

    def collect(self, timeout, until=None):
        """Packets until `timeout` passes, or until a packet makes until(d) true."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            d = self.recv(left)
            if isinstance(d, Event):
                if d.kind == "timeout":
                    return out
                out.append(d)
                return out
            out.append(d)
            if until and until(d):
                return out

    def outcome(self, timeout=None, probe=True, until_close=False, own_pingresps=0):
        """Judges how the target reacted to what was just sent: sends a PINGREQ
        (if `probe`) and reads until the connection closes, a PINGRESP comes, or
        the timeout passes. PINGRESP = accepted; close frame, DISCONNECT, a
        refusing CONNACK or TCP close = refused."""
        timeout = self.ws.target.timeout if timeout is None else timeout
        o = Outcome()
        if probe:
            self.ws.send_mqtt(mqtt.pingreq(), "PINGREQ (probe: is the connection still accepted?)")
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                o.silent = not (o.refused or o.accepted)
                return o
            e = self.ws.next_event(left)
            if e.kind == "timeout":
                continue
            if e.kind == "eof":
                o.eof = True
                return o
            if e.kind == "close":
                o.close_code = e.code or 0
                if not self.ws.close_sent and not self.ws.conn.closed:
                    self.ws.send_close(e.code or 1000)
                # wait briefly for the TCP close that should follow
                e2 = self.ws.next_event(min(1.0, max(deadline - time.monotonic(), 0.05)))
                o.eof = e2.kind == "eof"
                return o
            if e.kind != "packet":
                continue
            try:
                d = mqtt.decode(e.data, self.version)
            except (mqtt.Malformed, KeyError):
                o.packets.append({"type": "UNDECODABLE", "hex": e.data.hex()})
                continue
            if d["type"] == "PINGRESP" and own_pingresps > 0:
                own_pingresps -= 1  # the answer to a PINGREQ inside the input, not to the probe
                o.packets.append(d)
            elif d["type"] == "PINGRESP" and until_close:
                o.packets.append(d)
            elif d["type"] == "PINGRESP":
                if not o.refused:
                    o.accepted = True
                    return o
            elif d["type"] == "DISCONNECT":
                o.disconnect = d["code"]
            elif d["type"] == "CONNACK":
                o.connack = d["code"]
                self.connack = d
                if d["code"] == 0 and not probe and not until_close:
                    o.accepted = True
                    return o
            else:
                o.packets.append(d)

    def disconnect(self):
        try:
            self.send(mqtt.disconnect(self.version))
            self.ws.send_close(1000)
        except OSError:
            pass


class CaseError(Exception):
    """The suite could not run the case (verdict error)."""


class Expectation(Exception):
    """An expected packet or event did not come: the case decides the verdict."""

    def __init__(self, expected, observed):
        super().__init__(f"expected {expected}, observed {observed}")
        self.expected, self.observed = expected, observed
