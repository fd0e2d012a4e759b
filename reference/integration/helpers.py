"""Client helpers for the integration tests: mqws-client runs and a paho-mqtt wrapper."""
import queue
import socket
import subprocess
import tempfile
import threading
import time
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from conftest import CLIENT


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def check_sanitizers(stderr):
    """The tests may run an ASan+UBSan mqws-client: any report fails the test."""
    for mark in SANITIZER_MARKS:
        assert mark not in stderr, f"sanitizer report from mqws-client:\n{stderr[-6000:]}"


def run_client(*args, timeout=20, stdin=None):
    """Runs mqws-client to completion; returns CompletedProcess (text)."""
    r = subprocess.run([str(CLIENT), *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, input=stdin)
    check_sanitizers(r.stderr)
    return r


class Sub:
    """mqws-client sub in the background, with the -v trace to know when SUBACK came."""

    def __init__(self, *args, binary=False):
        self.err = tempfile.NamedTemporaryFile(prefix="mqws-sub-", suffix=".log")
        self.proc = subprocess.Popen([str(CLIENT), "sub", *map(str, args), "-v"], stdout=subprocess.PIPE,
                                     stderr=self.err, stdin=subprocess.DEVNULL, text=not binary)

    def stderr(self):
        with open(self.err.name, errors="replace") as f:
            return f.read()

    def wait_subscribed(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "< SUBACK" in self.stderr():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.kill()
        raise AssertionError(f"mqws-client sub got no SUBACK:\n{self.stderr()[-3000:]}")

    def finish(self, timeout=15):
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"mqws-client sub did not finish:\n{self.stderr()[-3000:]}")
        check_sanitizers(self.stderr())
        return self.proc.returncode, out, self.stderr()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        self.err.close()


class Paho:
    """A connected paho-mqtt client (network loop in its thread); messages in a queue."""

    def __init__(self, url, version=4, client_id="", clean=True, ca=None, will=None,
                 session_expiry=None, timeout=10):
        u = urlparse(url)
        self.version = version
        transport = "websockets" if u.scheme in ("ws", "wss") else "tcp"
        kwargs = dict(client_id=client_id, transport=transport,
                      protocol=mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311)
        if version != 5:
            kwargs["clean_session"] = clean
        self.c = mqtt.Client(**kwargs)
        if transport == "websockets":
            self.c.ws_set_options(path=u.path or "/mqtt")
        if u.scheme in ("wss", "tls", "mqtts"):
            self.c.tls_set(ca_certs=str(ca))
        if will:
            self.c.will_set(*will)
        self.messages = queue.Queue()
        self.connack = queue.Queue()
        self.subacks = {}
        self.sub_event = threading.Condition()
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda c, u_, m: self.messages.put(m)
        self.c.on_subscribe = self._on_subscribe
        props = None
        if version == 5:
            props = Properties(PacketTypes.CONNECT)
            if session_expiry is not None:
                props.SessionExpiryInterval = session_expiry
            self.c.connect(u.hostname, u.port, keepalive=30, clean_start=clean, properties=props)
        else:
            self.c.connect(u.hostname, u.port, keepalive=30)
        self.c.loop_start()
        try:
            flags, rc = self.connack.get(timeout=timeout)
        except queue.Empty:
            self.c.loop_stop()
            raise AssertionError(f"paho: no CONNACK from {url}")
        assert rc == 0, f"paho: CONNACK {rc} from {url}"
        self.session_present = bool(flags.get("session present"))

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        self.connack.put((flags, int(rc.value) if hasattr(rc, "value") else int(rc)))

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        with self.sub_event:
            self.subacks[mid] = granted
            self.sub_event.notify_all()

    def subscribe(self, topic, qos, timeout=10):
        rc, mid = self.c.subscribe(topic, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS
        with self.sub_event:
            ok = self.sub_event.wait_for(lambda: mid in self.subacks, timeout)
        assert ok, f"paho: no SUBACK for {topic}"
        return self.subacks[mid]

    def publish(self, topic, payload, qos=0, retain=False, timeout=10):
        info = self.c.publish(topic, payload, qos, retain)
        info.wait_for_publish(timeout)
        assert info.is_published(), f"paho: publish to {topic} not acknowledged"

    def get(self, timeout=10):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("paho: no message arrived") from None

    def nothing(self, wait=0.5):
        try:
            m = self.messages.get(timeout=wait)
        except queue.Empty:
            return True
        raise AssertionError(f"paho: unexpected message on {m.topic}: {m.payload!r}")

    def disconnect(self):
        self.c.disconnect()
        self.c.loop_stop()

    def drop(self):
        """Abrupt close: the TCP connection goes away without DISCONNECT or WebSocket close."""
        self.c.loop_stop()
        s = self.c.socket()
        raw = getattr(s, "_socket", s)
        try:
            raw.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raw.close()
