#!/usr/bin/env python3
"""Runs mqws-check against a freshly started mqws-broker (ws:// and wss:// on
127.0.0.1, ports picked by the broker) and stops the broker by its pid.

  run_reference.py --broker build/bin/mqws-broker --check build/bin/mqws-check \
      --out build/conformance [--expect FILE] [--html]

Exit status: the worst mqws-check exit status over both URLs.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time


def make_cert(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "30", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def start_broker(exe, cert, key, log):
    args = [exe, "-l", "ws://127.0.0.1:0/mqtt", "-l", "wss://127.0.0.1:0/mqtt", "--tls-cert", cert, "--tls-key", key]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
    urls = []
    deadline = time.monotonic() + 10
    while len(urls) < 2 and time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        if line.startswith("listening "):
            urls.append(line.split()[1])
    if len(urls) < 2:
        p.kill()
        raise SystemExit(f"mqws-broker did not print two 'listening' lines (got {urls})")
    return p, urls


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker", required=True)
    ap.add_argument("--check", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--expect")
    ap.add_argument("--html", action="store_true", help="write all four reports")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    cert, key = make_cert(a.out)
    with open(os.path.join(a.out, "broker.log"), "w") as log:
        p, urls = start_broker(a.broker, cert, key, log)
        worst = 0
        try:
            for url in urls:
                scheme = url.split(":")[0]
                rep = os.path.join(a.out, scheme)
                cmd = [a.check, url, "--report-dir", rep, "--jobs", "6",
                       "--format", "json,junit,md,html" if a.html else "json,junit"]
                if scheme == "wss":
                    cmd += ["--cafile", cert]
                if a.expect:
                    cmd += ["--expect", a.expect]
                if a.quiet:
                    cmd.append("--quiet")
                print(f"== mqws-check {url}", flush=True)
                t0 = time.monotonic()
                rc = subprocess.run(cmd).returncode
                print(f"== {scheme}: exit {rc} in {time.monotonic() - t0:.1f} s; reports in {rep}", flush=True)
                worst = max(worst, rc)
        finally:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        if p.returncode not in (0, -signal.SIGTERM):
            print(f"mqws-broker exited with {p.returncode} on SIGTERM (see {a.out}/broker.log)", file=sys.stderr)
            worst = max(worst, 2)
    totals = summarise(a.out, urls)
    if a.html:
        for url in urls:
            scheme = url.split(":")[0]
            print(f"HTML report ({scheme}): {os.path.abspath(os.path.join(a.out, scheme, 'report.html'))}")
    # one closing line in the runners' form: fail and error count as failed;
    # non-strict and informational are not failures of a MUST
    print(f"conformance: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped",
          flush=True)
    return worst


def summarise(out, urls):
    """Adds up the verdicts of every report.json written for @urls."""
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    for url in urls:
        path = os.path.join(out, url.split(":")[0], "report.json")
        if not os.path.exists(path):
            totals["failed"] += 1  # that run wrote no report: it counts against
            continue
        with open(path) as f:
            by = json.load(f)["summary"]["by_verdict"]
        totals["failed"] += by.get("fail", 0) + by.get("error", 0)
        totals["skipped"] += by.get("skipped", 0)
        totals["passed"] += by.get("pass", 0) + by.get("non-strict", 0) + by.get("informational", 0)
    return totals


if __name__ == "__main__":
    sys.exit(main())
