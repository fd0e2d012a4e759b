"""A deliberately misbehaving MQTT-over-WebSocket broker for the suite's own tests.

With no switch it follows the rules the suite checks (well enough for the
semantic cases: QoS 0/1/2, retained, will, sessions, keep alive, the 5.0
features). Each switch breaks exactly one rule, so a test can show that the
cases mapped to that rule fail, and only then.

Byte-level refusals of the vector inputs come from the vectors themselves (an
oracle keyed by the exact bytes): this target exists to exercise the suite's
judging, not to be a second reference decoder. Threads, one per connection;
listens on 127.0.0.1 and a free port.
"""
import base64
import json
import os
import re
import socket
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from mqws_conformance import mqtt, ws  # noqa: E402

VECTORS = os.path.normpath(os.path.join(HERE, "..", "..", "vectors"))

SWITCHES = {
    "text_ok": "text frames are accepted like binary ones (MQTT-6.0.0-1)",
    "send_text": "the server sends PUBLISH packets in text frames (MQTT-6.0.0-1)",
    "echo_list": "the offered Sec-WebSocket-Protocol list is echoed (RFC6455-4.2.2)",
    "prefer_legacy": "'mqttv3.1' is preferred over 'mqtt' (MQTT-6.0.0-4)",
    "bad_accept": "a wrong Sec-WebSocket-Accept (RFC6455-4.2.2)",
    "any_version": "any Sec-WebSocket-Version is upgraded (RFC6455-4.4)",
    "lenient_http": "malformed Upgrade requests are upgraded (RFC6455-4.2.1)",
    "unmasked_ok": "unmasked client frames are accepted (RFC6455-5.1)",
    "rsv_ok": "RSV bits and reserved opcodes are ignored (RFC6455-5.2)",
    "masked_server": "the server masks its own frames (RFC6455-5.1)",
    "no_pong": "pings are not answered (RFC6455-5.5.2)",
    "close_no_echo": "a close frame is not answered (RFC6455-5.5.1)",
    "odd_split": "the server splits and coalesces its packets at odd points (harmless)",
    "accept_invalid_packets": "malformed MQTT packets are accepted (MQTT-4.8.0-1)",
    "qos2_dup": "a re-sent QoS 2 PUBLISH is delivered again (MQTT-4.3.3-2)",
    "no_will": "the will is never published (MQTT-3.1.2-8)",
    "will_on_disconnect": "the will is published even after DISCONNECT (MQTT-3.1.2-10)",
    "no_keepalive": "Keep Alive is not enforced (MQTT-3.1.2-24)",
    "no_retain": "retained messages are not kept (MQTT-3.3.1-5)",
    "no_redelivery": "unacknowledged messages are not re-sent on reconnect (MQTT-4.4.0-1)",
    "no_dup_flag": "re-sent messages have DUP 0 (MQTT-3.3.1-1)",
    "ignore_receive_max": "the client's Receive Maximum is ignored (MQTT-3.3.4-7)",
    "ignore_max_packet": "the client's Maximum Packet Size is ignored (MQTT-3.1.2-24)",
    "ignore_no_local": "No Local is ignored (MQTT-3.8.3-3)",
    "no_sub_ids": "Subscription Identifiers are not sent (MQTT-3.3.4-3)",
    "no_sessions": "sessions end with the connection whatever the client asked (MQTT-3.1.2-4)",
    "second_connect_ok": "a second CONNECT is ignored (MQTT-3.1.0-2)",
    "first_packet_any": "packets before CONNECT are processed (MQTT-3.1.0-1)",
    "qos3_ok": "a PUBLISH with QoS 3 is accepted as QoS 2 (MQTT-3.3.1-4)",
    "plus_multilevel": "'+' matches several levels (MQTT-4.7.1-2)",
    "dollar_match": "wildcard filters match '$' topics (MQTT-4.7.2-1)",
    "keep_unsubscribed": "UNSUBSCRIBE is acknowledged but the subscription stays (MQTT-3.10.4-1)",
    "no_takeover": "a second connection with the same ClientId leaves the first open (MQTT-3.1.4-2)",
    "alias_unchecked": "Topic Alias 0 and aliases above the maximum are accepted (MQTT-3.3.2-8)",
    "no_message_expiry": "Message Expiry is ignored (MQTT-3.3.2-5)",
    "sessions_never_expire": "Session Expiry is ignored: sessions stay (MQTT-3.1.2-23)",
    "no_assigned_id": "no Assigned Client Identifier for an empty ClientId (MQTT-3.2.2-16)",
    "drop_user_properties": "User Properties are not forwarded (MQTT-3.3.2-17)",
    "no_qos_downgrade": "messages keep the publish QoS whatever the subscription granted (MQTT-3.3.4-2)",
    "retain_flag_forwarded": "RETAIN stays 1 when forwarded to existing subscribers (MQTT-3.3.1-9)",
    "empty_retained_kept": "an empty retained message is stored instead of clearing (MQTT-3.3.1-10)",
    "early_keepalive": "the connection is closed after half the Keep Alive (MQTT-3.1.2-24)",
    "suback_wrong_id": "SUBACK carries another Packet Identifier (MQTT-3.8.4-2)",
    "pubcomp_no_reason": "PUBCOMP for an unknown id has reason 0x00 (reason codes, 5.0)",
    "one_packet_per_frame": "only the first MQTT packet of each frame is processed (MQTT-6.0.0-2)",
    "packet_per_message": "each WebSocket message is taken as one whole packet (MQTT-6.0.0-2)",
    "no_fragments": "fragmented messages close the connection (RFC6455-5.4)",
    "control_unchecked": "long and fragmented control frames are accepted (RFC6455-5.5)",
    "continuation_unchecked": "continuation rules are not checked (RFC6455-5.4)",
    "length_unchecked": "non-minimal frame lengths are accepted (RFC6455-5.2)",
    "close_code_unchecked": "any close code is echoed (RFC6455-7.4.1)",
    "empty_frame_refused": "an empty binary frame closes the connection (MQTT-6.0.0-2)",
    "session_present_always": "CONNACK always says Session Present 1 (MQTT-3.2.2-1)",
    "ping_no_reset": "PINGREQ does not reset the Keep Alive timer (MQTT-3.1.2-24)",
    "reorder": "every other message is held back and sent after the next (MQTT-4.6.0-6)",
    "no_unsuback_unknown": "UNSUBSCRIBE of an unknown filter gets no UNSUBACK (MQTT-3.10.4-4)",
    "unsuback_no_reason": "UNSUBACK says 0x00 for a filter that was not subscribed (reason codes, 5.0)",
    "alias_forgotten": "Topic Aliases are not remembered (MQTT-3.3.2-12)",
    "alias_shared": "Topic Aliases are shared by all connections (MQTT-3.3.2-7)",
    "server_alias": "the server sends Topic Aliases to clients that allowed none (MQTT-3.1.2-27)",
    "retain_handling_ignored": "Retain Handling 1 and 2 act like 0 (MQTT-3.3.1-10/-11)",
    "rap_ignored": "Retain As Published is ignored (MQTT-3.3.1-13)",
    "qos0_dup": "QoS 0 messages are sent with DUP 1 (MQTT-3.3.1-2)",
    "puback_wrong_id": "PUBACK carries another Packet Identifier (MQTT-4.3.2-1)",
    "no_pubcomp": "PUBREL is not answered (MQTT-4.3.3-1)",
    "echo_extensions": "the offered extensions are echoed (RFC6455-4.2.2)",
    "no_pingresp": "PINGREQ is not answered (MQTT-3.12.4-1)",
    "pingresp_before_connack": "a PINGRESP is sent before the CONNACK (MQTT-3.2.0-1)",
    "omit_subprotocol": "the 101 response names no subprotocol (MQTT-6.0.0-4)",
    "lenient_subprotocol": "clients offering no 'mqtt' are upgraded without a subprotocol (strict reading of 6.0.0-4)",
    "first_case_insensitive": "the first value matching 'mqtt' in any case is selected (MQTT-6.0.0-4)",
    "raw_mqtt": "raw MQTT without a WebSocket handshake is served on the WebSocket port",
    "top_bit_ok": "a 64-bit frame length with the top bit set is not refused (RFC6455-5.2)",
    "dies_on_huge_length": "a 256 MiB remaining length stops the listener (robustness)",
    "dies_on_huge_frame": "a frame header claiming 2^40 bytes or more stops the listener (robustness)",
    "fragile_on_431": "the listener stops after refusing an oversized request head (robustness)",
    "fragile_on_garbage": "the listener stops after bytes that are not an HTTP request (robustness)",
    "will_delay_ignored": "the will is published at once, whatever its Will Delay Interval (MQTT-3.1.3-9)",
    "announce_max_packet": "the server announces and enforces a Maximum Packet Size of 1000 (5.0)",
    "unenforced_max_packet": "the server announces a Maximum Packet Size of 1000 but accepts larger packets (MQTT-3.2.2-15)",
}


def _load_oracle():
    hs, pk = {}, {}
    with open(os.path.join(VECTORS, "handshake", "server_requests.json"), encoding="utf-8") as f:
        for g in json.load(f)["testGroups"]:
            p = g.get("params") or {}
            if p.get("policy") or p.get("max_bytes") or p.get("path") not in (None, "/mqtt"):
                continue
            for t in g["tests"]:
                raw = bytes.fromhex(t["input"]) if "input" in t else t["text"].encode("latin-1")
                if p.get("path") is None:
                    hs[raw] = t["expect"]
                elif t["expect"].get("error") != "HS_PATH":
                    # the served-path group: only what is wrong whatever the path (this
                    # target serves /mqtt; bytes an any-path vector also uses keep its answer)
                    hs.setdefault(raw, t["expect"])
    for rel in ("v311.json", "v5.json"):
        with open(os.path.join(VECTORS, "mqtt", rel), encoding="utf-8") as f:
            for g in json.load(f)["testGroups"]:
                if "max_packet_size" in g["params"]:
                    continue
                for t in g["tests"]:
                    pk[(g["params"]["version"], bytes.fromhex(t["input"]))] = (t["result"], t["expect"])
    return hs, pk


HS_ORACLE, PKT_ORACLE = _load_oracle()


class Session:
    def __init__(self, cid):
        self.cid = cid
        self.subs = {}           # filter -> (options, subscription id)
        self.queue = []          # messages waiting while offline or over receive maximum
        self.out = {}            # packet id -> [msg, state] for unacknowledged QoS 1/2
        self.qos2_in = set()     # incoming QoS 2 ids between PUBREC and PUBREL
        self.next_pid = 1
        self.conn = None
        self.expiry = 0
        self.persistent = False
        self.expire_at = None


def topic_matches(flt, topic, sw=()):
    if topic.startswith("$") and flt[:1] in ("+", "#") and "dollar_match" not in sw:
        return False
    if "plus_multilevel" in sw and "+" in flt:
        pat = "/".join(".+" if p == "+" else ".*" if p == "#" else re.escape(p) for p in flt.split("/"))
        return re.fullmatch(pat, topic) is not None
    f, t = flt.split("/"), topic.split("/")
    for i, part in enumerate(f):
        if part == "#":
            return True
        if i >= len(t):
            return False
        if part != "+" and part != t[i]:
            return False
    return len(f) == len(t)


class Conn(threading.Thread):
    def __init__(self, broker, sock):
        super().__init__(daemon=True)
        self.b, self.sock = broker, sock
        self.sw = broker.switches
        self.lock = threading.Lock()
        self.frames = ws.FrameParser()
        self.reader = mqtt.PacketReader()
        self.version = 4
        self.session = None
        self.will = None
        self.keepalive = 0
        self.last = time.monotonic()
        self.closed = False
        self.msg_op = None
        self.close_sent = False
        self.aliases = {}
        self.client_receive_max = 65535
        self.client_max_packet = None
        self.connected = False

    # ------------------------------------------------------------ output
    def send_bytes(self, data):
        try:
            with self.lock:
                # nothing follows a close frame (RFC 6455 5.5.1), whichever thread sends:
                # a delivery racing the close is checked here, under the lock
                if self.close_sent:
                    return
                self.sock.sendall(data)
        except OSError:
            self.closed = True

    def send_close(self, payload):
        """Sends the one close frame; every later send is dropped."""
        try:
            with self.lock:
                if self.close_sent:
                    return
                self.close_sent = True
                self.sock.sendall(self.frame(ws.OP_CLOSE, payload))
        except OSError:
            self.closed = True

    def frame(self, op, payload):
        return ws.encode_frame(op, payload, mask=bool("masked_server" in self.sw))

    def send_pkt(self, pkt):
        if self.closed:
            return
        op = ws.OP_TEXT if "send_text" in self.sw and pkt[0] >> 4 == mqtt.PUBLISH else ws.OP_BINARY
        if "odd_split" in self.sw and len(pkt) > 2:
            cut = max(1, len(pkt) // 3)
            self.send_bytes(ws.encode_frame(op, pkt[:cut], fin=False, mask=False)
                            + ws.encode_frame(ws.OP_CONT, pkt[cut:cut + 1], fin=False, mask=False))
            self.send_bytes(ws.encode_frame(ws.OP_CONT, pkt[cut + 1:], mask=False))
            return
        self.send_bytes(self.frame(op, pkt))

    def fail(self, code=1002, reason_code=None):
        """Ends the connection: optional DISCONNECT (5.0), a close frame, TCP close."""
        if self.closed:
            return
        if reason_code is not None and self.version == 5 and self.connected:
            self.send_pkt(mqtt.disconnect(5, reason_code))
        if code:
            self.send_close(struct.pack(">H", code))
        self.shutdown()

    def shutdown(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    # ------------------------------------------------------------ handshake
    def handshake(self):
        buf = b""
        self.sock.settimeout(10)
        while b"\r\n\r\n" not in buf and b"\n\n" not in buf:
            try:
                d = self.sock.recv(65536)
            except OSError:
                return None
            if not d:
                return None
            buf += d
            if "raw_mqtt" in self.sw and buf[:1] == b"\x10":
                self.send_bytes(mqtt.connack(False, 0, 4))
                return None
            if len(buf) > 8192 and b"\r\n\r\n" not in buf:
                return self.too_large()
        if b"\r\n\r\n" not in buf:
            exp = HS_ORACLE.get(buf)
            self.send_bytes(f"HTTP/1.1 {exp['status'] if exp else 400} Refused\r\nContent-Length: 0\r\n\r\n".encode())
            return None
        head, _, rest = buf.partition(b"\r\n\r\n")
        if len(head) + 4 > 8192 and head + b"\r\n\r\n" not in HS_ORACLE:
            return self.too_large()
        if not head.startswith(b"GET ") and not HS_ORACLE.get(head + b"\r\n\r\n") and "fragile_on_garbage" in self.sw:
            self.b.kill_listener()
        exp = HS_ORACLE.get(head + b"\r\n\r\n") or HS_ORACLE.get(buf)
        if exp and exp.get("status", 101) != 101 and "lenient_http" not in self.sw:
            if exp["status"] == 426 and "any_version" in self.sw:
                pass
            else:
                extra = "Sec-WebSocket-Version: 13\r\n" if exp["status"] == 426 else ""
                self.send_bytes(f"HTTP/1.1 {exp['status']} Refused\r\n{extra}Content-Length: 0\r\n\r\n".encode())
                return None
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        fields = {}
        protos = []
        for line in lines[1:]:
            n, sep, v = line.partition(":")
            if not sep:
                continue
            n = n.strip().lower()
            fields.setdefault(n, []).append(v.strip())
            if n == "sec-websocket-protocol":
                protos += [p.strip() for p in v.split(",") if p.strip()]

        def refuse(status, extra=""):
            self.send_bytes(f"HTTP/1.1 {status} Refused\r\n{extra}Content-Length: 0\r\n\r\n".encode())
            return None

        lenient = "lenient_http" in self.sw
        if not lenient and (len(parts) != 3 or parts[0] != "GET" or not parts[2].startswith("HTTP/1.")
                            or parts[2] == "HTTP/1.0"):
            return refuse(400)
        if not lenient and len(fields.get("host", [])) != 1:
            return refuse(400)
        if "websocket" not in [x.strip().lower() for v in fields.get("upgrade", []) for x in v.split(",")]:
            return refuse(400)
        if "upgrade" not in [x.strip().lower() for v in fields.get("connection", []) for x in v.split(",")]:
            return refuse(400)
        keys = fields.get("sec-websocket-key", [])
        try:
            ok_key = len(keys) == 1 and len(base64.b64decode(keys[0], validate=True)) == 16
        except ValueError:
            ok_key = False
        if not ok_key and not lenient:
            return refuse(400)
        if fields.get("sec-websocket-version") != ["13"] and "any_version" not in self.sw:
            return refuse(426, "Sec-WebSocket-Version: 13\r\n")
        ci = [p for p in protos if p.lower() == "mqtt"]
        if "echo_list" in self.sw and protos:
            sel = ", ".join(protos)
        elif "first_case_insensitive" in self.sw and ci:
            sel = ci[0]
        elif "prefer_legacy" in self.sw and "mqttv3.1" in protos:
            sel = "mqttv3.1"
        elif "mqtt" in protos:
            sel = "mqtt"
        elif "lenient_subprotocol" in self.sw:
            sel = None
        else:
            return refuse(400)
        if "omit_subprotocol" in self.sw:
            sel = None
        acc = ws.accept_for(keys[0] if keys else "x")
        if "bad_accept" in self.sw:
            acc = ws.accept_for("bad" + (keys[0] if keys else ""))
        self.send_bytes((f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         f"Sec-WebSocket-Accept: {acc}\r\n" + (f"Sec-WebSocket-Protocol: {sel}\r\n" if sel else "")
                         + "".join(f"Sec-WebSocket-Extensions: {v}\r\n" for v in fields.get("sec-websocket-extensions", [])
                                   if "echo_extensions" in self.sw) + "\r\n").encode())
        return rest

    def too_large(self):
        if "fragile_on_431" in self.sw:
            self.b.kill_listener()  # before the answer: the suite's next connection must find it gone
        self.send_bytes(b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n")
        return None

    # ------------------------------------------------------------ main loop
    def run(self):
        try:
            rest = self.handshake()
            if rest is None:
                self.shutdown()
                return
            self.sock.settimeout(0.1)
            if rest:
                self.on_bytes(rest)
            while not self.closed:
                if self.keepalive and "no_keepalive" not in self.sw and \
                        time.monotonic() - self.last > (0.5 if "early_keepalive" in self.sw else 1.5) * self.keepalive:
                    self.fail(1000, 0x8D)
                    break
                try:
                    d = self.sock.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not d:
                    break
                self.on_bytes(d)
        finally:
            if not self.closed:
                self.shutdown()
            self.b.gone(self)

    def on_bytes(self, data):
        fb = self.frames.buf + data
        if "dies_on_huge_frame" in self.sw and len(fb) >= 10 and fb[1] & 0x7F == 127 and \
                struct.unpack(">Q", bytes(fb[2:10]))[0] >= 1 << 40:
            self.b.kill_listener()
        try:
            frames = self.frames.feed(data)
        except ValueError:
            if "top_bit_ok" in self.sw:
                self.frames.buf.clear()
                return
            return self.fail(1002)
        for f in frames:
            if self.closed:
                return
            self.on_frame(f)

    def on_frame(self, f):
        sw = self.sw
        if self.close_sent:
            return self.shutdown()
        if not f.masked and "unmasked_ok" not in sw:
            return self.fail(1002)
        if (f.rsv or f.opcode in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF)) and "rsv_ok" not in sw:
            return self.fail(1002)
        if f.opcode in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF):
            return
        raw_n = f.raw_len - len(f.payload) - (4 if f.masked else 0)
        n = len(f.payload)
        if ((raw_n == 4 and n < 126) or (raw_n == 10 and n < 65536)) and "length_unchecked" not in sw:
            return self.fail(1002)
        if f.opcode >= 8:
            if (len(f.payload) > 125 or not f.fin) and "control_unchecked" not in sw:
                return self.fail(1002)
            if f.opcode == ws.OP_PING:
                if "no_pong" not in sw:
                    self.send_bytes(self.frame(ws.OP_PONG, f.payload))
                return
            if f.opcode == ws.OP_PONG:
                return
            code = f.close_code()
            if len(f.payload) == 1:
                return self.fail(1002)
            if code is not None and (code < 1000 or code in (1004, 1005, 1006, 1015) or 1016 <= code < 3000
                                     or code >= 5000) and "close_code_unchecked" not in sw:
                return self.fail(1002)
            try:
                f.payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                return self.fail(1007)
            self.abnormal = True
            if "close_no_echo" not in sw:
                self.send_close(f.payload[:2] if len(f.payload) < 126 else b"\x03\xe8")
            self.close_sent = True
            self.shutdown()
            return
        op = f.opcode
        if (op == ws.OP_CONT or not f.fin) and "no_fragments" in sw:
            return self.fail(1002)
        if "continuation_unchecked" in sw:
            op = ws.OP_BINARY if op == ws.OP_CONT else op
        elif op == ws.OP_CONT:
            if self.msg_op is None:
                return self.fail(1002)
            op = self.msg_op
        elif self.msg_op is not None:
            return self.fail(1002)
        self.msg_op = None if f.fin else op
        if not f.payload and "empty_frame_refused" in sw:
            return self.fail(1002)
        if op == ws.OP_TEXT and "text_ok" not in sw:
            return self.fail(1003)
        if "packet_per_message" in sw:
            self.msg_buf = getattr(self, "msg_buf", b"") + f.payload
            if not f.fin:
                return
            data, self.msg_buf = self.msg_buf, b""
            self.reader = mqtt.PacketReader()
            try:
                pkts = self.reader.feed(data)[:1] if data else []
            except mqtt.Malformed:
                return self.fail(1002, 0x81)
            self.reader = mqtt.PacketReader()
        else:
            try:
                pkts = self.reader.feed(f.payload)
                if "dies_on_huge_length" in sw and self.reader.buf[:5] == b"\x30\xff\xff\xff\x7f":
                    self.b.kill_listener()
            except mqtt.Malformed:
                return self.fail(1002, 0x81)
        if "one_packet_per_frame" in sw:
            pkts = pkts[:1]
        for p in pkts:
            if self.closed:
                return
            if len(p) > 1000 and "announce_max_packet" in sw and self.version == 5:
                return self.fail(1009, 0x95)
            if not ("ping_no_reset" in sw and p[0] >> 4 == mqtt.PINGREQ):
                self.last = time.monotonic()
            self.on_packet(p)

    # ------------------------------------------------------------ MQTT
    def on_packet(self, p):
        sw = self.sw
        ptype = p[0] >> 4
        version = self.version
        if ptype == mqtt.CONNECT and len(p) > 8 and p[2:8] == b"\x00\x04MQTT" and p[8] in (4, 5):
            version = p[8]
        oracle = PKT_ORACLE.get((version, p))
        if oracle and oracle[0] == "invalid" and "accept_invalid_packets" not in sw:
            rc = oracle[1].get("reason_code")
            if ptype == mqtt.CONNECT and not self.connected:
                self.version = version
                if rc:
                    self.send_pkt(mqtt.connack(False, rc, version))
                return self.fail(1002)
            return self.fail(1002, rc or 0x81)
        try:
            d = mqtt.decode(p, version)
        except (mqtt.Malformed, KeyError, IndexError):
            if "accept_invalid_packets" in sw:
                return
            return self.fail(1002, 0x81)
        t = d["type"]
        if not self.connected:
            if t != "CONNECT" and "first_packet_any" not in sw:
                return self.fail(1002)
            if t != "CONNECT":
                self.session = self.session or Session("pre-connect")
                handler = getattr(self, "on_" + t.lower(), None)
                return handler(d) if handler and t != "PUBLISH" else None
            return self.on_connect(d)
        if t == "CONNECT":
            if "second_connect_ok" in sw:
                return
            return self.fail(1002, 0x82)
        handler = getattr(self, "on_" + t.lower(), None)
        if handler is None:
            if "accept_invalid_packets" in sw:
                return
            return self.fail(1002, 0x82)
        handler(d)

    def on_connect(self, d):
        v = d["level"]
        if d["protocol_name"] != "MQTT" or v not in (4, 5):
            if d["protocol_name"] == "MQTT" and v not in (4, 5):
                self.send_pkt(mqtt.connack(False, 1, 4))
            return self.fail(1002)
        self.version = v
        props = dict(d["props"])
        cid = d["client_id"]
        assigned = None
        if not cid:
            if v == 4 and not d["clean"]:
                self.send_pkt(mqtt.connack(False, 2, 4))
                return self.fail(1002)
            cid = assigned = f"auto-{id(self):x}"
        self.keepalive = d["keepalive"]
        self.client_receive_max = props.get("receive_maximum", 65535)
        self.client_max_packet = props.get("maximum_packet_size")
        self.will = d.get("will")
        expiry = props.get("session_expiry", 0) if v == 5 else (0 if d["clean"] else 0xFFFFFFFF)
        if "no_sessions" in self.sw:
            expiry = 0
        present, s = self.b.attach(self, cid, d["clean"], expiry)
        self.session = s
        self.connected = True
        out = []
        if v == 5:
            out = [("topic_alias_maximum", 10), ("receive_maximum", 20)]
            if "announce_max_packet" in self.sw or "unenforced_max_packet" in self.sw:
                out.append(("maximum_packet_size", 1000))
            if assigned and "no_assigned_id" not in self.sw:
                out.append(("assigned_client_id", assigned))
        if "pingresp_before_connack" in self.sw:
            self.send_pkt(b"\xd0\x00")
        self.send_pkt(mqtt.connack(present or "session_present_always" in self.sw, 0, v, out))
        self.b.resend(s)

    def on_publish(self, d):
        v = self.version
        props = dict(d["props"])
        topic = d["topic"]
        if d["qos"] == 3 and "qos3_ok" in self.sw:
            d["qos"] = 2
        if d["qos"] == 3 or "+" in topic or "#" in topic:
            return self.fail(1002, 0x82)
        alias = props.get("topic_alias")
        if alias is not None:
            if (alias == 0 or alias > 10) and "alias_unchecked" not in self.sw:
                return self.fail(1002, 0x94)
            aliases = self.b.shared_aliases if "alias_shared" in self.sw else self.aliases
            if topic and "alias_forgotten" not in self.sw:
                aliases[alias] = topic
            elif not topic and alias in aliases:
                topic = aliases[alias]
            else:
                return self.fail(1002, 0x82)
        elif not topic:
            return self.fail(1002, 0x82)
        pid = d["packet_id"]
        deliver = True
        if d["qos"] == 2:
            if pid in self.session.qos2_in and "qos2_dup" not in self.sw:
                deliver = False
            self.session.qos2_in.add(pid)
        if deliver:
            drop = ("topic_alias", "subscription_id") + (("user_property",) if "drop_user_properties" in self.sw else ())
            fwd = [(n, x) for n, x in d["props"] if n not in drop]
            self.b.publish(self, topic, d["payload"], d["qos"], d["retain"], fwd)
        if d["qos"] == 1:
            self.send_pkt(mqtt.ack(mqtt.PUBACK, pid + 1 if "puback_wrong_id" in self.sw else pid, v))
        elif d["qos"] == 2:
            self.send_pkt(mqtt.ack(mqtt.PUBREC, pid, v))

    def on_pubrel(self, d):
        if "no_pubcomp" in self.sw:
            return
        known = d["packet_id"] in self.session.qos2_in
        self.session.qos2_in.discard(d["packet_id"])
        code = None if known or self.version == 4 or "pubcomp_no_reason" in self.sw else 0x92
        self.send_pkt(mqtt.ack(mqtt.PUBCOMP, d["packet_id"], self.version, code))

    def on_puback(self, d):
        self.b.acked(self.session, d["packet_id"], "PUBACK")

    def on_pubrec(self, d):
        self.b.acked(self.session, d["packet_id"], "PUBREC")
        self.send_pkt(mqtt.ack(mqtt.PUBREL, d["packet_id"], self.version))

    def on_pubcomp(self, d):
        self.b.acked(self.session, d["packet_id"], "PUBCOMP")

    def on_subscribe(self, d):
        props = dict(d["props"])
        sid = props.get("subscription_id")
        codes, retained = [], []
        for f, opts in d["filters"]:
            qos = opts & 3
            if qos == 3:
                return self.fail(1002, 0x82)
            new = f not in self.session.subs
            self.session.subs[f] = (opts, sid)
            codes.append(qos)
            rh = (opts >> 4) & 3 if self.version == 5 and "retain_handling_ignored" not in self.sw else 0
            if rh == 0 or (rh == 1 and new):
                retained += [(t, m) for t, m in self.b.retained_for(f)]
        pid = d["packet_id"] + 1 if "suback_wrong_id" in self.sw else d["packet_id"]
        self.send_pkt(mqtt.suback(pid, codes, self.version))
        for t, (payload, q, props_) in retained:
            opts, sid_ = self.session.subs.get(next(f for f, _ in d["filters"] if topic_matches(f, t, self.sw)), (1, None))
            self.b.enqueue(self.session, t, payload, min(q, opts & 3), True, props_, [sid_] if sid_ else [])

    def on_unsubscribe(self, d):
        codes = []
        if "no_unsuback_unknown" in self.sw and not any(f in self.session.subs for f, _ in d["filters"]):
            return
        for f, _ in d["filters"]:
            known = f in self.session.subs or "unsuback_no_reason" in self.sw
            if "keep_unsubscribed" not in self.sw:
                self.session.subs.pop(f, None)
            codes.append(0 if known else 0x11)
        self.send_pkt(mqtt.unsuback(d["packet_id"], codes, self.version))

    def on_pingreq(self, d):
        if "no_pingresp" not in self.sw:
            self.send_pkt(b"\xd0\x00")

    def on_disconnect(self, d):
        if self.version == 5 and d["code"] == 0x04:
            self.abnormal = True
        else:
            if "will_on_disconnect" not in self.sw:
                self.will = None
        props = dict(d["props"])
        if "session_expiry" in props and self.session:
            self.session.expiry = props["session_expiry"]
        self.shutdown()

    def on_auth(self, d):
        return self.fail(1002, 0x82)


class BadBroker:
    def __init__(self, switches=(), port=0):
        unknown = set(switches) - set(SWITCHES)
        if unknown:
            raise ValueError(f"unknown switches {unknown}")
        self.switches = set(switches)
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", port))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/mqtt"
        self.lock = threading.RLock()
        self.sessions = {}
        self.retained = {}
        self.shared_aliases = {}
        self.running = True

    def start(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def kill_listener(self):
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()

    def stop(self):
        self.running = False
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            conns = [s.conn for s in self.sessions.values() if s.conn]
        for c in conns:
            c.shutdown()

    def _accept(self):
        while self.running:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            Conn(self, s).start()

    # ------------------------------------------------------------ sessions
    def attach(self, conn, cid, clean, expiry):
        with self.lock:
            s = self.sessions.get(cid)
            if s and s.expire_at is not None and time.monotonic() > s.expire_at and \
                    "sessions_never_expire" not in self.switches:
                s = None
            old = s.conn if s else None
            if old is not None and old is not conn and "no_takeover" not in self.switches:
                old.will_takeover = True
                old.shutdown()
            present = bool(s) and not clean and s.persistent
            if not present:
                s = Session(cid)
                self.sessions[cid] = s
            s.conn, s.expiry, s.persistent, s.expire_at = conn, expiry, expiry > 0, None
            return present, s

    def gone(self, conn):
        with self.lock:
            s = conn.session
            if s and s.conn is conn:
                s.conn = None
                if s.expiry == 0 and "sessions_never_expire" in self.switches:
                    s.persistent = True
                elif s.expiry == 0:
                    self.sessions.pop(s.cid, None)
                elif s.expiry != 0xFFFFFFFF:
                    s.expire_at = time.monotonic() + s.expiry
            will = conn.will
        if will and conn.connected and "no_will" not in self.switches:
            wprops = [(n, v) for n, v in (will.get("props") or []) if n != "will_delay"]
            delay = dict(will.get("props") or []).get("will_delay", 0)
            if "will_delay_ignored" in self.switches:
                delay = 0

            def send_will():
                # a new connection to the session within the delay cancels the will
                if delay and s is not None and s.conn is not None:
                    return
                self.publish(None, will["topic"], will["payload"], will["qos"], will["retain"], wprops)
            if delay:
                timer = threading.Timer(delay, send_will)
                timer.daemon = True
                timer.start()
            else:
                send_will()

    def retained_for(self, flt):
        if "no_retain" in self.switches:
            return []
        with self.lock:
            return [(t, m) for t, m in self.retained.items() if topic_matches(flt, t, self.switches)]

    def publish(self, sender, topic, payload, qos, retain, props):
        with self.lock:
            if retain and "no_retain" not in self.switches:
                if payload or "empty_retained_kept" in self.switches:
                    self.retained[topic] = (payload, qos, props)
                else:
                    self.retained.pop(topic, None)
            targets = []
            for s in list(self.sessions.values()):
                best, sids, rap = None, [], False
                for f, (opts, sid) in s.subs.items():
                    if not topic_matches(f, topic, self.switches):
                        continue
                    if opts & 4 and sender is not None and s.conn is sender and "ignore_no_local" not in self.switches:
                        continue
                    best = max(best or 0, opts & 3)
                    rap = rap or (bool(opts & 8) and "rap_ignored" not in self.switches)
                    if sid:
                        sids.append(sid)
                if best is not None:
                    q = qos if "no_qos_downgrade" in self.switches else min(qos, best)
                    targets.append((s, q, sids, rap or "retain_flag_forwarded" in self.switches))
        expiry = None if "no_message_expiry" in self.switches else dict(props).get("message_expiry")
        until = time.monotonic() + expiry if expiry is not None else None
        for s, q, sids, rap in targets:
            self.enqueue(s, topic, payload, q, retain and rap, props, sids, until)

    def enqueue(self, s, topic, payload, qos, retain, props, sids, until=None):
        msg = {"topic": topic, "payload": payload, "qos": qos, "retain": retain, "props": props,
               "sids": [] if "no_sub_ids" in self.switches else sids, "until": until}
        with self.lock:
            if s.conn is None:
                if qos and s.persistent:
                    s.queue.append(msg)
                return
            s.queue.append(msg)
        self.flush(s)

    def flush(self, s):
        with self.lock:
            c = s.conn
            if c is None:
                return
            send = []
            while s.queue:
                inflight = sum(1 for m in s.out.values())
                m = s.queue[0]
                if m["qos"] and inflight >= c.client_receive_max and "ignore_receive_max" not in self.switches:
                    break
                s.queue.pop(0)
                if m["until"] is not None and time.monotonic() > m["until"]:
                    continue
                pid = None
                if m["qos"]:
                    pid = s.next_pid
                    s.next_pid = s.next_pid % 65535 + 1
                    s.out[pid] = [m, "PUBLISH"]
                send.append((m, pid))
        if "reorder" in self.switches:
            held = getattr(s, "held", [])
            if len(send) == 1 and not held:
                s.held = send
                return
            send, s.held = send + held, []
        for m, pid in send:
            self.send_publish(c, m, pid, dup=False)

    def send_publish(self, c, m, pid, dup):
        props = []
        if c.version == 5:
            props = [(n, v) for n, v in m["props"] if n != "message_expiry"]
            if m["until"] is not None:
                props.append(("message_expiry", max(0, int(m["until"] - time.monotonic()))))
            props += [("subscription_id", i) for i in m["sids"]]
        if c.version == 5 and "server_alias" in self.switches:
            props.append(("topic_alias", 1))
        dup = dup or (m["qos"] == 0 and "qos0_dup" in self.switches)
        pkt = mqtt.publish(m["topic"], m["payload"], m["qos"], m["retain"], dup, pid, c.version, props)
        if c.client_max_packet and len(pkt) > c.client_max_packet and "ignore_max_packet" not in self.switches:
            if pid:
                with self.lock:
                    c.session.out.pop(pid, None)
            return
        c.send_pkt(pkt)

    def acked(self, s, pid, kind):
        with self.lock:
            st = s.out.get(pid)
            if not st:
                return
            if kind == "PUBREC":
                st[1] = "PUBREL"
                return
            s.out.pop(pid, None)
        self.flush(s)

    def resend(self, s):
        if "no_redelivery" in self.switches:
            with self.lock:
                s.out.clear()
            self.flush(s)
            return
        with self.lock:
            items = sorted(s.out.items())
            c = s.conn
        for pid, (m, state) in items:
            if state == "PUBREL":
                c.send_pkt(mqtt.ack(mqtt.PUBREL, pid, c.version))
            else:
                self.send_publish(c, m, pid, dup="no_dup_flag" not in self.switches)
        self.flush(s)


if __name__ == "__main__":
    b = BadBroker(sys.argv[1:]).start()
    print(f"listening {b.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        b.stop()
