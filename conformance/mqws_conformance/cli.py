"""mqws-check: the command line."""
import argparse
import datetime
import json
import sys
import time

from . import __version__, net, reports, runner
from .registry import GROUPS, REGISTRY, VERDICTS

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

USAGE_EPILOG = """\
verdicts: pass, fail (a MUST broken), non-strict (a SHOULD broken or a leniency),
          informational (recorded, no rule), skipped (target lacks a feature), error
exit:     0 no fail; 1 at least one fail (--strict: also non-strict);
          2 usage error, empty selection, any error, or target unreachable
examples: mqws-check ws://127.0.0.1:8080/mqtt
          mqws-check wss://broker.example/mqtt --cafile ca.pem --mqtt 5 --only 'vec.mqtt5-*'
          mqws-check ws://127.0.0.1:8080/mqtt --report-dir out --format json,junit,md,html
"""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"mqws-check: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def build_parser():
    p = Parser(prog="mqws-check", description="Conformance check of an MQTT over WebSocket broker "
               "(MQTT 3.1.1 / 5.0 section 6, RFC 6455).", epilog=USAGE_EPILOG,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url", nargs="?", help="ws://host:port/path or wss://host:port/path")
    p.add_argument("--mqtt", choices=["3.1.1", "5", "both"], default="both", help="MQTT versions to test (default both)")
    p.add_argument("--only", action="append", metavar="PATTERN",
                   help="glob on case ids or group names; repeat or separate with commas")
    p.add_argument("--list", action="store_true", help="list the selected cases and exit")
    p.add_argument("--strict", action="store_true", help="non-strict verdicts also make the exit code 1")
    p.add_argument("--report-dir", metavar="DIR", help="write reports into DIR")
    p.add_argument("--format", default="json,md", help="report formats: json,junit,md,html (default json,md)")
    p.add_argument("--cafile", help="CA bundle for wss://")
    p.add_argument("--insecure", action="store_true", help="do not verify the wss:// certificate")
    p.add_argument("--username")
    p.add_argument("--password")
    p.add_argument("--timeout", type=float, default=3.0, metavar="S",
                   help="seconds to wait for an expected reaction (default 3)")
    p.add_argument("--jobs", type=int, default=4, metavar="N", help="cases run in parallel (default 4)")
    p.add_argument("--expect", metavar="FILE", help="baseline of known deviations: JSON {case id: verdict}")
    p.add_argument("--quiet", action="store_true", help="no progress lines, only the summary")
    p.add_argument("--version", action="version", version=f"mqws-check {__version__}")
    return p


def load_cases():
    if not REGISTRY.cases:
        from .cases import register_all
        register_all()
    return REGISTRY


def versions_of(arg):
    return {"3.1.1": (4,), "5": (5,), "both": (4, 5)}[arg]


def print_list(cases, out):
    for c in cases:
        refs = ", ".join(f"{r.id} ({r.level})" for r in c.requirements())
        extra = []
        if c.mqtt:
            extra.append("MQTT " + ("3.1.1" if c.mqtt == 4 else "5.0"))
        if c.needs:
            extra.append("needs " + ", ".join(c.needs))
        out.write(f"{c.id}\t{c.group}\t{c.title}\t{refs}" + (f"\t[{'; '.join(extra)}]" if extra else "") + "\n")
    reqs = {r for c in cases for r in c.refs}
    out.write(f"{len(cases)} cases, {len(reqs)} distinct requirement ids\n")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in reports.FORMATS]
    if bad:
        print(f"mqws-check: unknown report format(s) {bad}; choose from {','.join(reports.FORMATS)}", file=sys.stderr)
        return EXIT_USAGE
    if args.cafile and args.insecure:
        print("mqws-check: --cafile and --insecure exclude each other", file=sys.stderr)
        return EXIT_USAGE
    if args.jobs < 1 or args.timeout <= 0:
        print("mqws-check: --jobs must be >= 1 and --timeout > 0", file=sys.stderr)
        return EXIT_USAGE
    versions = versions_of(args.mqtt)
    patterns = [p.strip() for arg in (args.only or []) for p in arg.split(",") if p.strip()]
    reg = load_cases()
    cases = reg.select(patterns, versions)
    if args.list:
        print_list(cases, sys.stdout)
        return EXIT_OK if cases else EXIT_USAGE
    if not args.url:
        print("mqws-check: a target URL is required (ws://host:port/path or wss://...)", file=sys.stderr)
        return EXIT_USAGE
    if not cases:
        print(f"mqws-check: the selection {patterns} matches no case (MQTT {args.mqtt})", file=sys.stderr)
        return EXIT_USAGE
    baseline = {}
    if args.expect:
        try:
            with open(args.expect, encoding="utf-8") as f:
                baseline = json.load(f)
            if not isinstance(baseline, dict) or not all(v in VERDICTS for v in baseline.values()):
                raise ValueError("expected a JSON object {case id: verdict}")
        except (OSError, ValueError) as e:
            print(f"mqws-check: cannot read --expect {args.expect}: {e}", file=sys.stderr)
            return EXIT_USAGE
    try:
        target = net.Target(args.url, args.cafile, args.insecure, args.username, args.password, args.timeout)
    except ValueError as e:
        print(f"mqws-check: {e}", file=sys.stderr)
        return EXIT_USAGE
    if not target.tls and any("tls" in c.needs for c in cases):
        pass  # those cases will be skipped with the reason
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    t0 = time.monotonic()
    try:
        features = runner.probe(target, versions)
    except net.Unreachable as e:
        what = {"dns": "DNS", "tcp": "TCP", "tls": "TLS error", "http": "HTTP", "mqtt": "MQTT"}.get(e.kind, e.kind)
        print(f"mqws-check: target unreachable: {what}: {e.detail}", file=sys.stderr)
        return EXIT_USAGE
    if not args.quiet:
        vs = ", ".join(("3.1.1" if v == 4 else "5.0") + ("" if f"mqtt{v}" in features else " (refused)")
                       for v in versions)
        print(f"mqws-check {__version__}: {len(cases)} cases against {args.url} (MQTT {vs}), {args.jobs} jobs",
              flush=True)
    width = len(str(len(cases)))

    def progress(r, i, n):
        runner.apply_baseline([r], baseline)
        if args.quiet:
            return
        base = f" [{r['baseline']}]" if r.get("baseline") else ""
        line = f"[{i:>{width}}/{n}] {r['verdict']:<13} {r['id']}  ({r['duration_ms']:.0f} ms){base}"
        if r["verdict"] in ("fail", "error", "non-strict"):
            line += f"\n{'':>{2 * width + 4}}{r['observed'][:300]}"
        print(line, flush=True)

    results = runner.run(cases, target, features, args.jobs, progress)
    elapsed = time.monotonic() - t0
    doc = runner.report_doc(target, versions, started, results, ["mqws-check"] + argv)
    s = doc["summary"]
    print_summary(s, elapsed)
    if args.report_dir:
        paths = reports.write(doc, args.report_dir, formats)
        for p in paths:
            print(f"report: {p}")
    return runner.exit_code(results, args.strict)


def print_summary(s, elapsed):
    print(f"\n{s['total']} cases over {s['requirements']} requirement ids in {elapsed:.1f} s: " +
          ", ".join(f"{n} {v}" for v, n in s["by_verdict"].items() if n))
    if s.get("known_deviations") or s.get("fixed"):
        print(f"baseline: {s['known_deviations']} known deviations, {s['fixed']} fixed")
    for g, title in GROUPS:
        counts = s["by_group"].get(g)
        if counts:
            print(f"  {g:<12} " + ", ".join(f"{n} {v}" for v, n in counts.items() if n))
