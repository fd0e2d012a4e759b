"""mqws-loadgen: command line, exit codes, and that its counts are right.

Functional checks only: no figure is asserted. Runs against mqws-broker when it
is built, and against a deliberately lossy broker written here, which proves
that lost, duplicated and corrupted messages are seen (exit code 3).
"""
import asyncio
import base64
import hashlib
import json
import os
import signal
import struct
import subprocess
import threading

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.environ.get("MQWS_BIN", os.path.join(ROOT, "build", "bin"))
LOADGEN = os.path.join(BIN, "mqws-loadgen")
BROKER = os.path.join(BIN, "mqws-broker")


def run_lg(*args, timeout=60):
    p = subprocess.run([LOADGEN, "--quiet", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    res = json.loads(p.stdout.splitlines()[-1]) if p.stdout.strip() else None
    return p.returncode, res, p.stderr


@pytest.fixture(scope="module")
def mqws_broker():
    if not os.access(BROKER, os.X_OK):
        pytest.skip("mqws-broker not built (make broker)")
    proc = subprocess.Popen([BROKER, "--listen", "ws://127.0.0.1:0/mqtt"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    assert line.startswith("listening ws://127.0.0.1:"), line
    yield proc.pid, line.split()[1]
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


def test_help_lists_every_option():
    p = subprocess.run([LOADGEN, "--help"], stdout=subprocess.PIPE, text=True)
    assert p.returncode == 0
    for opt in ("--url", "--mode", "--clients", "--qos", "--size", "--rate", "--window",
                "--mqtt-version", "--keepalive", "--warmup", "--seconds", "--count", "--drain",
                "--setup-timeout", "--connect-concurrency", "--broker-pid", "--label", "--quiet",
                "Exit codes"):
        assert opt in p.stdout, opt


@pytest.mark.parametrize("args,word", [
    (["--qos", "2"], "--qos"),
    (["--size", "10"], "--size"),
    (["--url", "wss://127.0.0.1/mqtt"], "--url"),
    (["--mode", "storm"], "--mode"),
    (["--window", "0"], "--window"),
    (["--seconds", "-1"], "--seconds"),
    (["--broker-pid", "2147483"], "--broker-pid"),
    (["stray"], "stray"),
])
def test_usage_errors_exit_2(args, word):
    p = subprocess.run([LOADGEN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.returncode == 2
    assert word in p.stderr
    assert p.stdout == ""


def test_refused_connection_exit_1_with_json():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    code, res, _ = run_lg("-u", "ws://127.0.0.1:%d/mqtt" % port, "-n", "1")
    assert code == 1
    assert "Connection refused" in res["error"] and res["exit"] == 1


def test_wrong_path_names_the_status(mqws_broker):
    _, url = mqws_broker
    code, res, _ = run_lg("-u", url.replace("/mqtt", "/other"), "-n", "1")
    assert code == 1
    assert "404" in res["error"]


def check_counts(res, publishes, subscribers_per_message):
    assert res["error"] is None
    assert res["published"] == publishes
    assert res["delivered"] == publishes * subscribers_per_message
    assert res["lost"] == 0 and res["duplicates"] == 0 and res["corrupt"] == 0
    assert res["drained"] is True
    assert res["expected_deliveries"] == res["published_total"] * subscribers_per_message
    lat = res["latency_us"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]


@pytest.mark.parametrize("version", ["4", "5"])
def test_pairs_qos1_counts(mqws_broker, version):
    pid, url = mqws_broker
    code, res, _ = run_lg("-u", url, "-p", str(pid), "-n", "10", "-q", "1", "-c", "20000",
                          "--warmup", "0.2", "-V", version)
    assert code == 0
    check_counts(res, 20000, 1)
    assert res["broker"]["rss_kb"] > 0 and res["broker"]["cpu_s"] >= 0


def test_fanout_counts(mqws_broker):
    pid, url = mqws_broker
    code, res, _ = run_lg("-u", url, "-p", str(pid), "-m", "fanout", "-n", "20", "-c", "500",
                          "-w", "10", "--warmup", "0.2")
    assert code == 0
    check_counts(res, 500, 20)
    assert res["publishers"] == 1 and res["subscribers"] == 20


def test_rate_mode_keeps_the_rate(mqws_broker):
    pid, url = mqws_broker
    code, res, _ = run_lg("-u", url, "-p", str(pid), "-n", "4", "-q", "1", "-r", "2000", "-c", "1000",
                          "--warmup", "0.2")
    assert code == 0
    check_counts(res, 1000, 1)
    # 1000 publishes at 2000/s: about half a second of measurement, not a burst
    assert 0.3 < res["seconds"] < 5


def test_large_payload(mqws_broker):
    pid, url = mqws_broker
    code, res, _ = run_lg("-u", url, "-p", str(pid), "-n", "4", "-s", "100000", "-w", "2", "-c", "200",
                          "--warmup", "0")
    assert code == 0
    check_counts(res, 200, 1)


def test_idle_reports_rss_per_connection(mqws_broker):
    pid, url = mqws_broker
    code, res, _ = run_lg("-u", url, "-p", str(pid), "-m", "idle", "-n", "300", "-t", "0.2")
    assert code == 0
    assert res["connections"] == 300 and res["error"] is None
    assert res["rss_per_conn_bytes"] != -1


# ----------------------------------------------------------------- lossy broker

class LossyBroker:
    """A minimal MQTT 3.1.1 over WebSocket broker that mistreats every Nth
    PUBLISH it routes: 'drop' loses it, 'dup' sends it twice, 'corrupt' flips
    its sequence number to one never published."""

    def __init__(self, fault, every=50):
        self.fault, self.every = fault, every
        self.subs = {}  # topic -> [writer]
        self.routed = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(5)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    def stop(self):
        async def shutdown():
            self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.loop.stop()
        asyncio.run_coroutine_threadsafe(shutdown(), self.loop)
        self.thread.join(5)
        self.loop.close()

    @staticmethod
    def frame(payload):
        n = len(payload)
        if n < 126:
            head = bytes([0x82, n])
        elif n < 65536:
            head = bytes([0x82, 126]) + struct.pack("!H", n)
        else:
            head = bytes([0x82, 127]) + struct.pack("!Q", n)
        return head + payload

    async def _client(self, reader, writer):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key:")][0]
            accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + accept + b"\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n")
            buf = b""
            while True:
                h = await reader.readexactly(2)
                n = h[1] & 0x7F
                if n == 126:
                    n = struct.unpack("!H", await reader.readexactly(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", await reader.readexactly(8))[0]
                mask = await reader.readexactly(4)
                data = bytearray(await reader.readexactly(n))
                for i in range(n):
                    data[i] ^= mask[i % 4]
                buf += bytes(data)
                while True:
                    pkt, buf = self._take_packet(buf)
                    if pkt is None:
                        break
                    self._handle(pkt, writer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            for lst in self.subs.values():
                if writer in lst:
                    lst.remove(writer)
            writer.close()

    @staticmethod
    def _take_packet(buf):
        mult, value, i = 1, 0, 1
        while True:
            if i >= len(buf):
                return None, buf
            value += (buf[i] & 0x7F) * mult
            mult *= 128
            i += 1
            if not buf[i - 1] & 0x80:
                break
        if len(buf) < i + value:
            return None, buf
        return buf[:i + value], buf[i + value:]

    def _handle(self, pkt, writer):
        kind = pkt[0] >> 4
        body = pkt[2:] if pkt[1] < 128 else pkt[3:] if pkt[2] < 128 else pkt[4:]
        if kind == 1:  # CONNECT
            writer.write(self.frame(b"\x20\x02\x00\x00"))
        elif kind == 8:  # SUBSCRIBE: packet id, topic, options
            pid = body[:2]
            tl = struct.unpack("!H", body[2:4])[0]
            topic = body[4:4 + tl]
            qos = body[4 + tl]
            self.subs.setdefault(topic, []).append(writer)
            writer.write(self.frame(b"\x90\x03" + pid + bytes([qos])))
        elif kind == 3:  # PUBLISH
            qos = (pkt[0] >> 1) & 3
            tl = struct.unpack("!H", body[:2])[0]
            topic = body[2:2 + tl]
            if qos:
                writer.write(self.frame(b"\x40\x02" + body[2 + tl:4 + tl]))
            self.routed += 1
            out = bytearray(pkt)
            copies = 1
            if self.routed % self.every == 0:
                if self.fault == "drop":
                    copies = 0
                elif self.fault == "dup":
                    copies = 2
                elif self.fault == "corrupt":
                    start = len(pkt) - len(body) + 2 + tl + (2 if qos else 0)
                    out[start:start + 8] = struct.pack("<Q", 1 << 40)
            for w in self.subs.get(topic, []):
                for _ in range(copies):
                    w.write(self.frame(bytes(out)))


@pytest.mark.parametrize("fault,field", [("drop", "lost"), ("dup", "duplicates"), ("corrupt", "corrupt")])
def test_faults_are_counted_and_qos1_loss_exits_3(fault, field):
    b = LossyBroker(fault, every=50)
    try:
        code, res, err = run_lg("-u", "ws://127.0.0.1:%d/mqtt" % b.port, "-n", "2", "-q", "1",
                                "-c", "500", "--warmup", "0", "-w", "10", "--drain", "1")
    finally:
        b.stop()
    assert res[field] > 0, res
    if fault == "dup":
        assert code == 0 and res["lost"] == 0  # a duplicate is reported, not a failure
    else:
        assert code == 3, err


def test_clean_lossy_broker_run_is_exit_0():
    b = LossyBroker("none")
    try:
        code, res, _ = run_lg("-u", "ws://127.0.0.1:%d/mqtt" % b.port, "-n", "2", "-q", "1",
                              "-c", "300", "--warmup", "0", "-w", "10")
    finally:
        b.stop()
    assert code == 0
    check_counts(res, 300, 1)
