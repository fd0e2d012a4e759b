"""Targets the suite's own tests run against, on 127.0.0.1 and free ports,
each stopped by whoever started it (by pid).

  python3 tests/targets.py mosquitto     start Debian mosquitto, print its URL, wait
  python3 tests/targets.py bad [SWITCH]  start the misbehaving target with one rule broken
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"target exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class Mosquitto:
    """Debian mosquitto with a websockets listener (mosquitto 2.0 needs a plain
    listener beside it and `socket_domain ipv4`)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mqws-mosq-")
        self.port, plain = free_port(), free_port()
        conf = os.path.join(self.dir, "m.conf")
        with open(conf, "w") as f:
            f.write(f"per_listener_settings false\nallow_anonymous true\npersistence false\n"
                    f"listener {plain} 127.0.0.1\n"
                    f"listener {self.port} 127.0.0.1\nprotocol websockets\nsocket_domain ipv4\n")
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen([exe, "-c", conf], stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc)
        self.url = f"ws://127.0.0.1:{self.port}/mqtt"

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _exit_on_term(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_on_term)  # so the target it started is stopped too
    what = sys.argv[1] if len(sys.argv) > 1 else "mosquitto"
    if what == "mosquitto":
        t = Mosquitto()
        print(t.url, flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
        finally:
            t.stop()
    else:
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import badbroker
        b = badbroker.BadBroker(set(sys.argv[2:]))
        b.start()
        print(b.url, flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
        finally:
            b.stop()
