#!/usr/bin/python3
"""Lint the mqws test vectors (vectors/README.md).

Checks every vectors/**/*.json (or the files named on the command line):
  - JSON Schema draft-07 (schema/mqws-vectors.schema.json), one kind per file;
  - ids unique across all files (retired ids included) and prefixed by area;
  - numberOfTests equals the number of tests;
  - every flag used is explained in `notes`, every note is used;
  - every `acceptable` test has a flag;
  - refs well-formed (RFC6455-x.y, RFC7230-x.y, RFC3629-x, MQTT-x.y.z[-n]);
  - error names exist in reference/include/mqws/error.h (X-macro names), and the
    close code / HTTP status a vector expects matches that error's column there;
  - Sec-WebSocket-Accept values equal base64(SHA-1(key + GUID)) (RFC 6455 4.2.2);
  - hex is lower-case, whole bytes; text files end in a newline, no tabs or
    trailing blanks;
  - minimum number of tests per kind (sum over files).

Uses only the standard library and Debian's python3-jsonschema.
Exit status: 0 clean, 1 problems found, 2 usage / environment error.
"""

import argparse
import base64
import glob
import hashlib
import json
import os
import re
import sys

try:
    import jsonschema
except ImportError:  # pragma: no cover
    sys.stderr.write("lint.py: python3-jsonschema is required (apt-get install python3-jsonschema)\n")
    sys.exit(2)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCHEMA = os.path.join(HERE, "schema", "mqws-vectors.schema.json")
ERROR_H = os.path.join(ROOT, "reference", "include", "mqws", "error.h")
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

MIN_TESTS = {
    "accept": 4,
    "handshake_request": 40,
    "ws_frames": 60,
    "mqtt_packet": 80,
    "stream": 20,
}

# Id prefix per kind; mqtt_packet depends on the group's version.
PREFIX = {
    "accept": "accept-",
    "handshake_request": "hs-",
    "handshake_response": "hsresp-",
    "ws_frames": "ws-",
    "stream": "stream-",
}

REF_RE = re.compile(r"^(?:RFC(?:6455|7230|3629)-[0-9]+(?:\.[0-9]+)*|MQTT-[0-9]+(?:\.[0-9]+)*(?:-[0-9]+)?)$")
HEX_RE = re.compile(r"^(?:[0-9a-f]{2})*$")
ACCEPT_KEY_RE = re.compile(r"\r\nsec-websocket-key:[ \t]*([^\r\n]*?)[ \t]*\r\n", re.I)


def parse_errors(path):
    """Returns {name: (http_status, ws_close_code, mqtt5_reason)} from the X-macro."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    # X(NAME, "ref", http, ws, rc, ... ) -- entries may span lines (backslash continuations).
    text = text.replace("\\\n", " ")
    out = {}
    for m in re.finditer(r"\bX\(\s*([A-Z][A-Z0-9_]*)\s*,\s*\"[^\"]*\"\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(0x[0-9A-Fa-f]+|\d+)\s*,", text):
        out[m.group(1)] = (int(m.group(2)), int(m.group(3)), int(m.group(4), 0))
    return out


def accept_of(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode("latin-1")).digest()).decode()


class Linter:
    def __init__(self, errors, validator):
        self.errors = errors
        self.validator = validator
        self.problems = 0
        self.warnings = 0
        self.ids = {}  # id -> file
        self.counts = {}  # kind -> tests

    def problem(self, where, msg):
        self.problems += 1
        print("  ERROR %s: %s" % (where, msg))

    def warn(self, where, msg):
        self.warnings += 1
        print("  warning %s: %s" % (where, msg))

    def check_error_name(self, where, name):
        if name not in self.errors:
            self.problem(where, "unknown error name %r (not in error.h)" % name)
            return False
        return True

    def check_text_format(self, rel, raw):
        if not raw.endswith("\n"):
            self.problem(rel, "file does not end with a newline")
        for n, line in enumerate(raw.split("\n"), 1):
            if "\t" in line:
                self.problem("%s:%d" % (rel, n), "tab character (indent with spaces)")
            if line != line.rstrip(" "):
                self.problem("%s:%d" % (rel, n), "trailing blanks")

    def lint_file(self, path):
        rel = os.path.relpath(path, ROOT)
        try:
            with open(path, encoding="utf-8") as f:
                raw = f.read()
            data = json.loads(raw)
        except (OSError, ValueError) as e:
            print("%s" % rel)
            self.problem(rel, "cannot read JSON: %s" % e)
            return
        before = self.problems
        print("%s" % rel)
        self.check_text_format(rel, raw)

        schema_errors = sorted(self.validator.iter_errors(data), key=lambda e: list(e.absolute_path))
        for e in schema_errors[:20]:
            loc = "/".join(str(p) for p in e.absolute_path) or "(top)"
            msg = e.message if len(e.message) < 300 else e.message[:300] + "..."
            if e.context:  # oneOf: show the closest branch's reasons
                best = sorted(e.context, key=lambda c: -len(c.absolute_path))[0]
                msg += " [e.g. %s]" % best.message[:200]
            self.problem("%s @ %s" % (rel, loc), "schema: " + msg)
        if len(schema_errors) > 20:
            self.problem(rel, "%d more schema errors" % (len(schema_errors) - 20))
        if not isinstance(data, dict) or not isinstance(data.get("testGroups"), list):
            return

        kind = data.get("kind")
        notes = data.get("notes") if isinstance(data.get("notes"), dict) else {}
        used_flags = set()
        n_tests = 0
        results = {"valid": 0, "invalid": 0, "acceptable": 0}

        for rid in data.get("retired", []) or []:
            if isinstance(rid, dict) and isinstance(rid.get("id"), str):
                self.claim_id(rid["id"], rel)

        for gi, grp in enumerate(data["testGroups"]):
            if not isinstance(grp, dict):
                continue
            params = grp.get("params") or {}
            for t in grp.get("tests", []) or []:
                if not isinstance(t, dict):
                    continue
                n_tests += 1
                tid = t.get("id", "?")
                where = "%s [%s]" % (rel, tid)
                if isinstance(tid, str):
                    self.claim_id(tid, rel)
                    self.check_prefix(where, kind, params, tid)
                flags = t.get("flags") or []
                for fl in flags:
                    used_flags.add(fl)
                    if fl not in notes:
                        self.problem(where, "flag %r is not explained in notes" % fl)
                res = t.get("result")
                if res in results:
                    results[res] += 1
                if res == "acceptable" and not flags:
                    self.problem(where, "acceptable test without a flag")
                for r in t.get("refs") or []:
                    if not isinstance(r, str) or not REF_RE.match(r):
                        self.problem(where, "malformed ref %r" % (r,))
                self.check_hex(where, t)
                expect = t.get("expect")
                if isinstance(expect, dict):
                    self.check_expect(where, kind, params, t, expect)

        if data.get("numberOfTests") != n_tests:
            self.problem(rel, "numberOfTests is %r, file has %d tests" % (data.get("numberOfTests"), n_tests))
        for note in notes:
            if note not in used_flags:
                self.problem(rel, "note %r is not used by any test" % note)
        if isinstance(kind, str):
            self.counts[kind] = self.counts.get(kind, 0) + n_tests
        status = "ok" if self.problems == before else "%d problem(s)" % (self.problems - before)
        print("  kind=%s groups=%d tests=%d (valid %d, invalid %d, acceptable %d) flags=%d: %s"
              % (kind, len(data["testGroups"]), n_tests, results["valid"], results["invalid"],
                 results["acceptable"], len(used_flags), status))

    def claim_id(self, tid, rel):
        if tid in self.ids:
            self.problem(rel, "duplicate id %r (also in %s)" % (tid, self.ids[tid]))
        else:
            self.ids[tid] = rel

    def check_prefix(self, where, kind, params, tid):
        if kind == "mqtt_packet":
            want = "mqtt%s-" % params.get("version", "?")
        else:
            want = PREFIX.get(kind)
        if want and not tid.startswith(want):
            self.problem(where, "id should start with %r" % want)

    def check_hex(self, where, t):
        def walk(obj, path):
            if isinstance(obj, dict):
                for k, v in obj.items():
                    if k in ("input", "payload", "hex", "will_payload", "password") and isinstance(v, str):
                        if not HEX_RE.match(v):
                            self.problem(where, "%s%s is not lower-case hex of whole bytes" % (path, k))
                    elif k == "chunks" and isinstance(v, list):
                        for i, c in enumerate(v):
                            if not isinstance(c, str) or not HEX_RE.match(c):
                                self.problem(where, "chunks[%d] is not lower-case hex" % i)
                    else:
                        walk(v, path + k + ".")
            elif isinstance(obj, list):
                for i, v in enumerate(obj):
                    walk(v, path + "%d." % i)
        walk({k: v for k, v in t.items() if k != "text"}, "")

    def check_expect(self, where, kind, params, t, expect):
        err = expect.get("error")
        if isinstance(err, str):
            if not self.check_error_name(where, err):
                err = None
        else:
            err = None
        if err and err != "NEED_MORE" and t.get("result") == "valid":
            self.problem(where, "result valid but expect.error %s" % err)
        if kind in ("accept",):
            if "accept" in expect:
                if expect["accept"] != accept_of(t.get("key", "")):
                    self.problem(where, "accept %r != base64(SHA-1(key+GUID)) %r"
                                 % (expect["accept"], accept_of(t.get("key", ""))))
            elif t.get("result") == "valid" and expect.get("key_valid") is not False:
                self.problem(where, "valid accept test without accept value")
        if kind == "handshake_request":
            st = expect.get("status")
            if err and err != "NEED_MORE" and st is not None:
                want = self.errors[err][0]
                if want and st != want:
                    self.problem(where, "status %s but error.h gives %s %d" % (st, err, want))
            if st == 101 and "accept" in expect and isinstance(t.get("text"), str):
                m = ACCEPT_KEY_RE.search(t["text"])
                if m and expect["accept"] != accept_of(m.group(1)):
                    self.problem(where, "accept does not match the request's key")
            if st == 101 and t.get("result") == "invalid":
                self.problem(where, "result invalid but status 101")
            if st is not None and st != 101 and t.get("result") == "valid":
                self.problem(where, "result valid but status %s" % st)
        if kind in ("ws_frames", "stream"):
            cc = expect.get("close_code")
            if err and cc is not None:
                want = self.errors[err][1]
                if want != cc:
                    self.problem(where, "close_code %s but error.h gives %s %d" % (cc, err, want))
            if err and cc is None and self.errors[err][1] and params.get("transport", "ws") == "ws":
                self.problem(where, "error %s without close_code (error.h: %d)" % (err, self.errors[err][1]))
            for ev in expect.get("events") or []:
                if isinstance(ev, dict) and ev.get("type") == "close":
                    c = ev.get("close_code")
                    if isinstance(c, int) and c in (1004, 1006, 1015):
                        self.problem(where, "close event with code %d that may not be sent" % c)
        if kind == "mqtt_packet" and err and err != "NEED_MORE" and "reason_code" in expect:
            if params.get("version") == 5:
                want = self.errors[err][2]
                if want and expect["reason_code"] != want:
                    self.warn(where, "reason_code 0x%02x but error.h gives %s 0x%02x"
                              % (expect["reason_code"], err, want))
        if kind == "mqtt_packet" and t.get("result") == "invalid" and not err:
            self.problem(where, "invalid mqtt_packet test without expect.error")
        if kind in ("ws_frames", "stream", "handshake_response") and t.get("result") == "invalid" and not err:
            self.problem(where, "invalid test without expect.error")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*", help="vector files (default: vectors/**/*.json)")
    ap.add_argument("--no-minimums", action="store_true", help="skip the per-kind minimum counts")
    args = ap.parse_args()

    try:
        with open(SCHEMA, encoding="utf-8") as f:
            schema = json.load(f)
        jsonschema.Draft7Validator.check_schema(schema)
    except Exception as e:  # noqa: BLE001 - any failure here is fatal
        sys.stderr.write("lint.py: bad schema %s: %s\n" % (SCHEMA, e))
        return 2
    errors = parse_errors(ERROR_H)
    if "OK" not in errors or "NEED_MORE" not in errors or len(errors) < 10:
        sys.stderr.write("lint.py: could not parse error names from %s\n" % ERROR_H)
        return 2

    files = args.files
    if not files:
        files = sorted(p for p in glob.glob(os.path.join(HERE, "**", "*.json"), recursive=True)
                       if os.path.abspath(os.path.dirname(p)) != os.path.join(HERE, "schema"))
    if not files:
        sys.stderr.write("lint.py: no vector files found\n")
        return 1

    lint = Linter(errors, jsonschema.Draft7Validator(schema))
    for p in files:
        lint.lint_file(p)

    print("totals:")
    kinds = MIN_TESTS if not args.files else {k: v for k, v in MIN_TESTS.items() if k in lint.counts}
    for k in sorted(set(lint.counts) | set(kinds)):
        n = lint.counts.get(k, 0)
        need = MIN_TESTS.get(k, 0)
        flag = ""
        if not args.no_minimums and k in kinds and n < need:
            lint.problems += 1
            flag = "  ERROR: fewer than %d" % need
        print("  %-20s %4d%s" % (k, n, flag))
    print("%d file(s), %d test(s), %d problem(s), %d warning(s)"
          % (len(files), sum(lint.counts.values()), lint.problems, lint.warnings))
    return 1 if lint.problems else 0


if __name__ == "__main__":
    sys.exit(main())
