"""Live cases made from the byte-level vectors in vectors/ (the same bytes the
C unit tests check):

- handshake/server_requests.json: the request on a fresh connection;
- ws/frames.json (server role): the frames after a valid CONNECT;
- stream/reassembly.json (server role, WebSocket): the chunks, one write each,
  as the server's input;
- mqtt/v311.json, mqtt/v5.json: a CONNECT vector as the first packet, any
  other client-to-server packet after a valid CONNECT of the same version.

The case id is the vector id prefixed with `vec.`; both are stable.
"""
import json
import os
import re
import sys
import time

from .. import mqtt, ws
from ..net import Event, MqttClient
from ..registry import REGISTRY, Case

HERE = os.path.dirname(os.path.abspath(__file__))
VECTOR_DIR = os.environ.get("MQWS_VECTORS") or os.path.normpath(os.path.join(HERE, "..", "..", "..", "vectors"))

SERVER_TO_CLIENT = {mqtt.CONNACK, mqtt.SUBACK, mqtt.UNSUBACK, mqtt.PINGRESP}
# CONNACK codes that refuse for reasons other than the packet's form
POLICY_REFUSALS = {4, 5, 0x85, 0x86, 0x87, 0x8A, 0x88, 0x89, 0x8C, 0x97, 0x9F}


def load(rel):
    path = os.path.join(VECTOR_DIR, rel)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def tests(doc):
    for g in doc["testGroups"]:
        for t in g["tests"]:
            yield g.get("params") or {}, g.get("comment", ""), t


def flag_text(doc, t):
    return "; ".join(f"{f}: {doc['notes'][f]['description']}" for f in t.get("flags", []))


# ====================================================================== handshake

def request_bytes(t, target, served_path):
    raw = bytes.fromhex(t["input"]) if "input" in t else t["text"].encode("latin-1")
    if served_path is not None and served_path != "/mqtt":
        return raw  # the vector tests other paths: send it as it is
    path = target.path
    head, sep, rest = raw.partition(b"\r\n")
    if not sep:
        head, sep, rest = raw.partition(b"\n")
    head = re.sub(rb"^(\S+ (?:[A-Za-z]+://[^/ ]*)?)/(?:mqtt|chat)(?=[ ?])", lambda m: m.group(1) + path.split("?")[0].encode(), head)
    return head + sep + rest


def request_path(raw):
    """The path a request line names (absolute-form: the part after the authority)."""
    m = re.match(rb"\S+ (?:[A-Za-z][A-Za-z0-9+.-]*://[^/ ?#]*)?(\S*)", raw)
    path = m.group(1).decode("latin-1") if m else ""
    return path.split("?")[0] or "/"


def offered_protocols(raw):
    out = []
    text = raw.decode("latin-1")
    for line in re.split(r"\r?\n", text.split("\r\n\r\n")[0])[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == "sec-websocket-protocol":
            out += [v.strip() for v in value.split(",") if v.strip()]
    return out


def judge_selection(ctx, resp, offered):
    """The selected subprotocol: one offered value, 'mqtt' if it was offered."""
    vals = resp.get_all("Sec-WebSocket-Protocol")
    if len(vals) > 1 or (vals and "," in vals[0]):
        ctx.fail(f"the server returned a list: {vals}", "exactly one offered value")
        return
    sel = vals[0] if vals else None
    if sel is not None and sel not in offered:
        ctx.fail(f"selected {sel!r}, which was not offered (offered {offered})",
                 "a subprotocol the client offered")
    elif "mqtt" in offered and sel != "mqtt":
        ctx.fail(f"selected {sel!r} although 'mqtt' was offered", "'mqtt' selected")
    elif sel is None:
        ctx.non_strict("upgraded without selecting a subprotocol",
                       "refusal, or 'mqtt' selected (MQTT-6.0.0-4)")
    elif sel != "mqtt":
        ctx.non_strict(f"selected {sel!r} (offered {offered}); MQTT 5.0 names only 'mqtt'", "'mqtt'")
    else:
        ctx.passed("'mqtt' selected")


def judge_101(ctx, resp, key):
    ok = True
    acc = resp.get("Sec-WebSocket-Accept")
    if key and acc != ws.accept_for(key):
        ctx.fail(f"Sec-WebSocket-Accept {acc!r}, expected {ws.accept_for(key)!r}", "correct accept value")
        ok = False
    if "websocket" not in [x.lower() for x in resp.tokens("Upgrade")]:
        ctx.fail(f"Upgrade field {resp.get('Upgrade')!r}", "Upgrade: websocket")
        ok = False
    if "upgrade" not in [x.lower() for x in resp.tokens("Connection")]:
        ctx.fail(f"Connection field {resp.get('Connection')!r}", "Connection: Upgrade")
        ok = False
    return ok


def key_of(raw):
    m = re.search(rb"(?im)^sec-websocket-key:[ \t]*([^\r\n]*?)[ \t]*\r?$", raw)
    return m.group(1).decode("latin-1") if m else None


def make_handshake_case(doc, params, t):
    exp = t["expect"]
    served = params.get("path")
    policy = params.get("policy") or {}
    flags = t.get("flags", [])
    refs = list(t["refs"])
    sub = "MQTT-6.0.0-3" in refs or bool(policy)
    if sub and "MQTT-6.0.0-4" not in refs:
        refs.append("MQTT-6.0.0-4")
    limits = "HeadLimits" in flags or "max_bytes" in params
    incomplete = exp.get("error") == "NEED_MORE"
    want101 = exp.get("status") == 101
    # refusals that only a strict subprotocol policy demands
    policy_refusal = exp.get("error") == "HS_SUBPROTOCOL"
    lenient_ok = want101 and exp.get("non_strict")

    def run(ctx):
        raw = request_bytes(t, ctx.target, served)
        offered = offered_protocols(raw)
        key = key_of(raw)
        c = ctx.raw_ws()
        c.send_raw(raw, "request from vector " + t["id"])
        if incomplete:
            resp = c.read_response(timeout=min(ctx.target.timeout, 0.6))
            if resp is None and not c.conn.closed:
                ctx.passed("no answer to an incomplete request (still waiting for the head)")
            elif resp is None:
                ctx.info("the server closed the connection on an incomplete head", "waiting for more bytes")
            elif resp.status == 101:
                ctx.fail("upgraded before the request head was complete", "no answer yet")
            else:
                ctx.non_strict(f"answered HTTP {resp.status} to an incomplete head", "waiting for more bytes")
            return
        resp = c.read_response()
        if resp is None:
            seen = "TCP closed without an HTTP response" if c.conn.closed else "no HTTP response before the timeout"
            if want101 and not limits:
                if lenient_ok:
                    ctx.passed(f"{seen} (a strict server refuses this request)")
                else:
                    ctx.fail(seen, "101 Switching Protocols")
            elif want101:
                ctx.info(seen, "101 under the reference's limits/paths")
            else:
                ctx.non_strict(f"refused, but {seen}", f"HTTP {exp.get('status')} error response (RFC 6455 4.2.1)")
            return
        status = f"HTTP {resp.status} {resp.reason}".strip()
        if resp.status == 101:
            if not judge_101(ctx, resp, key):
                return
            if want101:
                if sub or exp.get("subprotocol"):
                    judge_selection(ctx, resp, offered)
                else:
                    sel = resp.get("Sec-WebSocket-Protocol")
                    if sel is not None and sel not in offered:
                        ctx.fail(f"selected unoffered {sel!r}", "an offered subprotocol")
                    else:
                        ctx.passed(f"{status}, subprotocol {sel!r}")
            elif limits or (served is not None and exp.get("error") == "HS_PATH"):
                ctx.info(f"{status}: upgraded", f"HTTP {exp.get('status')} under the reference's limits and served path")
            elif policy_refusal:
                judge_selection(ctx, resp, offered)
            else:
                ctx.fail(f"{status}: upgraded an invalid request", f"HTTP {exp.get('status')} ({exp.get('error')})")
            try:
                c.send_close(1000)
            except OSError:
                pass
            return
        # refused
        if want101 and resp.status == 403 and re.search(rb"(?im)^origin:", raw):
            ctx.info(f"{status} to a request with an Origin field", "101, unless the target restricts origins "
                     "(RFC 6455 10.2)")
            return
        if want101 and resp.status == 404 and served is None and \
                request_path(raw) != ctx.target.path.split("?")[0]:
            # the vector was written for a server of any path; the target serves one
            ctx.info(f"{status} for {request_path(raw)!r}", "101 from a server of any path; a target "
                     f"serving {ctx.target.path!r} answers 404")
            return
        if want101:
            if lenient_ok or limits:
                (ctx.passed if lenient_ok else ctx.info)(f"{status}: refused", "101 (lenient policy) or a refusal")
            else:
                ctx.fail(f"{status}: a valid request was refused", "101 Switching Protocols")
            return
        if resp.status < 400 or resp.status >= 600:
            ctx.fail(f"{status}", f"an HTTP error status ({exp.get('status')})")
            return
        if exp.get("error") == "HS_VERSION":
            vers = resp.tokens("Sec-WebSocket-Version")
            ctx.check("13" in vers, f"{status}, Sec-WebSocket-Version: {vers}",
                      "an error (426) with Sec-WebSocket-Version listing 13")
            return
        note = "" if resp.status == exp.get("status") else f" (the reference answers {exp.get('status')})"
        ctx.passed(f"refused with {status}{note}")

    group = "subprotocol" if sub else ("robustness" if "max_bytes" in params else "handshake")
    expectation = (f"101 with subprotocol {exp.get('subprotocol')!r}" if want101 else
                   "no answer until the head is complete" if incomplete else
                   f"HTTP {exp.get('status')} refusal ({exp.get('error')})")
    if flags:
        expectation += f" [{flag_text(doc, t)}]"
    return Case("vec." + t["id"], t["comment"], group, refs, run, acceptable=t["result"] == "acceptable",
                expectation=expectation, source=f"vectors/handshake/server_requests.json#{t['id']}")


# ====================================================================== helpers

def connect_v4(ctx):
    m = ctx.mqtt(version=4)
    return m


def judge_refusal(ctx, m, exp_close=None, invalid=True, probe=True, own_pingresps=0):
    o = m.outcome(probe=probe, own_pingresps=own_pingresps)
    ctx.tr.note("outcome: " + o.summary())
    if exp_close and invalid:
        ctx.judge_close(exp_close, o)
    if invalid:
        if o.refused:
            ctx.passed("refused: " + o.summary())
        elif o.accepted:
            ctx.fail("accepted: " + o.summary(), "the connection closed (close frame, DISCONNECT or TCP close)")
        else:
            ctx.fail(o.summary(), "the connection closed")
    else:
        if o.accepted:
            ctx.passed("accepted: " + o.summary())
        else:
            ctx.fail("refused a valid input: " + o.summary(), "accepted (PINGREQ still answered)")
    return o


def judge_invalid_close(ctx, m, expected=1002, sent=None):
    """An invalid close frame was sent: failing the connection (close `expected`
    or a bare TCP close) passes; echoing an invalid code fails; closing with
    another code is non-strict (a plain echo is not a refusal)."""
    o = m.outcome(probe=False)
    ctx.tr.note("outcome: " + o.summary())
    ctx.judge_close(expected, o)
    if o.close_code in (1005, 1006, 1015) or (sent is not None and o.close_code == sent and sent != expected
                                               and (sent < 1000 or sent in (1004, 1005, 1006, 1015))):
        ctx.fail(f"answered with close code {o.close_code}", f"close {expected} (or TCP close); never 1005/1006")
    elif o.close_code == expected or (o.eof and o.close_code is None):
        ctx.passed("failed the connection: " + o.summary())
    elif o.close_code is not None:
        ctx.non_strict(f"closed with code {o.close_code or '(none)'} as after a normal close",
                       f"close {expected}: the close frame was invalid")
    else:
        ctx.fail(o.summary(), "the connection failed")


# ====================================================================== ws frames

def mqtt_stream_ok(payload):
    """True when `payload` is a run of whole client packets harmless to send."""
    r = mqtt.PacketReader()
    try:
        pkts = r.feed(payload)
    except mqtt.Malformed:
        return False
    if r.buf:
        return False
    return all(p[0] >> 4 in (mqtt.PINGREQ,) or (p[0] >> 4 == mqtt.PUBLISH and not p[0] & 6) for p in pkts)


def make_frame_case(doc, params, t):
    exp = t["expect"]
    events = exp.get("events", [])
    limit = "max_message" in params
    if t["result"] == "valid" and not limit:
        if exp.get("incomplete"):
            return None
        kinds = {e["type"] for e in events}
        data = b"".join(bytes.fromhex(e["payload"]) for e in events if e["type"] == "data")
        if any(e.get("opcode") == "text" for e in events if e["type"] == "data"):
            return None
        if "close" in kinds:
            kind = "close"
        elif data and not mqtt_stream_ok(data):
            return None
        else:
            kind = "accept"
    elif t["result"] == "valid":
        data = b"".join(bytes.fromhex(e["payload"]) for e in events if e["type"] == "data")
        if data and not mqtt_stream_ok(data):
            return None
        kind = "accept"
    else:
        kind = "refuse"
    raw = bytes.fromhex(t["input"])

    def run(ctx):
        m = connect_v4(ctx)
        m.ws.send_raw(raw, f"frames from vector {t['id']}")
        if kind == "close":
            o = m.outcome(probe=False)
            ok = o.close_code is not None
            ctx.check(ok, "close handshake: " + o.summary(), "a close frame in answer, then TCP close")
            if ok and events[0].get("close_code") not in (None, 1005) and o.close_code not in (events[0]["close_code"], 0):
                ctx.non_strict(f"answered close code {o.close_code} to {events[0]['close_code']}",
                               "the received code echoed")
            return
        if limit:
            o = m.outcome()
            ctx.info(o.summary(), "the reference refuses messages over its 100-byte limit (an implementation choice)")
            return
        if kind == "refuse" and raw[0] == 0x88 and len(raw) <= 131 and raw[1] & 0x7F == len(raw) - 6:
            code = int.from_bytes(ws.apply_mask(raw[6:8], raw[2:6]), "big") if len(raw) >= 8 else None
            judge_invalid_close(ctx, m, exp.get("close_code") or 1002, code)
            return
        judge_refusal(ctx, m, exp.get("close_code"), invalid=kind == "refuse")

    group = "framing"
    return Case("vec." + t["id"], t["comment"], group, t["refs"], run, mqtt=None,
                acceptable=t["result"] == "acceptable",
                expectation=("the connection failed (close 1002/1007 or TCP close)" if kind == "refuse" else
                             "a close frame echoed" if kind == "close" else "frames accepted, connection alive"),
                source=f"vectors/ws/frames.json#{t['id']}")


# ====================================================================== stream (reassembly)

RESPONSE_TO = {mqtt.CONNECT: "CONNACK", mqtt.SUBSCRIBE: "SUBACK", mqtt.UNSUBSCRIBE: "UNSUBACK",
               mqtt.PINGREQ: "PINGRESP"}


def expected_responses(pkts):
    out = []
    for p in pkts:
        t = p[0] >> 4
        if t == mqtt.PUBLISH:
            q = (p[0] >> 1) & 3
            if q:
                out.append("PUBACK" if q == 1 else "PUBREC")
        elif t in RESPONSE_TO:
            out.append(RESPONSE_TO[t])
    return out


def make_stream_case(doc, params, t):
    if params.get("transport", "ws") != "ws" or params.get("role", "server") != "server":
        return None
    exp = t["expect"]
    events = exp.get("events", [])
    pkts = [bytes.fromhex(e["hex"]) for e in events if e["type"] == "packet"]
    has_connect = bool(pkts) and pkts[0][0] >> 4 == mqtt.CONNECT
    ends = [e for e in events if e["type"] == "close"] or [p for p in pkts if p[0] >> 4 == mqtt.DISCONNECT]
    limit = "max_packet" in params or "max_message" in params
    invalid = t["result"] == "invalid"
    chunks = [bytes.fromhex(c) for c in t["chunks"]]

    def run(ctx):
        c = ctx.ws()
        m = MqttClient(c, 4)
        if not has_connect:
            m.connect(ctx.client_id(), expect_ok=True)
        for i, ch in enumerate(chunks):
            c.send_raw(ch, f"chunk {i + 1}/{len(chunks)}")
            if len(chunks) > 1:
                time.sleep(0.002)
        if limit:
            o = m.outcome()
            ctx.info(o.summary(), "depends on the target's packet/message limits (the vector's are 32/64 bytes)")
            return
        if invalid:
            pings = sum(1 for p in pkts if p[0] >> 4 == mqtt.PINGREQ)
            judge_refusal(ctx, m, exp.get("close_code"), own_pingresps=pings)
            return
        want = expected_responses(pkts)
        if ends:
            # the connection ends with the input: answers before the close are optional
            o = m.outcome(probe=False, until_close=True)
            ctx.check(o.eof or o.close_code is not None, f"{o.summary()}; packets {[p['type'] for p in o.packets]}",
                      "the packets processed, then the connection closed")
            return
        got = []
        deadline = time.monotonic() + ctx.target.timeout
        missing = list(want)
        while missing and time.monotonic() < deadline:
            d = m.recv(deadline - time.monotonic(), skip=())
            if isinstance(d, Event):
                break
            got.append(d["type"])
            if d["type"] in missing:
                missing.remove(d["type"])
        if missing:
            ctx.fail(f"answers seen {got}; missing {missing}", f"answers {want} to the reassembled packets")
            return
        o = m.outcome()
        ctx.check(o.accepted, f"answers {got}; then {o.summary()}", f"answers {want}; connection alive")

    group = "binary" if "MQTT-6.0.0-1" in t["refs"] and invalid else "reassembly"
    return Case("vec." + t["id"], t["comment"], group, t["refs"], run, mqtt=4,
                acceptable=t["result"] == "acceptable", lane="fixed-client-ids" if has_connect else None,
                expectation=("the connection closed" if invalid else
                             "the server answers each reassembled packet"),
                source=f"vectors/stream/reassembly.json#{t['id']}")


# ====================================================================== MQTT packets

def feature_needs(pkt, version):
    """What a valid packet needs from the target (5.0 CONNACK capabilities)."""
    needs = []
    try:
        d = mqtt.decode(pkt, version)
    except Exception:  # noqa: BLE001 - invalid vectors are not decoded
        return needs
    if d["type"] == "PUBLISH":
        if d["retain"]:
            needs.append("retain")
        if d["qos"] == 2:
            needs.append("qos2")
        if any(n == "topic_alias" for n, _ in d["props"]):
            needs.append(("topic_alias", max(v for n, v in d["props"] if n == "topic_alias")))
    if d["type"] == "SUBSCRIBE":
        if any(n == "subscription_id" for n, _ in d["props"]):
            needs.append("subscription_ids")
        fs = [f for f, _ in d["filters"]]
        if any(f.startswith("$share/") for f in fs):
            needs.append("shared")
        if any("+" in f or "#" in f for f in fs):
            needs.append("wildcards")
    return needs


def alias_needed(raw, version):
    """The Topic Alias an empty-topic PUBLISH refers to (it must be set first on a live connection)."""
    try:
        d = mqtt.decode(raw, version)
    except mqtt.Malformed:
        return None
    if d["type"] == "PUBLISH" and d["topic"] == "":
        return dict(d["props"]).get("topic_alias")
    return None


def capability(m, need):
    """(ok, reason) for a need against the session's CONNACK (3.1.1: assumed present)."""
    if m.version != 5:
        return True, ""
    props = dict((n, v) for n, v in m.connack.get("props", []))
    if isinstance(need, tuple):
        mx = props.get("topic_alias_maximum", 0)
        return mx >= need[1], f"Topic Alias Maximum {mx} < alias {need[1]}"
    names = {"retain": ("retain_available", 1), "qos2": ("maximum_qos", 2),
             "subscription_ids": ("sub_id_available", 1), "shared": ("shared_sub_available", 1),
             "wildcards": ("wildcard_sub_available", 1)}
    pname, default = names[need]
    v = props.get(pname, default)
    return (v >= (2 if need == "qos2" else 1)), f"CONNACK {pname} = {v}"


def make_packet_case(doc, rel, params, t):
    version = params["version"]
    raw = bytes.fromhex(t["input"])
    if not raw:
        return None
    ptype = raw[0] >> 4
    exp = t["expect"]
    if ptype in SERVER_TO_CLIENT or exp.get("error") == "NEED_MORE":
        return None
    if t["result"] == "valid" and ptype == mqtt.PUBLISH and version == 5:
        try:
            if any(n == "subscription_id" for n, _ in mqtt.decode(raw, 5)["props"]):
                return None  # a form only the server sends (a client's is a Protocol Error)
        except mqtt.Malformed:
            pass
    legacy31 = raw[2:10] == b"\x00\x06MQIsdp" if ptype == mqtt.CONNECT else False
    if ptype == mqtt.CONNECT and len(raw) > 8 and raw[2:8] == b"\x00\x04MQTT" and raw[8] in (4, 5):
        conn_version = raw[8]
    else:
        conn_version = version
    limit = "max_packet_size" in params
    result = t["result"]
    code = exp.get("reason_code")
    needs = feature_needs(raw, conn_version) if result == "valid" else []

    def run_connect(ctx):
        c = ctx.ws()
        m = MqttClient(c, conn_version)
        c.send_mqtt(raw, f"CONNECT from vector {t['id']}")
        o = m.outcome()
        ctx.tr.note("outcome: " + o.summary())
        if o.accepted:
            m.disconnect()  # a clean end: no will message (some vectors carry retained wills)
        if limit:
            ctx.info(o.summary(), "depends on the target's packet size limit")
        elif result == "valid":
            if o.accepted and o.connack == 0:
                ctx.passed(o.summary())
            elif o.connack in POLICY_REFUSALS:
                ctx.info(o.summary(), "CONNACK 0 (refused for a reason other than the packet's form)")
            else:
                ctx.fail(o.summary(), "CONNACK 0 and the connection alive")
        elif result == "acceptable":
            ctx.passed(("accepted: " if o.accepted else "refused: ") + o.summary())
        else:
            if not o.refused and legacy31:
                ctx.info("accepted as MQTT 3.1: " + o.summary(), "refused by a server without MQTT 3.1 support")
            elif not o.refused:
                ctx.fail(o.summary(), "no CONNACK 0; the connection closed")
            elif version == 4 and code and ("MQTT-3.1.2-2" in t["refs"] or "MQTT-3.1.3-8" in t["refs"]):
                ctx.check(o.connack == code, o.summary(), f"CONNACK return code 0x{code:02x}, then close")
            else:
                ctx.passed("refused: " + o.summary())

    def run_after_connect(ctx):
        m = ctx.mqtt(version=version)
        for need in needs:
            ok, why = capability(m, need)
            if not ok:
                ctx.skip(f"target lacks the feature this packet uses ({why})")
        if ptype == mqtt.AUTH and result != "invalid":
            ctx.skip("needs enhanced authentication (the CONNECT carried no Authentication Method)")
        alias = alias_needed(raw, version) if result == "valid" else None
        if alias:
            m.send(mqtt.publish(ctx.topic("alias"), b"", version=5, props=[("topic_alias", alias)]),
                   f"PUBLISH setting Topic Alias {alias} first")
        m.ws.send_mqtt(raw, f"packet from vector {t['id']}")
        if limit:
            o = m.outcome()
            ctx.info(o.summary(), "depends on the target's packet size limit")
        elif ptype == mqtt.DISCONNECT and result != "invalid":
            o = m.outcome(probe=False)
            ok = (o.eof or o.close_code is not None) and o.disconnect is None
            ctx.check(ok, o.summary(), "the server closes the connection, without an error")
        elif result == "acceptable":
            o = m.outcome()
            ctx.passed(("accepted: " if o.accepted else "refused: ") + o.summary())
        else:
            o = judge_refusal(ctx, m, invalid=result == "invalid")
            if o.accepted and "retain" in needs:
                # leave no retained message behind on the target
                d = mqtt.decode(raw, version)
                if d["payload"] and d["topic"]:
                    m.send(mqtt.publish(d["topic"], b"", 0, True, version=version), "clearing the retained message")

    run = run_connect if ptype == mqtt.CONNECT else run_after_connect
    lane = None
    if ptype == mqtt.CONNECT:
        lane = "fixed-client-ids"  # vectors reuse ClientIds such as 'c1' and 'mqws'
    expectation = ("refused: the connection closes" + (f" (reason/return code 0x{code:02x})" if code else "")
                   if result == "invalid" else "accepted" if result == "valid" else
                   "either outcome allowed: " + flag_text(doc, t))
    return Case("vec." + t["id"], t["comment"], "mqtt", t["refs"], run, mqtt=conn_version if ptype == mqtt.CONNECT else version,
                acceptable=result == "acceptable", lane=lane, expectation=expectation,
                needs=("mqtt5",) if version == 5 or conn_version == 5 else (),
                source=f"{rel}#{t['id']}")


def _add_all(rel, make):
    try:
        doc = load(rel)
    except (OSError, ValueError) as e:
        print(f"mqws-check: cannot read vectors/{rel} ({e}); its cases are missing (set MQWS_VECTORS)",
              file=sys.stderr)
        return
    for params, _, t in tests(doc):
        try:
            c = make(doc, params, t)
        except (KeyError, ValueError, TypeError, IndexError) as e:
            print(f"mqws-check: vector {t.get('id')} in vectors/{rel} not usable ({e!r})", file=sys.stderr)
            continue
        if c:
            REGISTRY.add(c)


def register():
    _add_all("handshake/server_requests.json", make_handshake_case)
    _add_all("ws/frames.json", lambda doc, p, t: make_frame_case(doc, p, t) if p.get("role") == "server" else None)
    _add_all("stream/reassembly.json", make_stream_case)
    for rel in ("mqtt/v311.json", "mqtt/v5.json"):
        _add_all(rel, lambda doc, p, t, rel=rel: make_packet_case(doc, "vectors/" + rel, p, t))
