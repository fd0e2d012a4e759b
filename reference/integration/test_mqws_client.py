"""mqws-client against mqws-broker and Debian mosquitto: tcp, tls, ws, wss."""
import pytest

from helpers import Sub, run_client

SCHEMES = ["ws", "wss", "tcp", "tls"]
VERSIONS = ["3.1.1", "5"]


def tls_args(broker, scheme, test_ca):
    return ["--cafile", test_ca.ca] if scheme in ("wss", "tls") else []


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_pub_sub_qos(broker, scheme, version, test_ca, uniq):
    """Messages at QoS 0, 1 and 2 reach a QoS 2 subscriber, in order, one line each."""
    url = broker.url(scheme)
    extra = tls_args(broker, scheme, test_ca)
    topic = f"{uniq}/qos"
    with Sub("-L", url, "-V", version, "-t", f"{uniq}/#", "-q", "2", "-C", "3", "--print-topic",
             "-W", "15", *extra) as sub:
        sub.wait_subscribed()
        for qos in (0, 1, 2):
            r = run_client("pub", "-L", url, "-V", version, "-t", topic, "-m", f"m{qos}", "-q", qos, *extra)
            assert r.returncode == 0, r.stderr
        rc, out, err = sub.finish()
    assert rc == 0, err
    assert out.splitlines() == [f"{topic} m0", f"{topic} m1", f"{topic} m2"]
    # QoS 2 both ways: the subscriber answered PUBREC and PUBCOMP
    assert "> PUBREC" in err and "> PUBCOMP" in err


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("shape", [["--frame-split", "1"], ["--packets-per-frame", "3"],
                                   ["--packets-per-frame", "4", "--frame-split", "5"]],
                         ids=["split1", "ppf3", "ppf4-split5"])
def test_reassembly(broker, version, shape, uniq):
    """Packets cut into 1-byte continuation frames, or several per frame, still deliver."""
    url = broker.url("ws")
    with Sub("-L", url, "-V", version, "-t", f"{uniq}/r", "-q", "2", "-C", "6", "-W", "15", *shape) as sub:
        sub.wait_subscribed(timeout=5)
        for qos in (1, 2):
            r = run_client("pub", "-L", url, "-V", version, "-t", f"{uniq}/r", "-m", f"frag-{qos}",
                           "-q", qos, "--repeat", "3", "-v", *shape)
            assert r.returncode == 0, r.stderr
            if shape[0] == "--frame-split":
                assert "> ws CONT fin=1 len=1" in r.stderr
        rc, out, err = sub.finish()
    assert rc == 0, err
    assert out.splitlines() == ["frag-1"] * 3 + ["frag-2"] * 3
    if shape[0] == "--frame-split":
        assert "> ws CONT fin=0 len=1 masked" in err


def test_retained_and_no_retained(broker, uniq):
    url = broker.url("ws")
    topic = f"{uniq}/retained"
    assert run_client("pub", "-L", url, "-t", topic, "-m", "kept", "-r", "-q", "1").returncode == 0
    r = run_client("sub", "-L", url, "-t", topic, "-C", "1", "-W", "10")
    assert (r.returncode, r.stdout) == (0, "kept\n"), r.stderr
    r = run_client("sub", "-L", url, "-t", topic, "-C", "1", "-W", "1", "-R")
    assert r.returncode == 4 and r.stdout == "", "-R must not print the retained message"
    assert run_client("pub", "-L", url, "-t", topic, "-n", "-r").returncode == 0
    r = run_client("sub", "-L", url, "-t", topic, "-C", "1", "-W", "1")
    assert r.returncode == 4 and "timeout" in r.stderr


def test_stdin_lines_and_hostname_check(broker, test_ca, uniq):
    url = broker.url("wss").replace("wss://127.0.0.1", "wss://localhost")
    with Sub("-L", broker.url("ws"), "-t", f"{uniq}/lines", "-C", "3", "-q", "1", "-W", "15") as sub:
        sub.wait_subscribed()
        r = run_client("pub", "-L", url, "--cafile", test_ca.ca, "-t", f"{uniq}/lines", "-l", "-q", "1",
                       stdin="one\ntwo\nthree\n")
        assert r.returncode == 0, r.stderr
        rc, out, err = sub.finish()
    assert (rc, out) == (0, "one\ntwo\nthree\n"), err


def test_wire_trace(broker, uniq):
    r = run_client("pub", "-L", broker.url("ws"), "-t", f"{uniq}/v", "-m", "x", "-q", "1", "-v", "-V", "5")
    assert r.returncode == 0, r.stderr
    for needle in ("> GET /mqtt HTTP/1.1", "> Sec-WebSocket-Protocol: mqtt", "< HTTP/1.1 101",
                   "> ws BINARY fin=1", "< ws BINARY fin=1", "> CONNECT v5", "< CONNACK",
                   "> PUBLISH topic=", "< PUBACK id=1", "> DISCONNECT"):
        assert needle in r.stderr, f"{needle!r} missing from the trace:\n{r.stderr}"


# ---------------------------------------------------------------- failures and exit codes

def test_usage_exit_2():
    assert run_client("pub", "-t", "a").returncode == 2
    assert run_client("pub", "-L", "http://x", "-t", "a", "-m", "x").returncode == 2
    assert run_client("sub", "-t", "a/#/b").returncode == 2
    assert run_client("pub", "-L", "mqtt://127.0.0.1:1", "-t", "a", "-m", "x", "--frame-split", "3").returncode == 2
    r = run_client("--help")
    assert r.returncode == 0 and "Exit codes" in r.stdout


def test_connect_refused_exit_3(tmp_path):
    from conftest import free_port
    r = run_client("pub", "-L", f"ws://127.0.0.1:{free_port()}/mqtt", "-t", "a", "-m", "x")
    assert r.returncode == 3 and "tcp connect" in r.stderr


def test_tls_unknown_ca_exit_3(broker):
    r = run_client("pub", "-L", broker.url("wss"), "-t", "a", "-m", "x")
    assert r.returncode == 3 and "certificate" in r.stderr, r.stderr
    r = run_client("pub", "-L", broker.url("wss"), "-t", "a", "-m", "x", "--insecure")
    assert r.returncode == 0, r.stderr


def test_not_a_websocket_listener_exit_3(broker):
    port = broker.port("tcp")
    r = run_client("pub", "-L", f"ws://127.0.0.1:{port}/mqtt", "-t", "a", "-m", "x")
    assert r.returncode == 3 and "websocket handshake" in r.stderr, r.stderr


def test_sub_timeout_exit_4(broker, uniq):
    r = run_client("sub", "-L", broker.url("ws"), "-t", f"{uniq}/none", "-C", "1", "-W", "1")
    assert r.returncode == 4 and "timeout" in r.stderr


def test_wrong_path_404(mqws_broker):
    url = mqws_broker.url("ws").replace("/mqtt", "/elsewhere")
    r = run_client("pub", "-L", url, "-t", "a", "-m", "x")
    assert r.returncode == 3, r.stderr
    assert "HTTP 404" in r.stderr and "/mqtt" in r.stderr, r.stderr


def test_subprotocol_lists(mqws_broker, uniq):
    url = mqws_broker.url("ws")
    r = run_client("pub", "-L", url, "-t", f"{uniq}/sp", "-m", "x", "--subprotocol", "foo,mqtt", "-v")
    assert r.returncode == 0 and "< Sec-WebSocket-Protocol: mqtt" in r.stderr, r.stderr
    r = run_client("pub", "-L", url, "-t", f"{uniq}/sp", "-m", "x", "--subprotocol", "mqttv3.1", "-v")
    assert r.returncode == 0 and "< Sec-WebSocket-Protocol: mqttv3.1" in r.stderr, r.stderr
    r = run_client("pub", "-L", url, "-t", f"{uniq}/sp", "-m", "x", "--subprotocol", "foo")
    assert r.returncode == 3 and "HTTP 400" in r.stderr, r.stderr


def test_suback_failure_exit_1(mqws_broker, uniq):
    """mqws-broker refuses shared subscriptions (SUBACK 0x9E): the client says so, exit 1."""
    r = run_client("sub", "-L", mqws_broker.url("ws"), "-V", "5", "-t", f"$share/g/{uniq}", "-W", "5")
    assert r.returncode == 1, r.stderr
    assert "SUBACK code 0x9e" in r.stderr


def test_keepalive_pings(broker, uniq):
    r = run_client("sub", "-L", broker.url("ws"), "-t", f"{uniq}/ka", "-k", "1", "-C", "1", "-W", "2", "-v")
    assert r.returncode == 4
    assert "> PINGREQ" in r.stderr and "< PINGRESP" in r.stderr, r.stderr


def test_will_options(broker, uniq):
    """The client's will is in its CONNECT; a broker accepts it and drops it on DISCONNECT."""
    r = run_client("pub", "-L", broker.url("ws"), "-V", "5", "-t", f"{uniq}/x", "-m", "x", "-v",
                   "--will-topic", f"{uniq}/will", "--will-payload", "bye", "--will-qos", "1", "--will-retain")
    assert r.returncode == 0 and "> CONNECT v5" in r.stderr and " will" in r.stderr, r.stderr
    r = run_client("sub", "-L", broker.url("ws"), "-t", f"{uniq}/will", "-C", "1", "-W", "1")
    assert r.returncode == 4 and r.stdout == "", "no will after a clean DISCONNECT"


class FakeServer:
    """A one-shot MQTT server over tcp that answers CONNECT with fixed bytes."""

    def __init__(self, answer):
        import socket
        import threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.answers = answer if isinstance(answer, list) else [answer]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(5)
            try:
                for answer in self.answers:  # one answer per read (CONNECT, SUBSCRIBE...)
                    got = conn.recv(4096)
                    if not got:
                        return
                    conn.sendall(answer(got) if callable(answer) else answer)
                while conn.recv(4096):
                    pass
            except OSError:
                pass

    def close(self):
        self.thread.join(5)
        self.sock.close()


@pytest.mark.parametrize("version,answer,text", [
    ("3.1.1", b"\x20\x02\x00\x05", "CONNACK code 0x05 (not authorized)"),
    ("5", b"\x20\x03\x00\x86\x00", "CONNACK code 0x86 (bad user name or password)"),
    ("3.1.1", [b"\x20\x02\x00\x00", b"\x90\x03\x00\x01\x80"], "SUBACK code 0x80"),
    ("5", b"\x20\x03\x00\x00\x00\xe0\x02\x8b\x00", "disconnected by the server: code 0x8b (server shutting down)"),
    ("3.1.1", b"\x20\x02\x00\x00\x40\x02\x00\x00", "malformed"),
])
def test_refusals_exit_1(version, answer, text):
    srv = FakeServer(answer)
    try:
        r = run_client("sub", "-L", f"mqtt://127.0.0.1:{srv.port}", "-V", version, "-t", "a", "-W", "5")
    finally:
        srv.close()
    assert r.returncode == 1, r.stderr
    assert text in r.stderr, r.stderr


@pytest.mark.parametrize("version", VERSIONS)
def test_persistent_session_queue(broker, version, uniq):
    """-c keeps the session: QoS 1/2 messages published while the subscriber is away
    arrive when it comes back (5.0: -c alone asks for a session that never expires)."""
    url = broker.url("ws")
    cid = f"{uniq}-keep"
    with Sub("-L", url, "-V", version, "-c", "-i", cid, "-t", f"{uniq}/q", "-q", "2", "-C", "1",
             "-W", "10") as sub:
        sub.wait_subscribed()
        assert run_client("pub", "-L", url, "-t", f"{uniq}/q", "-m", "first").returncode == 0
        rc, out, err = sub.finish()
    assert (rc, out) == (0, "first\n"), err  # subscribed, then away
    for qos in (1, 2):
        r = run_client("pub", "-L", url, "-V", version, "-t", f"{uniq}/q", "-m", f"while away {qos}", "-q", qos)
        assert r.returncode == 0, r.stderr
    r = run_client("sub", "-L", url, "-V", version, "-c", "-i", cid, "-t", f"{uniq}/q", "-q", "2",
                   "-C", "2", "-W", "10", "-v")
    assert r.returncode == 0, r.stderr
    assert "session-present=1" in r.stderr
    assert r.stdout == "while away 1\nwhile away 2\n"
    # a clean connection with the same id ends the session
    assert run_client("pub", "-L", url, "-V", version, "-i", cid, "-t", f"{uniq}/x", "-m", "x").returncode == 0


def test_server_pings_answered(mqws_broker, test_ca, tmp_path, uniq):
    """A broker that pings idle WebSocket clients (proxies keep the connection) gets pongs."""
    from conftest import start_mqws, stop
    b = start_mqws(tmp_path, test_ca, ["--ws-ping-interval", "1"])
    try:
        r = run_client("sub", "-L", b.url("ws"), "-t", f"{uniq}/idle", "-k", "0", "-C", "1", "-W", "2", "-v")
    finally:
        assert stop(b.proc) == 0
    assert r.returncode == 4, r.stderr
    assert "< ws PING" in r.stderr and "> ws PONG fin=1" in r.stderr, r.stderr


def upgrade(protocol="mqtt", accept=None):
    """A 101 answer to the client's request (accept computed from its key unless given)."""
    import base64
    import hashlib
    import re

    def answer(request):
        key = re.search(rb"Sec-WebSocket-Key: (\S+)", request).group(1)
        acc = accept or base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        head += b"Sec-WebSocket-Accept: " + acc + b"\r\n"
        if protocol:
            head += b"Sec-WebSocket-Protocol: " + protocol.encode() + b"\r\n"
        return head + b"\r\n"
    return answer


CONNACK = b"\x20\x02\x00\x00"


@pytest.mark.parametrize("answers,code,text", [
    ([b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nno /mqtt\r\n"], 3, "HTTP 404 Not Found: no /mqtt"),
    ([upgrade(accept=b"dGhlIHNhbXBsZSBub25jZQ==")], 3, "Sec-WebSocket-Accept does not match"),
    ([upgrade(protocol="mqttv3.1")], 3, "selected a subprotocol the client did not offer"),
    ([upgrade(protocol=None)], 3, "did not select the 'mqtt' subprotocol"),
    ([upgrade(), b"\x81\x04" + CONNACK], 1, "MQTT received in a text frame"),
    ([upgrade(), b"\x82\x84abcd" + bytes(b ^ m for b, m in zip(CONNACK, b"abcd"))], 1, "server frame is masked"),
    ([upgrade(), b"\x02\x02" + CONNACK[:2] + b"\x82\x02" + CONNACK[2:]], 1, "new data frame while a fragmented"),
    ([upgrade(), b"\x82\x02" + CONNACK[:2] + b"\x88\x02\x03\xe8"], 3, "websocket close 1000"),
], ids=["404", "accept", "unoffered", "no-subprotocol", "text-frame", "masked", "fragments",
        "close-mid-packet"])
def test_strict_websocket_client(answers, code, text):
    """The client enforces RFC 6455 and MQTT-6.0.0 on the server's side too."""
    srv = FakeServer(answers)
    try:
        r = run_client("sub", "-L", f"ws://127.0.0.1:{srv.port}/mqtt", "-t", "a", "-W", "5")
    finally:
        srv.close()
    assert r.returncode == code, r.stderr
    assert text in r.stderr, r.stderr


def test_keepalive_expiry_exit_3():
    """A server that stops answering: no PINGRESP within the keep alive ends the client."""
    srv = FakeServer([CONNACK])  # then silence: the SUBACK and PINGRESP never come
    try:
        r = run_client("sub", "-L", f"mqtt://127.0.0.1:{srv.port}", "-t", "a", "-k", "1", "-W", "10",
                       timeout=15)
    finally:
        srv.close()
    assert r.returncode == 3 and "no PINGRESP" in r.stderr, r.stderr


@pytest.mark.parametrize("scheme,shape", [("ws", []), ("wss", ["--frame-split", "1000"]), ("tls", [])])
def test_large_payload_from_file(broker, scheme, shape, test_ca, tmp_path, uniq):
    """A 300 kB message (-f) crosses many reads and frames both ways, byte for byte.
    (60 kB with mosquitto: its websockets listener sends 4 kB about every 100 ms.)"""
    size = 300_000 if broker.name == "mqws" else 60_000
    data = bytes((i * 7 + i // 251) % 256 for i in range(size)).replace(b"\n", b"\x00")
    f = tmp_path / "payload.bin"
    f.write_bytes(data)
    url = broker.url(scheme)
    extra = tls_args(broker, scheme, test_ca)
    with Sub("-L", url, "-t", f"{uniq}/big", "-q", "1", "-C", "1", "-W", "15", *extra, binary=True) as sub:
        sub.wait_subscribed()
        r = run_client("pub", "-L", url, "-t", f"{uniq}/big", "-f", f, "-q", "1", *extra, *shape)
        assert r.returncode == 0, r.stderr
        rc, out, err = sub.finish()
    assert rc == 0, err
    assert out == data + b"\n"


def test_ipv6_loopback(mqws_broker, tmp_path, uniq):
    """ws://[::1]:PORT/mqtt: bracketed literal in the URL, "[::1]:PORT" in the Host header."""
    import socket
    import subprocess
    from conftest import BROKER, stop
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    proc = subprocess.Popen([str(BROKER), "--listen", "ws://[::1]:0/mqtt"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        url = proc.stdout.readline().split()[1]
        assert url.startswith("ws://[::1]:")
        r = run_client("pub", "-L", url, "-t", f"{uniq}/v6", "-m", "x", "-q", "1", "-v")
    finally:
        assert stop(proc) == 0
    assert r.returncode == 0, r.stderr
    assert f"> Host: [::1]:{url.split(':')[-1].split('/')[0]}" in r.stderr
