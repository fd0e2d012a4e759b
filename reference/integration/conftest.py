"""Fixtures of the integration tests: brokers on loopback, a test CA, clients.

Brokers:
  - mqws-broker (build/bin/mqws-broker), started with port 0 listeners; the real
    ports come from its `listening <url>` lines on stdout.
  - Debian mosquitto, from a temporary config (a plain listener beside the
    websockets ones, socket_domain ipv4 so it stays on 127.0.0.1).
Both serve tcp, tls, ws and wss; the `broker` fixture runs a test against each.
Every server listens on 127.0.0.1 only and is stopped by pid at the end.
"""
import os
import select
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("MQWS_BIN", ROOT / "build" / "bin"))
# MQWS_CLIENT: another mqws-client build (make test-integration uses the ASan one)
CLIENT = Path(os.environ.get("MQWS_CLIENT", BIN / "mqws-client"))
BROKER = BIN / "mqws-broker"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def stop(proc, timeout=5.0):
    """Stops a server we started, by its pid: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class TestCA:
    """A CA and a server certificate for 127.0.0.1, localhost and mqws.test."""

    def __init__(self, d: Path):
        self.dir = d
        self.ca = d / "ca.pem"
        self.cert = d / "server.pem"
        self.key = d / "server.key"
        ca_key = d / "ca.key"
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)
        run("req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(self.ca), "-days", "2",
            "-subj", "/CN=mqws integration test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        csr = d / "server.csr"
        run("req", "-new", *ec, "-keyout", str(self.key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
        ext = d / "server.ext"
        ext.write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                       "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:mqws.test\n")
        run("x509", "-req", "-in", str(csr), "-CA", str(self.ca), "-CAkey", str(ca_key),
            "-CAcreateserial", "-out", str(self.cert), "-days", "2", "-extfile", str(ext))


class Broker:
    def __init__(self, name, proc, urls, log):
        self.name = name
        self.proc = proc
        self.urls = urls  # scheme -> url: tcp, tls, ws, wss
        self.log = log

    def url(self, scheme):
        return self.urls[scheme]

    def port(self, scheme):
        return urlparse(self.urls[scheme]).port

    def log_text(self):
        try:
            return Path(self.log).read_text(errors="replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None


def start_mqws(d: Path, ca: TestCA, extra=()):
    log = d / "mqws-broker.log"
    args = [str(BROKER), *extra,
            "--listen", "tcp://127.0.0.1:0", "--listen", "tls://127.0.0.1:0",
            "--listen", "ws://127.0.0.1:0/mqtt", "--listen", "wss://127.0.0.1:0/mqtt",
            "--tls-cert", str(ca.cert), "--tls-key", str(ca.key)]
    with open(log, "wb") as logf:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=logf, stdin=subprocess.DEVNULL)
    urls = {}
    buf = b""
    deadline = time.monotonic() + 10
    while len(urls) < 4:
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            stop(proc)
            raise RuntimeError(f"mqws-broker did not report its listeners: {log.read_text()}")
        r, _, _ = select.select([proc.stdout], [], [], left)
        if not r:
            continue
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            continue
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            words = line.decode().split()
            if len(words) == 2 and words[0] == "listening":
                urls[urlparse(words[1]).scheme] = words[1]
    return Broker("mqws", proc, urls, log)


def start_mosquitto(d: Path, ca: TestCA):
    ports = {s: free_port() for s in ("tcp", "tls", "ws", "wss")}
    conf = d / "mosquitto.conf"
    tls = f"cafile {ca.ca}\ncertfile {ca.cert}\nkeyfile {ca.key}\n"
    # As root, mosquitto drops to the 'mosquitto' user, which may not read pytest's
    # private temp directories: keep running as the invoking user.
    user = "user root\n" if os.geteuid() == 0 else ""
    conf.write_text(
        user +
        "allow_anonymous true\n"
        "persistence false\n"
        f"listener {ports['tcp']} 127.0.0.1\nsocket_domain ipv4\n"
        f"listener {ports['tls']} 127.0.0.1\nsocket_domain ipv4\n{tls}"
        f"listener {ports['ws']} 127.0.0.1\nsocket_domain ipv4\nprotocol websockets\n"
        f"listener {ports['wss']} 127.0.0.1\nsocket_domain ipv4\nprotocol websockets\n{tls}")
    log = d / "mosquitto.log"
    with open(log, "wb") as logf:
        proc = subprocess.Popen([MOSQUITTO, "-c", str(conf), "-v"], stdout=logf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        for p in ports.values():
            wait_port(p, proc)
    except RuntimeError:
        stop(proc)
        raise RuntimeError(f"mosquitto did not start: {log.read_text()}")
    urls = {"tcp": f"tcp://127.0.0.1:{ports['tcp']}", "tls": f"tls://127.0.0.1:{ports['tls']}",
            "ws": f"ws://127.0.0.1:{ports['ws']}/mqtt", "wss": f"wss://127.0.0.1:{ports['wss']}/mqtt"}
    return Broker("mosquitto", proc, urls, log)


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    return TestCA(tmp_path_factory.mktemp("ca"))


def _need_mqws_broker():
    if not BROKER.exists():
        pytest.skip(f"{BROKER} is not built (make broker): the mqws-broker runs are skipped")


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory, test_ca):
    if not Path(MOSQUITTO).exists():
        pytest.fail("Debian mosquitto is not installed (ci/deps.sh integration)")
    b = start_mosquitto(tmp_path_factory.mktemp("mosquitto"), test_ca)
    yield b
    stop(b.proc)


@pytest.fixture(scope="session")
def mqws_broker(tmp_path_factory, test_ca):
    _need_mqws_broker()
    b = start_mqws(tmp_path_factory.mktemp("mqws"), test_ca)
    yield b
    rc = stop(b.proc)
    assert rc == 0, f"mqws-broker exited with {rc} on SIGTERM:\n{b.log_text()[-4000:]}"


@pytest.fixture(scope="session", params=["mqws", "mosquitto"])
def broker(request):
    """Each test using it runs against mqws-broker and against Debian mosquitto."""
    b = request.getfixturevalue("mqws_broker" if request.param == "mqws" else "mosquitto")
    assert b.alive(), f"{b.name} died:\n{b.log_text()[-4000:]}"
    return b


_seq = [0]


@pytest.fixture
def uniq(request):
    """A topic/client-id prefix unique to this test (brokers are shared by the session)."""
    _seq[0] += 1
    return f"it{os.getpid()}-{_seq[0]}"
