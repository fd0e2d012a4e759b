#!/usr/bin/env python3
"""mqws-broker against Debian mosquitto over WebSocket: the same mqws-loadgen
workloads on both brokers, interleaved A/B with repetitions, medians and ratios.

Each run starts a fresh broker on free loopback ports (stopped by its pid
afterwards), runs one mqws-loadgen workload against it and keeps the JSON line.
Figures are printed, never asserted: the exit status is non-zero only when a
run could not be completed (a broker did not start, a connection failed).
"""
import argparse
import json
import os
import resource
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BROKERS = ("mqws", "mosquitto")


class Config:
    def __init__(self, name, title, args, idle=False, rate=False):
        self.name = name
        self.title = title
        self.args = args
        self.idle = idle
        self.rate = rate  # open loop: same offered load on both, compare latency


# Closed-loop windows keep 1000-2000 messages in flight (per-publisher window x
# publishers; fan-out: x 100 deliveries each): enough to keep both brokers busy,
# and mosquitto does not gain relative to mqws-broker from larger ones. 16 KB
# uses 4 per publisher (6.5 MB in flight): mosquitto's 4 KB write chunks stall
# with more.
def configs(idle_clients):
    return [
        Config("pairs-10-q0", "pairs 10->10, QoS 0, 64 B", ["-m", "pairs", "-n", "10", "-q", "0", "-w", "100"]),
        Config("pairs-10-q1", "pairs 10->10, QoS 1, 64 B", ["-m", "pairs", "-n", "10", "-q", "1", "-w", "100"]),
        Config("pairs-100-q0", "pairs 100->100, QoS 0, 64 B", ["-m", "pairs", "-n", "100", "-q", "0", "-w", "20"]),
        Config("pairs-100-q1", "pairs 100->100, QoS 1, 64 B", ["-m", "pairs", "-n", "100", "-q", "1", "-w", "20"]),
        Config("fanout-100-q0", "fan-out 1->100, QoS 0, 64 B", ["-m", "fanout", "-n", "100", "-q", "0", "-w", "20"]),
        Config("pairs-100-16k", "pairs 100->100, QoS 0, 16 KB", ["-m", "pairs", "-n", "100", "-q", "0", "-s", "16384", "-w", "4"]),
        Config("rate-100-q1-10k", "pairs 100->100, QoS 1, 10k msg/s", ["-m", "pairs", "-n", "100", "-q", "1", "-r", "10000"],
               rate=True),
        Config("idle-%d" % idle_clients, "%d idle ws connections" % idle_clients,
               ["-m", "idle", "-n", str(idle_clients)], idle=True),
    ]


def log(msg):
    print(msg, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Broker:
    """One broker process, fresh for one run."""

    def __init__(self, kind, bindir, mosquitto, tmp):
        self.kind = kind
        self.proc = None
        self.url = None
        self.bindir = bindir
        self.mosquitto = mosquitto
        self.tmp = tmp
        self.log_path = os.path.join(tmp, "%s.log" % kind)

    def start(self):
        # mosquitto's ports are picked free and then released, so another process
        # may take one first: try again with new ones.
        for _ in range(3):
            logf = open(self.log_path, "ab")
            try:
                ok = self._start_mqws(logf) if self.kind == "mqws" else self._start_mosquitto(logf)
            finally:
                logf.close()
            if ok:
                return True
        return False

    def _start_mqws(self, logf):
        exe = os.path.join(self.bindir, "mqws-broker")
        self.proc = subprocess.Popen([exe, "--listen", "ws://127.0.0.1:0/mqtt"],
                                     stdout=subprocess.PIPE, stderr=logf, text=True)
        # The shared contract: one line per listener, "listening <url>", flushed.
        end = time.monotonic() + 10
        while time.monotonic() < end:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("listening ws://"):
                self.url = line.split()[1]
                return True
        self.stop()
        return False

    def _start_mosquitto(self, logf):
        ws_port, tcp_port = free_port(), free_port()
        conf = os.path.join(self.tmp, "mosquitto.conf")
        # mosquitto 2.0 needs a plain listener beside the websockets one, and
        # socket_domain ipv4 to stay on 127.0.0.1. TCP_NODELAY as on mqws-broker;
        # the rest is mosquitto's defaults (max_connections -1: unlimited).
        with open(conf, "w") as f:
            f.write("per_listener_settings false\nallow_anonymous true\npersistence false\n"
                    "log_dest stderr\nlog_type error\nlog_type warning\n"
                    "set_tcp_nodelay true\nmax_connections -1\n"
                    "listener %d 127.0.0.1\nsocket_domain ipv4\n"
                    "listener %d 127.0.0.1\nprotocol websockets\nsocket_domain ipv4\n"
                    % (tcp_port, ws_port))
        self.proc = subprocess.Popen([self.mosquitto, "-c", conf], stdout=logf, stderr=logf)
        if not wait_port(ws_port, self.proc):
            self.stop()
            return False
        self.url = "ws://127.0.0.1:%d/mqtt" % ws_port
        return True

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    def log_tail(self, n=5):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            return "\n".join("    " + l for l in lines[-n:])
        except OSError:
            return ""


def run_one(loadgen, broker, cfg, args, label):
    """One fresh broker, one loadgen run; returns the JSON result (with 'error' on failure)."""
    if not broker.start():
        return {"error": "%s did not start:\n%s" % (broker.kind, broker.log_tail())}
    try:
        cmd = [loadgen, "-u", broker.url, "-p", str(broker.proc.pid), "--quiet", "-l", label,
               "--warmup", str(0 if cfg.idle else args.warmup),
               "-t", str(args.idle_hold if cfg.idle else args.seconds)] + cfg.args
        budget = args.seconds + args.warmup + 120
        try:
            out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 timeout=budget)
        except subprocess.TimeoutExpired:
            return {"error": "mqws-loadgen did not finish within %d s" % budget}
        res = None
        for line in out.stdout.splitlines():
            if line.startswith("{"):
                res = json.loads(line)
        if res is None:
            return {"error": "no JSON line from mqws-loadgen (exit %d): %s"
                             % (out.returncode, out.stderr.strip()[-500:])}
        if broker.proc.poll() is not None and not res.get("error"):
            res["error"] = "%s exited during the run (status %s)" % (broker.kind, broker.proc.returncode)
        if res.get("error"):
            res["error"] += "\n" + broker.log_tail()
        res["command"] = " ".join(shlex.quote(c) for c in cmd)
        return res
    finally:
        broker.stop()


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_num(v, unit=""):
    if v is None:
        return "-"
    if abs(v) >= 1e6:
        return "%.2fM%s" % (v / 1e6, unit)
    if abs(v) >= 1e4:
        return "%.0fk%s" % (v / 1e3, unit)
    if abs(v) >= 1e3:
        return "%.1fk%s" % (v / 1e3, unit)
    return "%.0f%s" % (v, unit)


def fmt_us(v):
    if v is None:
        return "-"
    if v >= 1000:
        return "%.1f ms" % (v / 1000)
    return "%.0f us" % v


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def summarize(cfg, runs):
    """Medians per broker for one config."""
    out = {}
    for b in BROKERS:
        ok = [r for r in runs[b] if not r.get("error")]
        out[b] = {
            "runs": len(runs[b]),
            "failed": len(runs[b]) - len(ok),
            "deliveries_per_s": median([r["deliveries_per_s"] for r in ok]),
            "deliveries_per_s_all": [r["deliveries_per_s"] for r in ok],
            "p50_us": median([r["latency_us"]["p50"] for r in ok]),
            "p99_us": median([r["latency_us"]["p99"] for r in ok]),
            "max_us": median([r["latency_us"]["max"] for r in ok]),
            "lost": sum(r["lost"] for r in ok) if ok else None,
            "broker_cpu_pct": median([r["broker"]["cpu_pct"] for r in ok]),
            # deliveries per second of broker CPU: less sensitive to other load on the machine
            "deliveries_per_cpu_s": median([r["deliveries_per_s"] * 100 / r["broker"]["cpu_pct"]
                                            for r in ok if r["broker"]["cpu_pct"] > 0]),
            "broker_rss_kb": median([r["broker"]["rss_kb"] for r in ok]),
            "loadgen_cpu_pct": median([r["loadgen_cpu_pct"] for r in ok]),
            "rss_per_conn_bytes": median([r["rss_per_conn_bytes"] for r in ok]) if cfg.idle else None,
            "setup_s": median([r["setup_s"] for r in ok]),
        }
    return out


def print_tables(cfgs, summary, have_mqws):
    log("")
    log("Medians; x = mqws / mosquitto. Targets: deliveries/s >= 1.5x, p99 <= 1x, no QoS 1 loss.")
    log("del/CPU-s: deliveries per second of broker CPU time (utime+stime), less noisy than del/s.")
    log("lg CPU: mqws-loadgen's own CPU (mqws run / mosquitto run); near 100 % the load generator")
    log("is the limit and the broker's figure is a lower bound.")
    hdr = "%-34s %9s %9s %6s | %9s %9s %6s | %9s %9s %6s | %7s | %9s" % (
        "config", "mqws", "mosq", "x", "mqws p99", "mosq p99", "x", "mqws", "mosq", "x", "lost",
        "lg CPU")
    log("%-34s %-26s | %-26s | %-26s |" % ("", "deliveries/s", "latency p99",
                                          "del/CPU-s"))
    log(hdr)
    log("-" * len(hdr))
    for cfg in cfgs:
        if cfg.idle or cfg.name not in summary:
            continue
        s = summary[cfg.name]
        m, q = s["mqws"], s["mosquitto"]
        r = ratio(m["deliveries_per_s"], q["deliveries_per_s"])
        rp = ratio(m["p99_us"], q["p99_us"])
        re = ratio(m["deliveries_per_cpu_s"], q["deliveries_per_cpu_s"])
        lost = "%s/%s" % ("-" if m["lost"] is None else m["lost"], "-" if q["lost"] is None else q["lost"])
        log("%-34s %9s %9s %6s | %9s %9s %6s | %9s %9s %6s | %7s | %9s" % (
            cfg.title, fmt_num(m["deliveries_per_s"]), fmt_num(q["deliveries_per_s"]),
            "-" if r is None else "%.2f" % r, fmt_us(m["p99_us"]), fmt_us(q["p99_us"]),
            "-" if rp is None else "%.2f" % rp, fmt_num(m["deliveries_per_cpu_s"]),
            fmt_num(q["deliveries_per_cpu_s"]), "-" if re is None else "%.2f" % re, lost,
            "%s/%s" % tuple("-" if x["loadgen_cpu_pct"] is None else "%.0f%%" % x["loadgen_cpu_pct"]
                            for x in (m, q))))
    for cfg in cfgs:
        if not cfg.idle or cfg.name not in summary:
            continue
        s = summary[cfg.name]
        m, q = s["mqws"], s["mosquitto"]
        r = ratio(m["rss_per_conn_bytes"], q["rss_per_conn_bytes"])
        log("")
        log("%s: broker VmRSS growth per connection (target: mqws <= mosquitto)" % cfg.title)
        for b, name in (("mqws", "mqws-broker"), ("mosquitto", "mosquitto")):
            if s[b]["rss_per_conn_bytes"] is not None:
                log("  %-12s %6d B per connection (all %s connected in %.1f s)"
                    % (name, s[b]["rss_per_conn_bytes"], cfg.name.split("-")[1], s[b]["setup_s"]))
        if r is not None:
            log("  ratio        %.2f" % r)
    if not have_mqws:
        log("\nmqws-broker was not built: mosquitto figures only, no ratios.")


def print_targets(cfgs, summary):
    log("")
    log("Targets (printed, not asserted):")
    for cfg in cfgs:
        if cfg.name not in summary:
            continue
        m, q = summary[cfg.name]["mqws"], summary[cfg.name]["mosquitto"]
        if cfg.idle:
            r = ratio(m["rss_per_conn_bytes"], q["rss_per_conn_bytes"])
            verdict = "unknown" if r is None else ("met" if r <= 1.0 else "NOT met")
            log("  %-30s RSS per idle connection <= mosquitto's: %s" % (cfg.title, verdict))
            continue
        r = ratio(m["deliveries_per_s"], q["deliveries_per_s"])
        rp = ratio(m["p99_us"], q["p99_us"])
        parts = []
        if not cfg.rate:
            parts.append("deliveries/s >= 1.5x: %s" % ("unknown" if r is None else ("met" if r >= 1.5 else "NOT met")))
        parts.append("p99 <= mosquitto: %s" % ("unknown" if rp is None else ("met" if rp <= 1.0 else "NOT met")))
        if "-q1" in cfg.name:
            parts.append("zero lost QoS 1: %s" % ("unknown" if m["lost"] is None else
                                                  ("met" if m["lost"] == 0 else "NOT met (%d)" % m["lost"])))
        log("  %-30s %s" % (cfg.title, "; ".join(parts)))


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(root, "build", "bin"),
                    help="directory of mqws-loadgen and mqws-broker (default build/bin)")
    ap.add_argument("--mosquitto", default="/usr/sbin/mosquitto")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per broker and config (default 3)")
    ap.add_argument("--seconds", type=float, default=3.0, help="measurement per run (default 3)")
    ap.add_argument("--warmup", type=float, default=1.0, help="warm-up per run (default 1)")
    ap.add_argument("--idle-clients", type=int, default=10000)
    ap.add_argument("--idle-hold", type=float, default=2.0,
                    help="idle: seconds between the last connection and the RSS reading")
    ap.add_argument("--only", default="", help="comma-separated config names (default: all)")
    ap.add_argument("--brokers", default="mqws,mosquitto", help="which brokers to run")
    ap.add_argument("--json-out", default="", help="write every run and the medians here")
    args = ap.parse_args()

    loadgen = os.path.join(args.bin, "mqws-loadgen")
    if not os.access(loadgen, os.X_OK):
        log("run_bench: %s not found (make loadgen)" % loadgen)
        return 2
    if not os.access(args.mosquitto, os.X_OK):
        log("run_bench: %s not found (ci/deps.sh broker-bench installs Debian mosquitto)" % args.mosquitto)
        return 2
    want = set(b for b in args.brokers.split(",") if b)
    have_mqws = os.access(os.path.join(args.bin, "mqws-broker"), os.X_OK) and "mqws" in want
    use = [b for b in BROKERS if b in want and (b != "mqws" or have_mqws)]

    # Every idle connection is a descriptor in mqws-loadgen and one in the broker;
    # both inherit this limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.idle_clients + 256
    if hard != resource.RLIM_INFINITY and hard < need:
        log("run_bench: RLIMIT_NOFILE hard limit %d < %d: idle clients lowered to %d"
            % (hard, need, hard - 256))
        args.idle_clients = max(100, hard - 256)
        need = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need) if hard == resource.RLIM_INFINITY
                                                else min(hard, max(soft, need)), hard))

    cfgs = configs(args.idle_clients)
    if args.only:
        names = set(args.only.split(","))
        unknown = names - set(c.name for c in cfgs)
        if unknown:
            log("run_bench: unknown config(s) %s; known: %s"
                % (", ".join(sorted(unknown)), ", ".join(c.name for c in cfgs)))
            return 2
        cfgs = [c for c in cfgs if c.name in names]

    mosq_ver = subprocess.run([args.mosquitto, "-h"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True).stdout.splitlines()
    log("bench-broker: %s; brokers: %s; %d repetitions, %g s warm-up + %g s measured per run"
        % (" ".join(shlex.quote(a) for a in sys.argv), ", ".join(use), args.reps, args.warmup,
           args.seconds))
    log("bench-broker: %s; %d CPUs, load average %.1f; each run on a fresh broker, A/B order "
        "alternating" % (mosq_ver[0] if mosq_ver else "mosquitto", os.cpu_count() or 0,
                         os.getloadavg()[0]))

    t0 = time.monotonic()
    failures = 0
    all_runs = []
    summary = {}
    with tempfile.TemporaryDirectory(prefix="mqws-bench-") as tmp:
        total = len(cfgs) * args.reps * len(use)
        done = 0
        for cfg in cfgs:
            runs = {b: [] for b in BROKERS}
            for rep in range(args.reps):
                order = use if rep % 2 == 0 else list(reversed(use))
                for b in order:
                    broker = Broker(b, args.bin, args.mosquitto, tmp)
                    res = run_one(loadgen, broker, cfg, args, "%s/%s/%d" % (cfg.name, b, rep + 1))
                    res["broker_kind"] = b
                    res["config"] = cfg.name
                    res["rep"] = rep + 1
                    runs[b].append(res)
                    all_runs.append(res)
                    done += 1
                    if res.get("error"):
                        failures += 1
                        log("[%2d/%d] %-14s %-9s #%d FAILED: %s" % (done, total, cfg.name, b, rep + 1,
                                                                   res["error"]))
                    elif cfg.idle:
                        log("[%2d/%d] %-14s %-9s #%d %6d B/conn (RSS %d -> %d kB, setup %.1f s)" % (
                            done, total, cfg.name, b, rep + 1, res["rss_per_conn_bytes"],
                            res["broker"]["rss_start_kb"], res["broker"]["rss_kb"], res["setup_s"]))
                    else:
                        log("[%2d/%d] %-14s %-9s #%d %9.0f del/s  p50 %8s  p99 %8s  lost %d  "
                            "broker CPU %3.0f%%  loadgen CPU %3.0f%%" % (
                                done, total, cfg.name, b, rep + 1, res["deliveries_per_s"],
                                fmt_us(res["latency_us"]["p50"]), fmt_us(res["latency_us"]["p99"]),
                                res["lost"], res["broker"]["cpu_pct"], res["loadgen_cpu_pct"]))
            summary[cfg.name] = summarize(cfg, runs)

    print_tables(cfgs, summary, have_mqws)
    if have_mqws:
        print_targets(cfgs, summary)
    log("\nbench-broker: %d runs in %.0f s, %d failed; load average %.1f at the end (other work on "
        "the CPUs lowers both brokers' figures: compare the ratios)."
        % (len(all_runs), time.monotonic() - t0, failures, os.getloadavg()[0]))
    if args.json_out:
        os.makedirs(os.path.dirname(os.path.abspath(args.json_out)), exist_ok=True)
        with open(args.json_out, "w") as f:
            json.dump({"argv": sys.argv, "cpus": os.cpu_count(), "loadavg_end": os.getloadavg(),
                       "summary": summary, "runs": all_runs}, f, indent=1)
        log("bench-broker: every run and the medians in %s" % args.json_out)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
