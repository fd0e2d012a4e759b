#!/usr/bin/env python3
"""Builds docs/requirements.md: requirement id -> vectors, errors and tests that cover it.

Sources: the `refs` of every vector in vectors/, the requirement column of the
error table (reference/include/mqws/error.h), requirement ids quoted in
reference/tests/*.c and fuzz/*.c, and the live cases of the conformance suite
(conformance/mqws_conformance, read without a network).

  ci/requirements.py           rewrite docs/requirements.md
  ci/requirements.py --check   exit 1 if docs/requirements.md is not current
"""
import glob
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "docs", "requirements.md")
REF_RE = re.compile(r"\b((?:RFC\d+|MQTT)-\d+(?:\.\d+)*(?:-\d+)?)\b")
ERR_RE = re.compile(r'^\s*X\((\w+),\s*"([^"]*)"', re.M)


def ref_key(ref):
    head, _, rest = ref.partition("-")
    nums = [int(x) for x in re.findall(r"\d+", rest)]
    return (head, nums)


def collect():
    table = {}
    expecting = {}  # error name -> {file label: [vector ids expecting it]}

    def row(ref):
        return table.setdefault(ref, {"vectors": {}, "errors": set(), "tests": set()})

    for path in sorted(glob.glob(os.path.join(ROOT, "vectors", "**", "*.json"), recursive=True)):
        if "/schema/" in path:
            continue
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        rel = os.path.relpath(path, ROOT)
        version = None
        for group in doc.get("testGroups", []):
            version = group.get("params", {}).get("version")
            for t in group.get("tests", []):
                label = rel if version is None else f"{rel} (v{version})"
                for ref in t.get("refs", []):
                    row(ref)["vectors"].setdefault(label, []).append(t["id"])
                err = t.get("expect", {}).get("error")
                if err:
                    expecting.setdefault(err, {}).setdefault(label, []).append(t["id"])
    with open(os.path.join(ROOT, "reference", "include", "mqws", "error.h"), encoding="utf-8") as f:
        for name, ref in ERR_RE.findall(f.read()):
            if ref:
                row(ref)["errors"].add("MQWS_ERR_" + name)
                # the rule an error enforces is exercised by every vector expecting that error
                for label, ids in expecting.get(name, {}).items():
                    row(ref)["vectors"].setdefault(label, []).extend(
                        i for i in ids if i not in row(ref)["vectors"].get(label, []))
    for path in sorted(glob.glob(os.path.join(ROOT, "reference", "tests", "*.c")) +
                       glob.glob(os.path.join(ROOT, "fuzz", "*.c"))):
        with open(path, encoding="utf-8") as f:
            for ref in set(REF_RE.findall(f.read())):
                row(ref)["tests"].add(os.path.relpath(path, ROOT))
    for case in suite_cases():
        for ref in case.refs:
            row(ref).setdefault("cases", []).append(case.id)
    return table


def suite_cases():
    """The conformance suite's registered cases (mqws-check --list)."""
    sys.path.insert(0, os.path.join(ROOT, "conformance"))
    from mqws_conformance.cases import register_all
    from mqws_conformance.registry import REGISTRY
    if not REGISTRY.cases:
        register_all()
    return REGISTRY.cases


# Section 6 of MQTT and the RFC 6455 rules that bind a server: each is covered
# by live suite cases or marked not applicable here, with the reason.
SERVER_RULES = [
    ("MQTT-6.0.0-1", "binary data frames only; other data frames close the connection"),
    ("MQTT-6.0.0-2", "packets are not aligned on frame boundaries"),
    ("MQTT-6.0.0-3", "the client offers 'mqtt' (the server side: selection judged with 6.0.0-4)"),
    ("MQTT-6.0.0-4", "the server selects 'mqtt'"),
    ("RFC6455-4.2.1", "reading the client's opening handshake"),
    ("RFC6455-4.2.2", "the server's opening handshake response"),
    ("RFC6455-4.4", "unsupported versions: error listing the supported ones"),
    ("RFC6455-5.1", "client frames masked; server frames unmasked"),
    ("RFC6455-5.2", "RSV bits, opcodes, minimal lengths"),
    ("RFC6455-5.4", "fragmentation rules"),
    ("RFC6455-5.5", "control frames: at most 125 bytes, not fragmented"),
    ("RFC6455-5.5.1", "close handshake"),
    ("RFC6455-5.5.2", "ping answered with pong"),
    ("RFC6455-7.4.1", "close codes that are never sent"),
    ("RFC6455-8.1", "UTF-8 in text payloads and close reasons"),
    ("RFC6455-10.4", "message size limits (1009)"),
    ("RFC6455-11.3.1", "Sec-WebSocket-Key once"),
]
NOT_APPLICABLE = [
    ("RFC6455-4.2.1 (TLS)", "whether TLS is used is the operator's choice; wss:// runs the same cases over TLS"),
    ("RFC6455-5.6 (text UTF-8)", "MQTT never uses text frames: MQTT-6.0.0-1 closes on any text frame first"),
    ("RFC6455-9 (extensions)", "no extension is defined for MQTT; the suite checks that an unknown offer is not selected"),
    ("RFC6455-10.2 (Origin)", "an Origin policy is the operator's choice; recorded as informational"),
]


def render(table):
    lines = [
        "# Requirement matrix",
        "",
        "Generated by `ci/requirements.py` from the vectors' `refs`, the error table",
        "(`reference/include/mqws/error.h`) and the requirement ids quoted in tests;",
        "`make test` fails when this file is stale. Ids: `RFC6455-<section>`,",
        "`MQTT-<normative id>` (3.1.1 numbering for v4 vectors, 5.0 for v5).",
        "",
        "A requirement that names a libmqws error also lists the vectors expecting that",
        "error. Verdict on the reference (libmqws): every vector listed runs in `make test`",
        "(plain and ASan+UBSan) and must give its expected result, so a listed",
        "requirement is *pass* whenever `make test` passes. Requirements with no",
        "vector and no test are marked *untested*.",
        "",
        "Suite cases are the live cases of `mqws-check` (conformance/) that cite the",
        "requirement; they run against a broker, not against libmqws.",
        "",
        "| requirement | vectors | libmqws error | other tests | suite cases | verdict |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for ref in sorted(table, key=ref_key):
        r = table[ref]
        n = sum(len(v) for v in r["vectors"].values())
        vec = "; ".join(
            f"`{f}`: {len(ids)} ({', '.join(ids[:3])}{', …' if len(ids) > 3 else ''})"
            for f, ids in sorted(r["vectors"].items()))
        errs = ", ".join(f"`{e}`" for e in sorted(r["errors"]))
        tests = ", ".join(f"`{t}`" for t in sorted(r["tests"]))
        cases = r.get("cases", [])
        live = (f"{len(cases)} ({', '.join(f'`{c}`' for c in cases[:3])}{', …' if len(cases) > 3 else ''})"
                if cases else "—")
        verdict = "pass" if n or r["tests"] else ("live" if cases else "untested")
        lines.append(f"| {ref} | {vec or '—'} | {errs or '—'} | {tests or '—'} | {live} | {verdict} |")
    total = sum(1 for r in table.values() if sum(len(v) for v in r["vectors"].values()) or r["tests"])
    live_total = sum(1 for r in table.values() if r.get("cases"))
    lines += ["", f"{len(table)} requirement ids, {total} covered by vectors or tests, "
              f"{live_total} by live suite cases.", "",
              "## MQTT section 6 and the RFC 6455 rules that bind a server", "",
              "| rule | what | suite cases |", "| --- | --- | --- |"]
    for ref, what in SERVER_RULES:
        cases = table.get(ref, {}).get("cases", [])
        lines.append(f"| {ref} | {what} | {len(cases) if cases else 'NOT COVERED'} |")
    lines += ["", "Not applicable to a live check, with the reason:", ""]
    lines += [f"- {ref}: {why}" for ref, why in NOT_APPLICABLE]
    lines.append("")
    return "\n".join(lines)


def main():
    text = render(collect())
    if "--check" in sys.argv:
        try:
            with open(OUT, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = ""
        if current != text:
            print("docs/requirements.md is stale: run ci/requirements.py", file=sys.stderr)
            return 1
        print("docs/requirements.md is current")
        return 0
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(OUT, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
