"""Transport behaviour of mqws-broker, checked with raw sockets.

Every broker here is started on 127.0.0.1 with port 0, its real ports read
from the `listening <url>` lines, and stopped by pid (SIGTERM, exit 0 asserted).
The hostile-client tests run the AddressSanitizer build (build-asan/bin).
"""
import base64
import hashlib
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BROKER = os.path.join(ROOT, "build", "bin", "mqws-broker")
BROKER_ASAN = os.path.join(ROOT, "build-asan", "bin", "mqws-broker")
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TIMEOUT = 5.0


# ---------------------------------------------------------------- broker process

class Broker:
    """One mqws-broker process; .urls maps scheme -> (host, port, path)."""

    def __init__(self, binary, args, tmpdir, env=None):
        self.log_path = os.path.join(tmpdir, "broker-%d.log" % time.monotonic_ns())
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen([binary] + args, stdout=subprocess.PIPE,
                                     stderr=self.log, env=env, cwd=ROOT)
        self.urls = {}
        wanted = sum(1 for a in args if a.startswith(("tcp://", "tls://", "ws://", "wss://")))
        deadline = time.monotonic() + 30
        while len(self.urls) < wanted:
            line = self.proc.stdout.readline().decode()
            if not line:
                raise RuntimeError("broker exited: " + self.read_log())
            m = re.match(r"listening (\w+)://([\d.]+):(\d+)(\S*)$", line.strip())
            assert m, "unexpected stdout line %r" % line
            self.urls[m.group(1)] = (m.group(2), int(m.group(3)), m.group(4))
            assert time.monotonic() < deadline

    def port(self, scheme):
        return self.urls[scheme][1]

    def read_log(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        """SIGTERM by pid; returns the exit code."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        return self.proc.returncode


def listen_args(*schemes):
    paths = {"tcp": "", "tls": "", "ws": "/mqtt", "wss": "/mqtt"}
    out = []
    for s in schemes:
        out += ["--listen", "%s://127.0.0.1:0%s" % (s, paths[s])]
    return out


@pytest.fixture(scope="module")
def tmpdir_module():
    with tempfile.TemporaryDirectory(prefix="mqws-broker-test-") as d:
        yield d


@pytest.fixture(scope="module")
def broker(tmpdir_module):
    b = Broker(BROKER, listen_args("tcp", "ws") +
               ["--handshake-timeout", "1", "--ws-origin", "https://good.example",
                "--max-packet-size", "64k"], tmpdir_module)
    yield b
    assert b.stop() == 0


# ---------------------------------------------------------------- wire helpers

def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def recv_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), rest


def recv_all(sock):
    """Everything until the server closes."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
    return data


def upgrade_request(port, path="/mqtt", protocols="mqtt", key=None, version="13", extra=""):
    key = key or base64.b64encode(os.urandom(16)).decode()
    req = "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n" \
          "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: %s\r\n" % (
              path, port, key, version)
    if protocols is not None:
        req += "Sec-WebSocket-Protocol: %s\r\n" % protocols
    return (req + extra + "\r\n").encode(), key


def connect_tcp(port, wrap=None):
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    if wrap:
        sock = wrap.wrap_socket(sock, server_hostname="localhost")
    return sock


def ws_open(port, wrap=None, **kw):
    """Upgraded socket; asserts 101 with 'mqtt' selected."""
    sock = connect_tcp(port, wrap)
    req, key = upgrade_request(port, **kw)
    sock.sendall(req)
    head, rest = recv_head(sock)
    assert head.startswith("HTTP/1.1 101"), head
    accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    assert "Sec-WebSocket-Accept: " + accept in head
    assert rest == b""
    return sock, head


def ws_frame(payload, opcode=2, fin=True, mask=True):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        hdr = bytes([b0, (0x80 if mask else 0) | n])
    elif n < 65536:
        hdr = bytes([b0, (0x80 if mask else 0) | 126]) + struct.pack("!H", n)
    else:
        hdr = bytes([b0, (0x80 if mask else 0) | 127]) + struct.pack("!Q", n)
    if not mask:
        return hdr + payload
    key = os.urandom(4)
    stream = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
    return hdr + key + masked


def ws_read_frame(sock):
    """(opcode, payload) of one server frame; server frames are never masked."""
    b0, b1 = recv_exact(sock, 2)
    assert b1 & 0x80 == 0, "server frame is masked"
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(sock, 8))[0]
    return b0 & 0x0F, recv_exact(sock, n)


def ws_read_close(sock):
    """Skips data frames until a close frame; returns its code (None: TCP closed first)."""
    while True:
        try:
            op, payload = ws_read_frame(sock)
        except (EOFError, ConnectionResetError):
            return None
        if op == 8:
            return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005


def varint(n):
    out = b""
    while True:
        d = n % 128
        n //= 128
        out += bytes([d | (0x80 if n else 0)])
        if not n:
            return out


def mqtt_connect(client_id, keepalive=60, version=4, clean=True):
    body = b"\x00\x04MQTT" + bytes([version, 0x02 if clean else 0]) + struct.pack("!H", keepalive)
    if version == 5:
        body += b"\x00"
    body += struct.pack("!H", len(client_id)) + client_id.encode()
    return b"\x10" + varint(len(body)) + body


def mqtt_subscribe(pid, topic, qos=0):
    body = struct.pack("!H", pid) + struct.pack("!H", len(topic)) + topic.encode() + bytes([qos])
    return b"\x82" + varint(len(body)) + body


def mqtt_publish(topic, payload, qos=0, pid=1):
    body = struct.pack("!H", len(topic)) + topic.encode()
    if qos:
        body += struct.pack("!H", pid)
    body += payload
    return bytes([0x30 | (qos << 1)]) + varint(len(body)) + body


PINGREQ = b"\xc0\x00"
PINGRESP = b"\xd0\x00"


def ws_mqtt_session(port, client_id, wrap=None):
    sock, _ = ws_open(port, wrap)
    sock.sendall(ws_frame(mqtt_connect(client_id)))
    op, payload = ws_read_frame(sock)
    assert op == 2 and payload[:1] == b"\x20" and payload[3:4] == b"\x00", payload
    return sock


def ws_ping_roundtrip(sock):
    """PINGREQ -> PINGRESP over WebSocket, skipping other frames."""
    sock.sendall(ws_frame(PINGREQ))
    while True:
        op, payload = ws_read_frame(sock)
        if op == 2 and payload == PINGRESP:
            return
        assert op in (2, 9, 10), "unexpected frame %r" % op


# ---------------------------------------------------------------- handshake

def test_upgrade_selects_mqtt(broker):
    sock, head = ws_open(broker.port("ws"))
    assert re.search(r"(?im)^Sec-WebSocket-Protocol: mqtt$", head)
    sock.close()


def test_mqtt_selected_from_a_list(broker):
    sock, head = ws_open(broker.port("ws"), protocols="mqttv3.1, mqtt")
    assert re.search(r"(?im)^Sec-WebSocket-Protocol: mqtt$", head)
    sock.close()


def test_legacy_mqttv31_alone_is_selected(broker):
    sock, head = ws_open(broker.port("ws"), protocols="mqttv3.1")
    assert re.search(r"(?im)^Sec-WebSocket-Protocol: mqttv3.1$", head)
    sock.close()


def refused(port, **kw):
    sock = connect_tcp(port)
    req, _ = upgrade_request(port, **kw)
    sock.sendall(req)
    data = recv_all(sock)
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body.decode("latin-1")


def test_no_mqtt_subprotocol_is_refused(broker):
    head, body = refused(broker.port("ws"), protocols="chat")
    assert head.startswith("HTTP/1.1 400"), head


def test_wrong_path_404_names_served_path(broker):
    head, body = refused(broker.port("ws"), path="/other")
    assert head.startswith("HTTP/1.1 404"), head
    assert "/mqtt" in body


def test_bad_origin_403(broker):
    head, _ = refused(broker.port("ws"), extra="Origin: https://evil.example\r\n")
    assert head.startswith("HTTP/1.1 403"), head
    sock, _ = ws_open(broker.port("ws"), extra="Origin: https://good.example\r\n")
    sock.close()


def test_bad_key_400(broker):
    head, _ = refused(broker.port("ws"), key="not-a-key")
    assert head.startswith("HTTP/1.1 400"), head


def test_version_8_426(broker):
    head, _ = refused(broker.port("ws"), version="8")
    assert head.startswith("HTTP/1.1 426"), head
    assert re.search(r"(?im)^Sec-WebSocket-Version: 13$", head)


def test_oversized_head_431(broker):
    head, _ = refused(broker.port("ws"), extra="X-Pad: %s\r\n" % ("a" * 9000))
    assert head.startswith("HTTP/1.1 431"), head


def test_handshake_timeout_closes_slowloris(broker):
    sock = connect_tcp(broker.port("ws"))
    sock.sendall(b"GET /mqtt HTTP/1.1\r\nHost: x\r\n")
    t0 = time.monotonic()
    data = recv_all(sock)
    took = time.monotonic() - t0
    assert data.startswith(b"HTTP/1.1 408"), data
    assert 0.8 < took < 4, took
    sock.close()
    assert "handshake timeout" in broker.read_log()


def test_tcp_without_connect_is_closed(broker):
    sock = connect_tcp(broker.port("tcp"))
    t0 = time.monotonic()
    assert recv_all(sock) == b""
    assert time.monotonic() - t0 < 4


# ---------------------------------------------------------------- frames

def test_text_frame_close_1003(broker):
    sock, _ = ws_open(broker.port("ws"))
    sock.sendall(ws_frame(mqtt_connect("text"), opcode=1))
    assert ws_read_close(sock) == 1003
    sock.close()


def test_unmasked_frame_close_1002(broker):
    sock, _ = ws_open(broker.port("ws"))
    sock.sendall(ws_frame(mqtt_connect("unmasked"), mask=False))
    assert ws_read_close(sock) == 1002
    sock.close()


def test_ping_pong(broker):
    sock, _ = ws_open(broker.port("ws"))
    sock.sendall(ws_frame(b"hello", opcode=9))
    assert ws_read_frame(sock) == (10, b"hello")
    sock.close()


def test_close_is_echoed(broker):
    sock = ws_mqtt_session(broker.port("ws"), "closer")
    sock.sendall(ws_frame(struct.pack("!H", 1000) + b"bye", opcode=8))
    assert ws_read_close(sock) == 1000
    assert recv_all(sock) == b""
    sock.close()


def test_connect_in_one_byte_frames(broker):
    sock, _ = ws_open(broker.port("ws"))
    pkt = mqtt_connect("bytewise")
    # first frame opens a binary message, the rest are continuations
    for i, b in enumerate(pkt):
        sock.sendall(ws_frame(bytes([b]), opcode=2 if i == 0 else 0, fin=i == len(pkt) - 1))
    op, payload = ws_read_frame(sock)
    assert op == 2 and payload == b"\x20\x02\x00\x00"
    # and one-byte messages
    for b in PINGREQ:
        sock.sendall(ws_frame(bytes([b])))
    assert ws_read_frame(sock) == (2, PINGRESP)
    sock.close()


def test_several_packets_in_one_frame(broker):
    sock, _ = ws_open(broker.port("ws"))
    sock.sendall(ws_frame(mqtt_connect("many") + mqtt_subscribe(1, "many/t") +
                          mqtt_publish("many/t", b"m", qos=1, pid=7) + PINGREQ))
    answers = [ws_read_frame(sock)[1] for _ in range(5)]
    assert answers[0][:1] == b"\x20"
    assert answers[1][:1] == b"\x90"
    rest = sorted(answers[2:])
    assert rest == sorted([b"\x40\x02\x00\x07", mqtt_publish("many/t", b"m"), PINGRESP]), rest
    # and packets straddling frames: half a PUBLISH, then its end with a PINGREQ
    pkt = mqtt_publish("many/t", b"straddle")
    sock.sendall(ws_frame(pkt[:5]))
    sock.sendall(ws_frame(pkt[5:] + PINGREQ))
    got = sorted(ws_read_frame(sock)[1] for _ in range(2))
    assert got == sorted([pkt, PINGRESP])
    sock.close()


def test_takeover_closes_the_old_connection(broker):
    """The core closes another connection while handling a CONNECT: the shell
    reports that loss after the call and both ends stay consistent."""
    old, _ = ws_open(broker.port("ws"))
    old.sendall(ws_frame(mqtt_connect("same-id", version=5)))
    assert ws_read_frame(old)[1][:1] == b"\x20"
    new = ws_mqtt_session(broker.port("ws"), "same-id")
    op, payload = ws_read_frame(old)
    assert op == 2 and payload[:1] == b"\xe0" and payload[2] == 0x8E, payload  # Session taken over
    assert ws_read_close(old) == 1000
    ws_ping_roundtrip(new)
    old.close()
    new.close()


def test_100mb_remaining_length_refused_ws(broker):
    sock = ws_mqtt_session(broker.port("ws"), "huge-ws")
    sock.sendall(ws_frame(b"\x30" + varint(100 * 1024 * 1024) + b"\x00\x01t"))
    assert ws_read_close(sock) == 1009
    sock.close()
    assert "MQTT_TOO_LARGE" in broker.read_log()


def test_100mb_remaining_length_refused_tcp(broker):
    sock = connect_tcp(broker.port("tcp"))
    sock.sendall(mqtt_connect("huge-tcp"))
    assert recv_exact(sock, 4) == b"\x20\x02\x00\x00"
    sock.sendall(b"\x30" + varint(100 * 1024 * 1024) + b"\x00\x01t")
    assert recv_all(sock) == b""
    sock.close()


def test_huge_frame_length_1009(broker):
    sock = ws_mqtt_session(broker.port("ws"), "huge-frame")
    # a binary frame announcing 2^40 bytes: refused on its header (--max-message)
    sock.sendall(bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 1 << 40) + os.urandom(4))
    assert ws_read_close(sock) == 1009
    sock.close()


def test_mqtt5_too_large_over_tcp_gets_disconnect_0x95(broker):
    sock = connect_tcp(broker.port("tcp"))
    sock.sendall(mqtt_connect("huge5-tcp", version=5))
    connack = sock.recv(100)
    assert connack[:1] == b"\x20" and connack[3:4] == b"\x00", connack
    assert b"\x27\x00\x01\x00\x00" in connack  # Maximum Packet Size 64 KiB announced
    sock.sendall(b"\x30" + varint(100 * 1024 * 1024))
    assert recv_all(sock) == b"\xe0\x01\x95"
    sock.close()


def test_mqtt5_too_large_gets_disconnect_0x95(broker):
    sock, _ = ws_open(broker.port("ws"))
    sock.sendall(ws_frame(mqtt_connect("huge5", version=5)))
    op, payload = ws_read_frame(sock)
    assert op == 2 and payload[0] == 0x20 and payload[3] == 0
    sock.sendall(ws_frame(b"\x30" + varint(100 * 1024 * 1024) + b"\x00\x01t"))
    op, payload = ws_read_frame(sock)
    assert op == 2 and payload[0] == 0xE0 and payload[2] == 0x95, payload
    assert ws_read_close(sock) == 1009
    sock.close()


def test_pub_sub_over_ws_and_tcp(broker):
    sub = ws_mqtt_session(broker.port("ws"), "sub-ws")
    sub.sendall(ws_frame(mqtt_subscribe(1, "t/+")))
    op, payload = ws_read_frame(sub)
    assert payload[:1] == b"\x90"
    pub = connect_tcp(broker.port("tcp"))
    pub.sendall(mqtt_connect("pub-tcp"))
    assert recv_exact(pub, 4) == b"\x20\x02\x00\x00"
    pub.sendall(mqtt_publish("t/x", b"hello over ws"))
    op, payload = ws_read_frame(sub)
    assert op == 2 and payload == mqtt_publish("t/x", b"hello over ws")
    pub.close()
    sub.close()


@pytest.fixture(scope="module")
def options_broker(tmpdir_module):
    b = Broker(BROKER, listen_args("ws") +
               ["--trusted-proxy", "127.0.0.0/8", "--ws-ping-interval", "1", "--ws-no-legacy",
                "--ws-any-path"], tmpdir_module)
    yield b
    assert b.stop() == 0


def test_server_pings_idle_clients(options_broker):
    sock = ws_mqtt_session(options_broker.port("ws"), "idle")
    t0 = time.monotonic()
    op, payload = ws_read_frame(sock)
    assert op == 9 and 0.8 < time.monotonic() - t0 < 3
    sock.sendall(ws_frame(payload, opcode=10))
    sock.close()


def test_forwarded_for_from_trusted_proxy(options_broker, broker):
    sock, _ = ws_open(options_broker.port("ws"), extra="X-Forwarded-For: 198.51.100.1, 203.0.113.7\r\n")
    sock.close()
    time.sleep(0.1)
    assert "client address 203.0.113.7" in options_broker.read_log()
    # the default broker trusts no proxy: the header is ignored
    sock, _ = ws_open(broker.port("ws"), extra="X-Forwarded-For: 192.0.2.99\r\n")
    sock.close()
    time.sleep(0.1)
    assert "192.0.2.99" not in broker.read_log()


def test_no_legacy_option_refuses_mqttv31(options_broker):
    head, _ = refused(options_broker.port("ws"), protocols="mqttv3.1")
    assert head.startswith("HTTP/1.1 400"), head


def test_any_path_option(options_broker):
    sock, _ = ws_open(options_broker.port("ws"), path="/anything/else")
    sock.close()


# ---------------------------------------------------------------- TLS

@pytest.fixture(scope="module")
def pki(tmpdir_module):
    d = os.path.join(tmpdir_module, "pki")
    os.mkdir(d)

    def run(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=mqws test CA")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name in ("server", "client"):
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
        run("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", "ext.cnf")
    return d


@pytest.fixture(scope="module")
def tls_broker(tmpdir_module, pki):
    b = Broker(BROKER, listen_args("tls", "wss") +
               ["--tls-cert", os.path.join(pki, "server.pem"),
                "--tls-key", os.path.join(pki, "server.key"), "--handshake-timeout", "1"],
               tmpdir_module)
    yield b
    assert b.stop() == 0


def client_ctx(pki, cert=False):
    ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.pem"))
    if cert:
        ctx.load_cert_chain(os.path.join(pki, "client.pem"), os.path.join(pki, "client.key"))
    return ctx


def test_tls_connect(tls_broker, pki):
    sock = connect_tcp(tls_broker.port("tls"), client_ctx(pki))
    assert sock.version() in ("TLSv1.2", "TLSv1.3")
    sock.sendall(mqtt_connect("tls-client"))
    assert recv_exact(sock, 4) == b"\x20\x02\x00\x00"
    sock.sendall(PINGREQ)
    assert recv_exact(sock, 2) == PINGRESP
    sock.close()


def test_wss_connect(tls_broker, pki):
    sock = ws_mqtt_session(tls_broker.port("wss"), "wss-client", wrap=client_ctx(pki))
    ws_ping_roundtrip(sock)
    sock.sendall(ws_frame(b"x", opcode=1))
    assert ws_read_close(sock) == 1003
    sock.close()


def test_tls_bulk_roundtrip(tls_broker, pki):
    """100 x 16 KB through TLS both ways: records split across reads, plaintext
    buffered inside OpenSSL."""
    for scheme in ("tls", "wss"):
        if scheme == "tls":
            sock = connect_tcp(tls_broker.port("tls"), client_ctx(pki))
            sock.sendall(mqtt_connect("bulk-tls") + mqtt_subscribe(1, "bulk/#"))
            assert recv_exact(sock, 4) == b"\x20\x02\x00\x00"
            assert recv_exact(sock, 5)[:1] == b"\x90"
        else:
            sock = ws_mqtt_session(tls_broker.port("wss"), "bulk-wss", wrap=client_ctx(pki))
            sock.sendall(ws_frame(mqtt_subscribe(1, "bulk/#")))
            assert ws_read_frame(sock)[1][:1] == b"\x90"
        msgs = [mqtt_publish("bulk/%d" % i, bytes([i]) * 16000) for i in range(100)]
        data = b"".join(msgs)
        if scheme == "tls":
            sock.sendall(data)
            got = recv_exact(sock, len(data))
        else:
            sock.sendall(b"".join(ws_frame(data[i:i + 50000]) for i in range(0, len(data), 50000)))
            got = b""
            while len(got) < len(data):
                op, payload = ws_read_frame(sock)
                got += payload
        assert got == data
        sock.close()


def test_tls_handshake_timeout(tls_broker):
    for scheme in ("tls", "wss"):
        sock = connect_tcp(tls_broker.port(scheme))
        sock.sendall(b"\x16\x03\x01")  # the start of a ClientHello, then nothing
        t0 = time.monotonic()
        assert recv_all(sock) == b""
        assert 0.8 < time.monotonic() - t0 < 4
        sock.close()
    assert "TLS handshake timeout" in tls_broker.read_log()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tls_refuses_tls11(tls_broker, pki):
    ctx = client_ctx(pki)
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises((ssl.SSLError, ConnectionError)):
        connect_tcp(tls_broker.port("tls"), ctx)


def test_tls_client_certificate_required(tmpdir_module, pki):
    b = Broker(BROKER, listen_args("tls") +
               ["--tls-cert", os.path.join(pki, "server.pem"),
                "--tls-key", os.path.join(pki, "server.key"),
                "--tls-ca", os.path.join(pki, "ca.pem")], tmpdir_module)
    try:
        sock = connect_tcp(b.port("tls"), client_ctx(pki, cert=True))
        sock.sendall(mqtt_connect("with-cert"))
        assert recv_exact(sock, 4) == b"\x20\x02\x00\x00"
        sock.close()
        # without a certificate: the handshake (TLS 1.3: the first read) fails
        with pytest.raises((ssl.SSLError, ConnectionError, EOFError)):
            sock = connect_tcp(b.port("tls"), client_ctx(pki))
            sock.sendall(mqtt_connect("no-cert"))
            recv_exact(sock, 4)
    finally:
        assert b.stop() == 0


# ---------------------------------------------------------------- process

def test_sigterm_exits_0_with_clients(tmpdir_module):
    b = Broker(BROKER, listen_args("tcp", "ws"), tmpdir_module)
    sock = ws_mqtt_session(b.port("ws"), "at-shutdown")
    tcp = connect_tcp(b.port("tcp"))
    assert b.stop() == 0
    assert ws_read_close(sock) == 1001
    assert recv_all(tcp) == b""
    assert "shutting down" in b.read_log() if not b.log.closed else True


def test_max_connections(tmpdir_module):
    b = Broker(BROKER, listen_args("tcp", "ws") + ["--max-connections", "2"], tmpdir_module)
    try:
        first = ws_mqtt_session(b.port("ws"), "one")
        second = connect_tcp(b.port("tcp"))
        second.sendall(mqtt_connect("two"))
        assert recv_exact(second, 4) == b"\x20\x02\x00\x00"
        third = connect_tcp(b.port("ws"))
        assert recv_all(third).startswith(b"HTTP/1.1 503")
        fourth = connect_tcp(b.port("tcp"))
        assert recv_all(fourth) == b""
        ws_ping_roundtrip(first)
        for s in (first, second, third, fourth):
            s.close()
        assert "--max-connections reached" in b.read_log()
    finally:
        assert b.stop() == 0


def test_ipv6_loopback_listener(tmpdir_module):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("::1 not available")
    proc = subprocess.Popen([BROKER, "--listen", "ws://[::1]:0/mqtt"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        line = proc.stdout.readline().decode().strip()
        m = re.match(r"listening ws://\[::1\]:(\d+)/mqtt$", line)
        assert m, line
        sock = socket.create_connection(("::1", int(m.group(1))), timeout=TIMEOUT)
        req, _ = upgrade_request(int(m.group(1)))
        sock.sendall(req)
        assert recv_head(sock)[0].startswith("HTTP/1.1 101")
        sock.close()
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()


def test_verbose_wire_trace(tmpdir_module):
    b = Broker(BROKER, listen_args("ws") + ["-v"], tmpdir_module)
    try:
        sock = ws_mqtt_session(b.port("ws"), "traced")
        ws_ping_roundtrip(sock)
        sock.close()
        time.sleep(0.2)
        log = b.read_log()
    finally:
        assert b.stop() == 0
    for needle in ("http rx: GET /mqtt HTTP/1.1", "http rx: Sec-WebSocket-Protocol: mqtt",
                   "http tx: HTTP/1.1 101 Switching Protocols", "ws rx frame binary fin len=",
                   "ws tx frame binary fin len=4", "in CONNECT", "out CONNACK", "in PINGREQ"):
        assert needle in log, needle


def test_usage_errors_exit_2():
    for args in (["--bogus"], ["--listen", "http://x:1"], ["--listen", "tls://127.0.0.1:0"],
                 ["--max-packet-size", "abc"]):
        r = subprocess.run([BROKER] + args, capture_output=True, timeout=10)
        assert r.returncode == 2, args
        assert r.stderr


def test_help_documents_every_option():
    r = subprocess.run([BROKER, "--help"], capture_output=True, timeout=10, text=True)
    assert r.returncode == 0
    src = open(os.path.join(ROOT, "reference", "broker", "cli.c")).read()
    for opt in re.findall(r'\{"([a-z-]+)", (?:required|no)_argument', src):
        assert "--" + opt in r.stdout, opt


# ---------------------------------------------------------------- hostile clients

ASAN_ENV = dict(os.environ,
                ASAN_OPTIONS="abort_on_error=0:halt_on_error=1:quarantine_size_mb=16:"
                             "detect_leaks=1",
                UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")


def test_hostile_clients_under_asan(tmpdir_module, pki):
    """Each hostile client gets its reaction; a well-behaved client keeps being
    served throughout; RSS stays bounded; no sanitizer report."""
    if not os.path.exists(BROKER_ASAN):
        pytest.fail("build-asan/bin/mqws-broker missing: run make broker-asan")
    b = Broker(BROKER_ASAN, listen_args("tcp", "ws", "tls", "wss") +
               ["--handshake-timeout", "2", "--max-queue", "256k", "--max-packet-size", "256k",
                "--slow-reader-timeout", "1", "--tls-cert", os.path.join(pki, "server.pem"),
                "--tls-key", os.path.join(pki, "server.key")],
               tmpdir_module, env=ASAN_ENV)
    port = b.port("ws")
    good = ws_mqtt_session(port, "good")
    try:
        ws_ping_roundtrip(good)
        rss0 = b.rss_kb()

        # text frames
        for _ in range(20):
            s, _ = ws_open(port)
            s.sendall(ws_frame(b"\x10\x00", opcode=1))
            assert ws_read_close(s) == 1003
            s.close()
        ws_ping_roundtrip(good)

        # unmasked frames
        for _ in range(20):
            s, _ = ws_open(port)
            s.sendall(ws_frame(mqtt_connect("x"), mask=False))
            assert ws_read_close(s) == 1002
            s.close()
        ws_ping_roundtrip(good)

        # 1-byte frames: a whole session's worth of traffic
        s, _ = ws_open(port)
        stream = mqtt_connect("drip") + PINGREQ * 50
        for i, byte in enumerate(stream):
            s.sendall(ws_frame(bytes([byte])))
        assert ws_read_frame(s)[1][:1] == b"\x20"
        for _ in range(50):
            assert ws_read_frame(s) == (2, PINGRESP)
        s.close()
        ws_ping_roundtrip(good)

        # junk handshakes
        for junk in (os.urandom(300), b"\x16\x03\x01\x02\x00" + os.urandom(200),
                     b"GET / HTTP/1.1\r\n\x00\x01\r\n\r\n", b"\r\n" * 2000):
            s = connect_tcp(port)
            try:
                s.sendall(junk)
            except ConnectionError:
                pass
            data = recv_all(s)
            assert data == b"" or data.startswith(b"HTTP/1.1 4"), data[:80]
            s.close()
        # junk where TLS is expected, and a wss client sending text frames
        for scheme in ("tls", "wss"):
            for junk in (os.urandom(2000), b"\x16\x03\x01\x00\x05hello" + os.urandom(100),
                         b"GET /mqtt HTTP/1.1\r\n\r\n"):
                s = connect_tcp(b.port(scheme))
                try:
                    s.sendall(junk)
                except ConnectionError:
                    pass
                recv_all(s)
                s.close()
        s = ws_mqtt_session(b.port("wss"), "wss-text", wrap=client_ctx(pki))
        s.sendall(ws_frame(b"\x10\x00", opcode=1))
        assert ws_read_close(s) == 1003
        s.close()
        ws_ping_roundtrip(good)
        # endless handshake: header lines forever -> 431 at the header limit
        s = connect_tcp(port)
        s.sendall(b"GET /mqtt HTTP/1.1\r\nHost: x\r\n")
        try:
            for i in range(2000):
                s.sendall(b"X-Endless-%d: %s\r\n" % (i, b"y" * 40))
        except (ConnectionError, BrokenPipeError):
            pass
        assert recv_all(s).startswith(b"HTTP/1.1 431")
        s.close()
        # slowloris crowd: 50 connections dripping a head, all timed out
        crowd = [connect_tcp(port) for _ in range(50)]
        for c in crowd:
            c.sendall(b"GET /mqtt HTTP/1.1\r\n")
        ws_ping_roundtrip(good)
        for c in crowd:
            assert recv_all(c).startswith(b"HTTP/1.1 408")
            c.close()
        ws_ping_roundtrip(good)

        # 100 MB remaining length, on ws and tcp
        s = ws_mqtt_session(port, "huge")
        s.sendall(ws_frame(b"\x30" + varint(100 * 1024 * 1024)))
        assert ws_read_close(s) == 1009
        s.close()
        t = connect_tcp(b.port("tcp"))
        t.sendall(mqtt_connect("huge-tcp") + b"\x30" + varint(100 * 1024 * 1024) + b"\x00" * 1000)
        recv_all(t)
        t.close()

        # a million-topic SUBSCRIBE: ~6 MB, refused on its fixed header (packet limit)
        topics = b"".join(struct.pack("!H", 3) + b"t/%d" % (i % 10) + b"\x00"
                          for i in range(1000))
        total = 1000000 * 6
        s = ws_mqtt_session(port, "subscriber-bomb")
        head = b"\x82" + varint(2 + total) + b"\x00\x01"
        s.sendall(ws_frame(head + topics, fin=False))
        sent = 0
        try:
            while sent < total:
                s.sendall(ws_frame(topics * 16, opcode=0, fin=False))
                sent += len(topics) * 16
        except (ConnectionError, BrokenPipeError):
            pass
        assert ws_read_close(s) == 1009
        s.close()
        ws_ping_roundtrip(good)
        # ... and 20000 topics that fit in the packet limit: the core's subscription limit
        entries = b"".join(struct.pack("!H", len(b"m/%d" % i)) + b"m/%d" % i + b"\x00"
                           for i in range(20000))
        s = ws_mqtt_session(port, "subscriber-many")
        s.sendall(ws_frame(b"\x82" + varint(2 + len(entries)) + b"\x00\x07" + entries))
        op, suback = ws_read_frame(s)
        assert op == 2 and suback[0] == 0x90
        codes = suback[len(varint(len(suback) - 1)) + 3:]
        assert len(codes) == 20000 and codes.count(0x80) > 0, codes.count(0x80)
        s.close()
        ws_ping_roundtrip(good)

        # a slow reader that never drains: subscribed to a busy topic
        slow = ws_mqtt_session(port, "slow")
        slow.sendall(ws_frame(mqtt_subscribe(1, "flood/#")))
        time.sleep(0.2)
        pub = connect_tcp(b.port("tcp"))
        pub.sendall(mqtt_connect("flooder"))
        assert recv_exact(pub, 4) == b"\x20\x02\x00\x00"
        burst = mqtt_publish("flood/x", b"z" * 16000) * 64
        for _ in range(32):  # 32 MB towards a reader that takes nothing
            pub.sendall(burst)
        pub.sendall(PINGREQ)
        assert recv_exact(pub, 2) == PINGRESP
        ws_ping_roundtrip(good)
        # ... and one that floods pings without reading the pongs
        pinger = ws_mqtt_session(port, "pinger")
        pinger.settimeout(1.0)
        pings = ws_frame(b"p" * 125, opcode=9) * 1000
        try:
            for _ in range(200):  # up to 26 MB of pings, 25 MB of pongs nobody reads
                pinger.sendall(pings)
        except (socket.timeout, ConnectionError, BrokenPipeError):
            pass  # the broker stopped reading it (backpressure) or closed it
        ws_ping_roundtrip(good)
        # both are disconnected with close 1008: the subscriber after --slow-reader-timeout
        # (its queue stays above half the limit), the pinger then or when its pongs
        # overflow the queue
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            log = b.read_log()
            if "client 'slow' slow reader" in log and \
                    re.search(r"client 'pinger' closed .*\(close 1008\)", log):
                break
            time.sleep(0.2)
        else:
            pytest.fail("slow readers not disconnected:\n" + b.read_log()[-2000:])
        ws_ping_roundtrip(good)

        rss1 = b.rss_kb()
        print("broker RSS %d kB -> %d kB" % (rss0, rss1))
        assert rss1 - rss0 < 96 * 1024, "RSS grew from %d to %d kB" % (rss0, rss1)
        for sock in (slow, pub, pinger):
            sock.close()
        ws_ping_roundtrip(good)
        good.close()
    finally:
        rc = b.stop()
    log = b.read_log() if not b.log.closed else open(b.log_path).read()
    assert "AddressSanitizer" not in log and "runtime error" not in log, log[-3000:]
    assert rc == 0, log[-3000:]
    for needle in ("STREAM_TEXT_FRAME", "WS_UNMASKED", "handshake timeout", "MQTT_TOO_LARGE"):
        assert needle in log, needle
