"""Cases, verdicts and the per-case context.

A case has a stable string id (never a position), a title, a group, the
requirement ids it checks, what it needs from the target, and a run function
that receives a Context. The run function reports through the context
(`ctx.passed`, `ctx.fail`, `ctx.non_strict`, `ctx.info`, `ctx.skip`); an
exception that escapes it is an `error` verdict.
"""
import fnmatch
import time
import traceback
import zlib

from . import net
from .requirements import requirement

GROUPS = [
    ("handshake", "Opening handshake (RFC 6455 section 4)"),
    ("subprotocol", "Subprotocol selection (MQTT 6.0, RFC 6455 4.2.2)"),
    ("binary", "Binary frames only (MQTT-6.0.0-1)"),
    ("framing", "WebSocket framing (RFC 6455 section 5)"),
    ("reassembly", "MQTT packets across WebSocket frames (MQTT-6.0.0-2)"),
    ("close", "Close handshake and errors"),
    ("mqtt", "MQTT semantics over WebSocket"),
    ("robustness", "Robustness (informational unless a MUST applies)"),
]
GROUP_NAMES = [g for g, _ in GROUPS]

VERDICTS = ["pass", "fail", "non-strict", "informational", "skipped", "error"]
SEVERITY = {"pass": 0, "informational": 1, "non-strict": 2, "fail": 3}


class Case:
    def __init__(self, id, title, group, refs, run, needs=(), mqtt=None, acceptable=False,
                 expectation="", lane=None, source=None, params=None):
        assert group in GROUP_NAMES, group
        self.id, self.title, self.group, self.refs = id, title, group, list(refs)
        self.run, self.needs, self.mqtt = run, tuple(needs), mqtt
        self.acceptable, self.expectation, self.lane = acceptable, expectation, lane
        self.source, self.params = source, params or {}

    def requirements(self):
        return [requirement(r, self.mqtt) for r in self.refs]

    def matches(self, pattern):
        return fnmatch.fnmatchcase(self.id, pattern) or fnmatch.fnmatchcase(self.group, pattern)


class Registry:
    def __init__(self):
        self.cases = []
        self.by_id = {}

    def add(self, case):
        if case.id in self.by_id:
            raise ValueError(f"duplicate case id {case.id}")
        self.cases.append(case)
        self.by_id[case.id] = case
        return case

    def select(self, patterns=None, versions=(4, 5)):
        out = []
        for c in self.cases:
            if c.mqtt is not None and c.mqtt not in versions:
                continue
            if patterns and not any(c.matches(p) for p in patterns):
                continue
            out.append(c)
        return out


REGISTRY = Registry()


def case(id, title, group, refs, **kw):
    """Decorator: registers a run function as a case."""
    def wrap(fn):
        REGISTRY.add(Case(id, title, group, refs, fn, **kw))
        return fn
    return wrap


class Skip(Exception):
    pass


class Context:
    """What a running case sees: the target, its MQTT version, helpers to open
    connections (all recorded into one transcript) and the verdict calls."""

    def __init__(self, case, target, features, run_id, version=None):
        self.case, self.target, self.features, self.run_id = case, target, features, run_id
        self.version = version or case.mqtt or 4
        self.tr = net.Transcript()
        self.verdict = None
        self.expected = case.expectation
        self.observed = []
        self.clients = []
        self.notes = []
        self.close = None

    # --- helpers
    def topic(self, name=""):
        """A topic no other case or client uses."""
        return f"mqws-check/{self.run_id}/{self.case.id}/{name}".rstrip("/")

    def client_id(self, name="c"):
        h = zlib.crc32(self.case.id.encode()) % 36**6
        tag = ""
        while len(tag) < 6:
            h, r = divmod(h, 36)
            tag += "0123456789abcdefghijklmnopqrstuvwxyz"[r]
        return f"c{self.run_id}{tag}{name}"[:23]

    def ws(self, protocols=("mqtt",), path=None, extra=()):
        c = net.WsClient(self.target, self.tr, self.version)
        self.clients.append(c)
        c.open(protocols, path, extra)
        return c

    def raw_ws(self):
        """A TCP/TLS connection without any handshake yet."""
        c = net.WsClient(self.target, self.tr, self.version)
        self.clients.append(c)
        c.connect_tcp()
        return c

    def mqtt(self, name="c", clean=True, keepalive=60, will=None, props=None, connect=True, version=None):
        """A WebSocket connection with an MQTT session (CONNECT accepted)."""
        c = net.WsClient(self.target, self.tr, version or self.version)
        self.clients.append(c)
        c.open()
        m = net.MqttClient(c, version or self.version)
        if connect:
            m.connect(self.client_id(name), clean, keepalive, will, props)
        return m

    def note(self, text):
        self.notes.append(text)
        self.tr.note(text)

    # --- verdicts
    def _set(self, verdict, observed, expected=None):
        if expected:
            self.expected = expected
        if observed:
            self.observed.append(observed)
        if self.verdict is None or SEVERITY[verdict] > SEVERITY[self.verdict]:
            self.verdict = verdict

    def passed(self, observed="", expected=None):
        self._set("pass", observed, expected)

    def fail(self, observed, expected=None):
        # an input the specs allow either way can never fail
        self._set("non-strict" if self.case.acceptable else "fail", observed, expected)

    def non_strict(self, observed, expected=None):
        self._set("non-strict", observed, expected)

    def info(self, observed, expected=None):
        self._set("informational", observed, expected)

    def check(self, ok, observed, expected=None, level="MUST"):
        if ok:
            self.passed(observed)
        elif level == "MUST":
            self.fail(observed, expected)
        elif level == "SHOULD":
            self.non_strict(observed, expected)
        else:
            self.info(observed, expected)
        return ok

    def judge_close(self, expected, outcome):
        """The WebSocket close, judged apart from the MQTT outcome (it does not
        change the case verdict): the code the target closed with against the
        code the reference sends."""
        obs = outcome.close_code
        if obs is not None and obs == expected:
            v = "pass"
        elif obs is None and outcome.eof:
            v = "informational"  # failing a connection may skip the close frame
        elif obs is None:
            v = "informational"
        else:
            v = "non-strict"
        self.close = {"expected": expected, "observed": obs, "tcp_closed": bool(outcome.eof), "verdict": v}
        if v == "non-strict":
            self.note(f"WebSocket close code {obs or '(none)'}; expected {expected}")

    def skip(self, reason):
        raise Skip(reason)

    def close_all(self):
        for c in self.clients:
            c.close()


def run_case(case, target, features, run_id):
    """Runs one case; returns its result dict (the report.json case entry)."""
    t0 = time.monotonic()
    ctx = Context(case, target, features, run_id)
    missing = [n for n in case.needs if n not in features]
    verdict, error = None, None
    if missing:
        verdict = "skipped"
        ctx.observed.append("target lacks: " + ", ".join(features.describe(n) for n in missing)
                            if hasattr(features, "describe") else "target lacks: " + ", ".join(missing))
    else:
        try:
            case.run(ctx)
            verdict = ctx.verdict
            if verdict is None:
                verdict, error = "error", "the case reached no verdict"
        except Skip as e:
            verdict = "skipped"
            ctx.observed.append(str(e))
        except net.Expectation as e:
            verdict = "non-strict" if case.acceptable else "fail"
            if not ctx.expected:
                ctx.expected = f"{e.expected}"
            ctx.observed.append(f"expected {e.expected}, observed {e.observed}")
        except net.Unreachable as e:
            verdict, error = "error", f"target unreachable during the case: {e}"
        except net.HandshakeRefused as e:
            verdict, error = "error", f"the target refused a valid Upgrade request: {e}"
        except net.CaseError as e:
            verdict, error = "error", str(e)
        except Exception as e:  # noqa: BLE001 - any escape is an error verdict, with its trace
            verdict = "error"
            error = f"{e.__class__.__name__}: {e}\n" + traceback.format_exc(limit=4)
        finally:
            ctx.close_all()
    if error:
        ctx.observed.append(error)
    return {
        "id": case.id,
        "title": case.title,
        "group": case.group,
        "mqtt": {4: "3.1.1", 5: "5.0"}.get(case.mqtt),
        "requirements": [r.as_dict() for r in case.requirements()],
        "needs": list(case.needs),
        "source": case.source,
        "acceptable": case.acceptable,
        "verdict": verdict,
        "expected": ctx.expected or "",
        "observed": "; ".join(ctx.observed),
        "notes": ctx.notes,
        "close": ctx.close,
        "transcript": ctx.tr.entries,
        "duration_ms": round((time.monotonic() - t0) * 1000, 1),
    }
