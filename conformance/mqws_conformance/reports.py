"""Report writers: report.json (docs/report-schema.json), JUnit XML, Markdown
and a self-contained HTML page, all from the same report document."""
import html
import json
import os
import shlex
import xml.etree.ElementTree as ET

from .registry import GROUPS, VERDICTS

FORMATS = ("json", "junit", "md", "html")
FILES = {"json": "report.json", "junit": "report.xml", "md": "report.md", "html": "report.html"}


KEEP_WITH_VALUE = {"--mqtt", "--cafile", "--username", "--password", "--timeout"}
KEEP_FLAGS = {"--insecure", "--strict"}


def repro(doc, case_id):
    """Command that re-runs one case against the same target, with the options
    that change how it runs (TLS trust, credentials, version, timeout)."""
    argv = list(doc.get("command") or [])[1:]
    keep = []
    i = 0
    while i < len(argv):
        a = argv[i]
        name = a.split("=", 1)[0]
        if name in KEEP_WITH_VALUE:
            if "=" in a:
                keep.append(a)
            elif i + 1 < len(argv):
                keep += [a, argv[i + 1]]
                i += 1
        elif name in KEEP_FLAGS:
            keep.append(a)
        i += 1
    extra = "".join(" " + shlex.quote(x) for x in keep)
    return f"mqws-check {shlex.quote(doc['target'])}{extra} --only {shlex.quote(case_id)}"


def write_json(doc, path):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")


def write_junit(doc, path):
    suites = ET.Element("testsuites", name="mqws-check", tests=str(len(doc["cases"])),
                        failures=str(sum(c["verdict"] == "fail" and c.get("baseline") != "known"
                                         for c in doc["cases"])),
                        errors=str(sum(c["verdict"] == "error" for c in doc["cases"])),
                        time=f"{sum(c['duration_ms'] for c in doc['cases']) / 1000:.3f}")
    for group, title in GROUPS:
        cases = [c for c in doc["cases"] if c["group"] == group]
        if not cases:
            continue
        s = ET.SubElement(suites, "testsuite", name=group,
                          tests=str(len(cases)),
                          failures=str(sum(c["verdict"] == "fail" and c.get("baseline") != "known" for c in cases)),
                          errors=str(sum(c["verdict"] == "error" for c in cases)),
                          skipped=str(sum(c["verdict"] == "skipped" for c in cases)),
                          time=f"{sum(c['duration_ms'] for c in cases) / 1000:.3f}")
        for c in cases:
            tc = ET.SubElement(s, "testcase", classname=group, name=f"{c['id']} {c['title']}",
                               time=f"{c['duration_ms'] / 1000:.3f}")
            refs = ", ".join(f"{r['id']} ({r['level']})" for r in c["requirements"])
            text = (f"requirements: {refs}\nexpected: {c['expected']}\nobserved: {c['observed']}\n"
                    f"reproduce: {repro(doc, c['id'])}")
            if c["verdict"] == "fail" and c.get("baseline") != "known":
                ET.SubElement(tc, "failure", message=c["observed"][:500], type="fail").text = text
            elif c["verdict"] == "error":
                ET.SubElement(tc, "error", message=c["observed"][:500], type="error").text = text
            elif c["verdict"] == "skipped":
                ET.SubElement(tc, "skipped", message=c["observed"][:500])
            else:
                ET.SubElement(tc, "system-out").text = f"verdict: {c['verdict']}" + (
                    f" (baseline: {c['baseline']})" if c.get("baseline") else "") + "\n" + text
    ET.indent(suites)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


def _md_cell(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def write_md(doc, path):
    s = doc["summary"]
    lines = [f"# mqws-check report: {doc['target']}", "",
             f"mqws-check {doc['tool_version']}, started {doc['started']}, MQTT "
             f"{', '.join(doc['mqtt_versions'])}. {s['total']} cases, {s['requirements']} requirement ids.", "",
             "| verdict | cases |", "| --- | --- |"]
    lines += [f"| {v} | {n} |" for v, n in s["by_verdict"].items()]
    if s.get("known_deviations") or s.get("fixed"):
        lines += ["", f"Baseline: {s['known_deviations']} known deviations, {s['fixed']} fixed."]
    for group, title in GROUPS:
        cases = [c for c in doc["cases"] if c["group"] == group]
        if not cases:
            continue
        lines += ["", f"## {title}", "", "| case | verdict | requirements | expected | observed |",
                  "| --- | --- | --- | --- | --- |"]
        for c in cases:
            refs = ", ".join(f"{r['id']} ({r['level']})" for r in c["requirements"])
            v = c["verdict"] + (f" ({c['baseline']})" if c.get("baseline") else "")
            lines.append(f"| `{c['id']}` {_md_cell(c['title'])} | {v} | {refs} | {_md_cell(c['expected'])} | "
                         f"{_md_cell(c['observed'])} |")
    bad = [c for c in doc["cases"] if c["verdict"] in ("fail", "error", "non-strict")]
    if bad:
        lines += ["", "## Reproduce", ""]
        lines += [f"- `{c['id']}` ({c['verdict']}): `{repro(doc, c['id'])}`" for c in bad]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ccc}
.meta{color:#555} table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{border:1px solid #ddd;padding:4px 6px;vertical-align:top;text-align:left;overflow-wrap:anywhere}
table.cases{table-layout:fixed} table.cases col.c1{width:24%} table.cases col.c2{width:9%}
table.cases col.c3{width:30%}
th{background:#f4f4f4} td.id{font-family:monospace}
.v{font-weight:600;border-radius:3px;padding:1px 6px;white-space:nowrap;display:inline-block}
.pass{background:#d9f2dc;color:#185c22}.fail{background:#f9d6d5;color:#8a1410}
.non-strict{background:#fdeecb;color:#7a5200}.informational{background:#dde9f8;color:#1b4a85}
.skipped{background:#eee;color:#555}.error{background:#e6d5f5;color:#5a1a8a}
.bar{display:flex;height:14px;border-radius:3px;overflow:hidden;margin:.6em 0}
.bar span{display:block}
pre{background:#f8f8f8;padding:6px;overflow-x:auto;font-size:12px;margin:4px 0;white-space:pre-wrap;word-break:break-all}
details summary{cursor:pointer;color:#1b4a85} .out{color:#0b5394}.in{color:#38761d}.note{color:#777}
.req{font-size:12px;color:#444} code{font-size:12px}
.filter{margin:.8em 0} .filter button{margin-right:4px;border:1px solid #bbb;background:#fafafa;border-radius:3px;
padding:2px 8px;cursor:pointer} .filter button.on{background:#333;color:#fff}
"""
SCRIPT = """
function show(v, b) {
  document.querySelectorAll('.filter button').forEach(x => x.classList.toggle('on', x === b));
  document.querySelectorAll('tr[data-verdict]').forEach(r => {
    r.style.display = (v === 'all' || r.dataset.verdict === v) ? '' : 'none'; });
}
"""
COLORS = {"pass": "#4caf50", "fail": "#e53935", "non-strict": "#fb8c00", "informational": "#1e88e5",
          "skipped": "#9e9e9e", "error": "#8e24aa"}


def _transcript_html(entries):
    rows = []
    for e in entries:
        cls = {"out": "out", "in": "in"}.get(e["dir"], "note")
        arrow = {"out": "→", "in": "←"}.get(e["dir"], "·")
        hexs = e.get("hex", "")
        body = " ".join(hexs[i:i + 2] for i in range(0, len(hexs), 2))
        if e.get("truncated"):
            body += f" … ({e['len']} bytes)"
        note = html.escape(e.get("note", ""))
        rows.append(f"<span class='{cls}'>{e['t_ms']:8.1f} ms {arrow} {note}"
                    + (f" [{e['len']} B]\n    {html.escape(body)}" if e["dir"] != "note" else "") + "</span>")
    return "<pre>" + "\n".join(rows) + "</pre>"


def write_html(doc, path):
    s = doc["summary"]
    total = max(s["total"], 1)
    out = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
           f"<title>mqws-check: {html.escape(doc['target'])}</title><style>{CSS}</style></head><body>",
           f"<h1>mqws-check report</h1><div class='meta'>Target <b>{html.escape(doc['target'])}</b> · "
           f"mqws-check {html.escape(doc['tool_version'])} · started {html.escape(doc['started'])} · MQTT "
           f"{html.escape(', '.join(doc['mqtt_versions']))} · {s['total']} cases · {s['requirements']} "
           f"requirement ids</div>", "<div class='bar'>"]
    for v in VERDICTS:
        n = s["by_verdict"].get(v, 0)
        if n:
            out.append(f"<span style='width:{100 * n / total:.2f}%;background:{COLORS[v]}' title='{v}: {n}'></span>")
    out.append("</div><table><tr><th>group</th>" + "".join(f"<th>{v}</th>" for v in VERDICTS) + "</tr>")
    for group, title in GROUPS:
        g = s["by_group"].get(group)
        if g:
            out.append(f"<tr><td><a href='#g-{group}'>{html.escape(title)}</a></td>" +
                       "".join(f"<td>{g[v] or ''}</td>" for v in VERDICTS) + "</tr>")
    out.append("<tr><th>total</th>" + "".join(f"<th>{s['by_verdict'][v]}</th>" for v in VERDICTS) + "</tr></table>")
    out.append("<div class='filter'>Show: <button class='on' onclick=\"show('all', this)\">all</button>" +
               "".join(f"<button onclick=\"show('{v}', this)\">{v} ({s['by_verdict'][v]})</button>"
                       for v in VERDICTS if s["by_verdict"][v]) + "</div>")
    for group, title in GROUPS:
        cases = [c for c in doc["cases"] if c["group"] == group]
        if not cases:
            continue
        out.append(f"<h2 id='g-{group}'>{html.escape(title)}</h2><table class='cases'>"
                   "<colgroup><col class='c1'><col class='c2'><col class='c3'><col></colgroup>"
                   "<tr><th>case</th><th>verdict</th><th>requirements</th><th>expected / observed</th></tr>")
        for c in cases:
            reqs = "<br>".join(f"<b>{html.escape(r['id'])}</b> {r['level']}: "
                               f"<span class='req'>{html.escape(r['summary'])}</span>" for r in c["requirements"])
            base = f"<br><small>{html.escape(c['baseline'])}</small>" if c.get("baseline") else ""
            cl = c.get("close")
            if cl:
                base += (f"<br><small title='WebSocket close, judged apart'>close: <span class='v {cl['verdict']}'>"
                         f"{cl['observed'] if cl['observed'] is not None else 'none'}</span> "
                         f"(expected {cl['expected']})</small>")
            out.append(
                f"<tr data-verdict='{c['verdict']}'><td class='id'>{html.escape(c['id'])}<br><small style='font-family:sans-serif'>"
                f"{html.escape(c['title'])}</small></td><td><span class='v {c['verdict']}'>{c['verdict']}</span>"
                f"<br><small>{c['duration_ms']:.0f} ms</small>{base}</td><td>{reqs}</td>"
                f"<td><b>expected</b> {html.escape(c['expected'])}<br><b>observed</b> {html.escape(c['observed'])}"
                f"<details><summary>transcript ({len(c['transcript'])} entries) and reproduction</summary>"
                f"<code>{html.escape(repro(doc, c['id']))}</code>{_transcript_html(c['transcript'])}</details>"
                f"</td></tr>")
        out.append("</table>")
    out.append(f"<script>{SCRIPT}</script></body></html>")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out))


WRITERS = {"json": write_json, "junit": write_junit, "md": write_md, "html": write_html}


def write(doc, directory, formats):
    os.makedirs(directory, exist_ok=True)
    paths = []
    for fmt in formats:
        p = os.path.join(directory, FILES[fmt])
        WRITERS[fmt](doc, p)
        paths.append(p)
    return paths
