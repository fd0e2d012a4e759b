"""mqws-check's command line (exit codes, unreachable diagnosis, baseline) and
its four report formats (schema-checked JSON, JUnit, Markdown, HTML looked at
in headless chromium)."""
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from mqws_conformance import cli

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCHEMA = os.path.join(ROOT, "docs", "report-schema.json")
SMALL = "handshake.*,framing.rsv*,binary.text-after-connack,mqtt.qos1-delivery.v4,vec.mqtt4-connect-reserved-flag"


def run(capsys, *argv):
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_list(capsys):
    rc, out, _ = run(capsys, "--list")
    assert rc == 0
    last = out.strip().splitlines()[-1]
    cases, reqs = int(last.split()[0]), int(last.split()[2])
    assert cases >= 200 and reqs >= 150, last
    ids = [line.split("\t")[0] for line in out.splitlines()[:-1]]
    assert len(ids) == len(set(ids))
    assert all("(MUST)" in line or "(SHOULD)" in line or "(MAY)" in line for line in out.splitlines()[:-1])


def test_usage_errors(capsys):
    assert run(capsys, "--only", "no-such-case-*", "ws://127.0.0.1:1/mqtt")[0] == 2
    assert run(capsys, "http://127.0.0.1/mqtt")[0] == 2
    assert run(capsys, "ws://127.0.0.1:1/mqtt", "--format", "pdf")[0] == 2
    assert run(capsys, "ws://127.0.0.1:1/mqtt", "--cafile", "x", "--insecure")[0] == 2
    assert run(capsys)[0] == 2
    with pytest.raises(SystemExit) as e:
        cli.main(["--bogus"])
    assert e.value.code == 2


def test_unreachable_tcp(capsys):
    rc, _, err = run(capsys, f"ws://127.0.0.1:{free_port()}/mqtt")
    assert rc == 2 and "TCP" in err and "refused" in err


def test_unreachable_dns(capsys):
    rc, _, err = run(capsys, "ws://no-such-host.invalid/mqtt")
    assert rc == 2 and "DNS" in err


def test_unreachable_tls(capsys, clean_target):
    rc, _, err = run(capsys, f"wss://127.0.0.1:{clean_target.port}/mqtt", "--timeout", "2")
    assert rc == 2 and "TLS error" in err


def test_unreachable_http_status(capsys):
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_error(404)

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        rc, _, err = run(capsys, f"ws://127.0.0.1:{srv.server_port}/mqtt")
    finally:
        srv.shutdown()
        srv.server_close()
    assert rc == 2 and "HTTP status 404" in err


def test_exit_codes_and_baseline(capsys, bad_target, tmp_path):
    ok = bad_target()
    assert run(capsys, ok.url, "--only", "framing.rsv*", "--quiet")[0] == 0
    bad = bad_target("rsv_ok")
    rc, out, _ = run(capsys, bad.url, "--only", "framing.rsv*")
    assert rc == 1 and "fail" in out and "framing.rsv1" in out
    base = tmp_path / "baseline.json"
    base.write_text(json.dumps({"framing.rsv1": "fail", "framing.rsv2": "fail", "framing.rsv3": "fail"}))
    rc, out, _ = run(capsys, bad.url, "--only", "framing.rsv*", "--expect", str(base))
    assert rc == 0 and "known" in out and "3 known deviations" in out
    rc, out, _ = run(capsys, ok.url, "--only", "framing.rsv*", "--expect", str(base))
    assert rc == 0 and "3 fixed" in out
    legacy = bad_target("prefer_legacy")
    assert run(capsys, legacy.url, "--only", "subprotocol.legacy-only")[0] == 0
    assert run(capsys, legacy.url, "--only", "subprotocol.legacy-only", "--strict")[0] == 1
    base.write_text("[1, 2]")
    assert run(capsys, ok.url, "--expect", str(base))[0] == 2


def test_password_not_in_reports(capsys, clean_target, tmp_path):
    rc, _, _ = run(capsys, clean_target.url, "--only", "mqtt.pingresp.v4", "--username", "u", "--password", "s3cret",
                   "--report-dir", str(tmp_path), "--format", "json,junit,md,html")
    assert rc == 0
    for f in ("report.json", "report.xml", "report.md", "report.html"):
        assert "s3cret" not in (tmp_path / f).read_text()
    doc = json.load(open(tmp_path / "report.json"))
    sent = [e for c in doc["cases"] for e in c["transcript"] if "credentials" in e.get("note", "")]
    assert sent and all(e["hex"] == "" for e in sent)


def test_needs_skip_reason(capsys, clean_target, tmp_path):
    rc, out, _ = run(capsys, clean_target.url, "--mqtt", "3.1.1", "--only", "mqtt5.*")
    assert rc == 2  # 5.0 cases are not selected with --mqtt 3.1.1: empty selection
    rc, out, _ = run(capsys, clean_target.url, "--only", "vec.mqtt5-auth-*", "--report-dir", str(tmp_path))
    doc = json.load(open(tmp_path / "report.json"))
    skipped = [c for c in doc["cases"] if c["verdict"] == "skipped"]
    assert skipped and all("needs enhanced authentication" in c["observed"] for c in skipped)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    import badbroker
    b = badbroker.BadBroker(["rsv_ok"]).start()
    d = tmp_path_factory.mktemp("reports")
    try:
        rc = cli.main([b.url, "--quiet", "--only", SMALL, "--report-dir", str(d), "--format", "json,junit,md,html"])
    finally:
        b.stop()
    assert rc == 1
    return d


def test_report_json_schema(report_dir):
    with open(SCHEMA) as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    doc = json.load(open(report_dir / "report.json"))
    jsonschema.validate(doc, schema, format_checker=jsonschema.FormatChecker())
    assert doc["summary"]["by_verdict"]["fail"] == 3
    c = next(c for c in doc["cases"] if c["id"] == "framing.rsv1")
    assert c["verdict"] == "fail" and c["transcript"] and c["expected"] and c["observed"]
    assert any(e["dir"] == "out" and e["hex"] for e in c["transcript"])


def test_report_junit(report_dir):
    from lxml import etree
    schema = etree.XMLSchema(etree.parse(os.path.join(os.path.dirname(os.path.abspath(__file__)), "junit.xsd")))
    xml = etree.parse(str(report_dir / "report.xml"))
    assert schema.validate(xml), schema.error_log
    root = ET.parse(report_dir / "report.xml").getroot()
    assert root.tag == "testsuites"
    cases = root.findall("testsuite/testcase")
    doc = json.load(open(report_dir / "report.json"))
    assert len(cases) == len(doc["cases"])
    for tc in cases:
        assert tc.get("classname") in ("handshake", "framing", "binary", "mqtt", "subprotocol")
        assert tc.get("name").split(" ")[0] in {c["id"] for c in doc["cases"]}
        float(tc.get("time"))
    fails = [tc.get("name").split(" ")[0] for tc in cases if tc.find("failure") is not None]
    assert sorted(fails) == ["framing.rsv1", "framing.rsv2", "framing.rsv3"]
    for s in root.findall("testsuite"):
        assert int(s.get("tests")) == len(s.findall("testcase"))
        assert int(s.get("failures")) == len(s.findall("testcase/failure"))


def test_report_markdown(report_dir):
    md = (report_dir / "report.md").read_text()
    assert md.startswith("# mqws-check report") and "| `framing.rsv1`" in md and "mqws-check ws://" in md


def test_report_html_in_chromium(report_dir):
    page = (report_dir / "report.html").read_text()
    assert "<details>" in page and "--only framing.rsv1" in page
    for needle in ("src=\"http", "href=\"http", "src='http", "href='http", "@import", "url("):
        assert needle not in page, f"external asset: {needle}"
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("chromium is not installed (ci/deps.sh conformance installs it)")
    shot = report_dir / "report.png"
    subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=1280,1400", f"file://{report_dir / 'report.html'}"],
                   check=True, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000
    print(f"screenshot kept at {shot}", file=sys.stderr)
