"""Runs a selection of cases against a target: a reachability probe first
(naming what is wrong: DNS, TCP, TLS, HTTP status, MQTT refusal), then the
cases on a thread pool. Cases sharing a `lane` (e.g. fixed ClientIds) run one
after another in one worker."""
import datetime
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from . import __version__, mqtt, net
from .registry import VERDICTS, run_case

FEATURE_TEXT = {
    "mqtt4": "MQTT 3.1.1 (not selected with --mqtt, or CONNECT level 4 refused)",
    "mqtt5": "MQTT 5.0 (not selected with --mqtt, or CONNECT level 5 refused)",
    "tls": "TLS (run against a wss:// URL)",
    "retain": "retained messages (CONNACK Retain Available 0)",
    "qos2": "QoS 2 (CONNACK Maximum QoS below 2)",
    "wildcards": "wildcard subscriptions (CONNACK Wildcard Subscription Available 0)",
    "subscription_ids": "subscription identifiers (CONNACK Subscription Identifiers Available 0)",
    "shared": "shared subscriptions (CONNACK Shared Subscription Available 0)",
    "topic_alias": "topic aliases (CONNACK Topic Alias Maximum 0)",
    "session_expiry": "session expiry above zero",
}


class Features(set):
    def __init__(self, *a):
        super().__init__(*a)
        self.connack5 = {}
        self.connack4 = {}

    def describe(self, name):
        return FEATURE_TEXT.get(name, name)


def probe(target, versions):
    """Returns Features, or raises net.Unreachable naming the problem."""
    feats = Features()
    if target.tls:
        feats.add("tls")
    refusals = []
    for v in versions:
        tr = net.Transcript()
        c = net.WsClient(target, tr, v)
        try:
            try:
                c.open()
            except net.HandshakeRefused as e:
                r = e.response
                raise net.Unreachable("http", f"HTTP status {r.status} {r.reason} to a valid Upgrade request "
                                      f"for {target.path}") from None
            m = net.MqttClient(c, v)
            m.send(mqtt.connect(v, f"mqwsc-probe-{os.getpid()}-{v}", True, 30, None,
                                target.username, target.password))
            d = m.recv(target.timeout)
            if isinstance(d, net.Event) or d["type"] != "CONNACK":
                refusals.append(f"MQTT {'5.0' if v == 5 else '3.1.1'}: no CONNACK ({getattr(d, 'kind', d)})")
                continue
            if d["code"] != 0:
                refusals.append(f"MQTT {'5.0' if v == 5 else '3.1.1'}: CONNACK code 0x{d['code']:02x}")
                continue
            feats.add(f"mqtt{v}")
            if v == 5:
                props = dict(d["props"])
                feats.connack5 = props
                if props.get("retain_available", 1):
                    feats.add("retain")
                if props.get("maximum_qos", 2) >= 2:
                    feats.add("qos2")
                if props.get("wildcard_sub_available", 1):
                    feats.add("wildcards")
                if props.get("sub_id_available", 1):
                    feats.add("subscription_ids")
                if props.get("shared_sub_available", 1):
                    feats.add("shared")
                if props.get("topic_alias_maximum", 0) > 0:
                    feats.add("topic_alias")
            else:
                feats.update({"retain", "qos2", "wildcards"})
            m.disconnect()
        finally:
            c.close()
    if not any(f in feats for f in ("mqtt4", "mqtt5")):
        raise net.Unreachable("mqtt", "; ".join(refusals) +
                              (" (give --username/--password?)" if any("0x05" in r or "0x87" in r or "0x04" in r
                                                                      or "0x86" in r for r in refusals) else ""))
    if "mqtt5" in feats and "mqtt4" not in feats and 4 in versions:
        feats.notes = "3.1.1 refused"
    return feats


def run(cases, target, features, jobs=4, progress=None):
    """Runs cases; returns results in the order of `cases`. `progress(result, i, n)`."""
    run_id = f"{os.getpid() % 10000:04d}{int(time.time()) % 100000:05d}"
    lanes = {}
    tasks = []
    for c in cases:
        if c.lane:
            if c.lane not in lanes:
                lanes[c.lane] = []
                tasks.append(lanes[c.lane])
            lanes[c.lane].append(c)
        else:
            tasks.append([c])
    # long lanes first so they overlap with the rest
    tasks.sort(key=lambda t: -len(t))
    results = {}
    lock = threading.Lock()
    done = [0]

    def effective(c):
        needs = list(c.needs)
        if c.mqtt == 5 and "mqtt5" not in needs:
            needs.append("mqtt5")
        if c.mqtt == 4 and "mqtt4" not in needs:
            needs.append("mqtt4")
        c.needs = tuple(needs)
        return c

    def work(batch):
        for c in batch:
            r = run_case(effective(c), target, features, run_id)
            with lock:
                results[c.id] = r
                done[0] += 1
                if progress:
                    progress(r, done[0], len(cases))

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for f in as_completed([pool.submit(work, t) for t in tasks]):
            f.result()
    return [results[c.id] for c in cases]


def apply_baseline(results, baseline):
    """Marks results against a baseline {case id: verdict}: 'known' when the
    deviation is the recorded one, 'fixed' when a recorded deviation now passes,
    'new' for a deviation not in the baseline."""
    for r in results:
        want = baseline.get(r["id"])
        if want is None:
            continue
        if r["verdict"] == want and want not in ("pass", "skipped"):
            r["baseline"] = "known"
        elif r["verdict"] == "pass" and want not in ("pass", "skipped"):
            r["baseline"] = "fixed"
        elif r["verdict"] != want:
            r["baseline"] = f"changed (baseline {want})"


def summarize(results):
    by_verdict = {v: 0 for v in VERDICTS}
    by_group = {}
    for r in results:
        by_verdict[r["verdict"]] += 1
        g = by_group.setdefault(r["group"], {v: 0 for v in VERDICTS})
        g[r["verdict"]] += 1
    known = sum(1 for r in results if r.get("baseline") == "known")
    fixed = sum(1 for r in results if r.get("baseline") == "fixed")
    reqs = sorted({q["id"] for r in results for q in r["requirements"]})
    return {"total": len(results), "by_verdict": by_verdict, "by_group": by_group,
            "known_deviations": known, "fixed": fixed, "requirements": len(reqs)}


def exit_code(results, strict=False):
    bad = {"fail"} | ({"non-strict"} if strict else set())
    live = [r for r in results if r.get("baseline") != "known"]
    if any(r["verdict"] == "error" for r in live):
        return 2
    return 1 if any(r["verdict"] in bad for r in live) else 0


def redact(argv):
    """The command line without the password's value."""
    out, hide = [], False
    for a in argv:
        if hide:
            out.append("<password>")
            hide = False
        elif a == "--password":
            out.append(a)
            hide = True
        elif a.startswith("--password="):
            out.append("--password=<password>")
        else:
            out.append(a)
    return out


def report_doc(target, versions, started, results, argv):
    return {
        "target": target.url,
        "tool": "mqws-check",
        "tool_version": __version__,
        "started": started,
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": redact(argv),
        "mqtt_versions": ["3.1.1" if v == 4 else "5.0" for v in versions],
        "cases": results,
        "summary": summarize(results),
    }
