"""Hand-written cases: robustness (informational unless the target stops serving)."""
import os
import struct
import threading
import time

from .. import mqtt, ws
from .handshake import still_serving
from .util import add


def slow_handshake(ctx):
    c = ctx.raw_ws()
    raw, key = ws.build_request(ctx.target.host_header, ctx.target.path)
    t0 = time.monotonic()
    for i in range(0, len(raw), 16):
        c.send_raw(raw[i:i + 16], "" if i else "Upgrade request in 16-byte writes, 40 ms apart")
        time.sleep(0.04)
    r = c.read_response()
    dt = time.monotonic() - t0
    ctx.info(f"{'no response' if r is None else r.status} after {dt:.1f} s of dripping",
             "recorded: how a slow request head is treated")


def many_connections(ctx):
    n = 50
    ok = [0]
    lock = threading.Lock()

    def one(i):
        try:
            m = ctx.mqtt(f"m{i}", version=4)
            with lock:
                ok[0] += 1
            return m
        except Exception:  # noqa: BLE001 - counted as a refused connection
            return None

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    alive = still_serving(ctx)
    if not alive:
        ctx.fail(f"{ok[0]} of {n} connected; afterwards the target no longer served", "the target keeps serving")
    else:
        ctx.info(f"{ok[0]} of {n} simultaneous connections got CONNACK", "recorded")


def huge_remaining_length(ctx):
    m = ctx.mqtt(version=4)
    m.ws.send_mqtt(b"\x30\xff\xff\xff\x7f" + b"\x00\x01t", "PUBLISH header claiming 268435455 bytes")
    o = m.outcome(probe=False, timeout=1.0)
    alive = still_serving(ctx)
    if not alive:
        ctx.fail(f"{o.summary()}; afterwards the target no longer served", "the target keeps serving")
    else:
        ctx.info(o.summary() or "waiting for the rest of the packet", "recorded (a limit may close at once)")


def huge_frame_length(ctx):
    m = ctx.mqtt(version=4)
    m.ws.send_raw(bytes([0x82, 0xFF]) + struct.pack(">Q", 1 << 62) + os.urandom(4) + b"\x30\x00",
                  "binary frame header claiming 2^62 bytes")
    o = m.outcome(probe=False, timeout=1.0)
    alive = still_serving(ctx)
    if not alive:
        ctx.fail(f"{o.summary()}; afterwards the target no longer served", "the target keeps serving")
    elif o.close_code is not None or o.eof:
        ctx.passed(f"refused: {o.summary()}")
    else:
        ctx.info("no reaction within 1 s (the server may be waiting for the payload)", "close 1009 or TCP close")


def frame_length_msb(ctx):
    m = ctx.mqtt(version=4)
    m.ws.send_raw(bytes([0x82, 0xFF]) + struct.pack(">Q", 1 << 63) + os.urandom(4), "64-bit length with the top bit set")
    o = m.outcome(probe=False, timeout=1.0)
    alive = still_serving(ctx)
    if not alive:
        ctx.fail("the target no longer served", "the target keeps serving")
    else:
        ctx.check(o.refused, o.summary(), "the connection failed (the top bit of a 64-bit length must be 0)")


def garbage_before_handshake(ctx):
    c = ctx.raw_ws()
    c.send_raw(os.urandom(64) + b"\r\n\r\n", "64 random bytes instead of a request")
    r = c.read_response()
    c.close()
    alive = still_serving(ctx)
    ctx.check(alive and (r is None or r.status != 101), f"{'no response' if r is None else r.status}; serving: {alive}",
              "refusal, and the target keeps serving")


def mqtt_over_raw_tcp(ctx):
    c = ctx.raw_ws()
    c.send_raw(mqtt.connect(4, ctx.client_id()), "a raw MQTT CONNECT without a WebSocket handshake")
    r = c.read_response(timeout=1.0)
    if c.bad_response is not None and c.bad_response[:1] == b"\x20":
        ctx.fail(f"answered a raw CONNACK: {c.bad_response[:8].hex()}", "no MQTT without a WebSocket upgrade")
        return
    ctx.check(r is None or r.status != 101, "no response" if r is None else f"HTTP {r.status}",
              "no upgrade and no CONNACK")


def plaintext_on_tls(ctx):
    import socket
    t = ctx.target
    raw, _ = ws.build_request(t.host_header, t.path)
    with socket.create_connection((t.host, t.port), t.timeout) as s:
        ctx.tr.note("plain TCP (no TLS) to the wss:// port")
        s.sendall(raw)
        ctx.tr.add("out", raw, "Upgrade request without TLS")
        s.settimeout(min(t.timeout, 2))
        try:
            data = s.recv(4096)
        except (socket.timeout, OSError):
            data = b""
        ctx.tr.add("in", data, "answer" if data else "no answer")
    upgraded = data.startswith(b"HTTP/1.1 101")
    alive = still_serving(ctx)
    ctx.check(not upgraded and alive, f"{'upgraded' if upgraded else 'not upgraded'}; serving: {alive}",
              "no upgrade without TLS, and the target keeps serving")


def register():
    add("robustness.plaintext-on-tls-port", "A plain-text Upgrade on the wss:// port is not served", "robustness",
        ["RFC6455-4.2.1"], plaintext_on_tls, needs=("tls",))
    add("robustness.slow-handshake", "A request head dripped over about a second (recorded)", "robustness",
        ["RFC6455-4.2.1"], slow_handshake)
    add("robustness.many-connections", "50 simultaneous connections, and the target keeps serving", "robustness",
        ["MQTT-3.1.0-1"], many_connections)
    add("robustness.huge-remaining-length", "A PUBLISH header claiming 256 MiB, and the target keeps serving",
        "robustness", ["MQTT-2.2.3"], huge_remaining_length)
    add("robustness.huge-frame-length", "A frame header claiming 2^62 bytes, and the target keeps serving",
        "robustness", ["RFC6455-10.4"], huge_frame_length)
    add("robustness.frame-length-top-bit", "A 64-bit frame length with the top bit set fails the connection",
        "robustness", ["RFC6455-5.2"], frame_length_msb)
    add("robustness.garbage-request", "Random bytes instead of a request are refused; the target keeps serving",
        "robustness", ["RFC6455-4.2.1"], garbage_before_handshake)
    add("robustness.raw-mqtt-on-ws-port", "Raw MQTT on the WebSocket endpoint is not served", "robustness",
        ["RFC6455-4.2.1", "MQTT-6.0.0-1"], mqtt_over_raw_tcp)
