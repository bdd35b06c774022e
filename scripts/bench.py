#!/usr/bin/env python3
"""The benchmark behind scripts/bench (which builds the release binaries first).

Starts gregor (release build, embedded defaults) on a temporary data directory and runs every
workload of BENCHMARKS.md against it, and against each `--bootstrap HOST:PORT` given, so other
Kafka-compatible brokers land in the same table from the same run. Throughput comes from two
generators: examples/protobench (broker-bound: pre-encoded 64 KiB batches of 1 KiB records, 8
Produce requests in flight, big Fetches, with the same-run baselines (a) socket -> file and
(b) file -> socket) and examples/loadgen (rdkafka with normal settings). Each protobench figure
is the median of --runs runs; `sync` runs before each so no run pays for the last one's
writeback. Start-up, RSS and descriptor figures need the process, so they are gregor's only.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GREGOR = os.path.join(ROOT, "target/release/gregor")
PROTOBENCH = os.path.join(ROOT, "target/release/examples/protobench")
LOADGEN = os.path.join(ROOT, "target/release/examples/loadgen")
# ApiVersions v0, correlation id 1, no client id.
API_VERSIONS_V0 = bytes.fromhex("0000000a" "0012" "0000" "00000001" "0000")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def answered(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(API_VERSIONS_V0)
            return len(s.recv(4)) == 4
    except OSError:
        return False


class Gregor:
    """A gregor process on a data dir; start() returns ms to the first answered request."""

    def __init__(self, data, extra=()):
        self.data, self.extra, self.proc, self.port = data, list(extra), None, free_port()

    def start(self):
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [GREGOR, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data] + self.extra,
            stderr=open(self.data + ".log", "a"))
        # The listener binds before the logs are opened: time an answered request, not a connect.
        while not answered(self.port):
            if self.proc.poll() is not None or time.perf_counter() - t0 > 120:
                sys.exit(f"gregor did not start; see {self.data}.log")
            time.sleep(0.0005)
        return (time.perf_counter() - t0) * 1000

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def status(self, key):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024  # kB -> MB
        return float("nan")

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)


def run_json(cmd):
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def protobench(bootstrap, scratch, mb, partitions, acks, runs):
    rows = []
    for _ in range(runs):
        subprocess.run(["sync"], check=True)
        r = run_json([PROTOBENCH, "--bootstrap", bootstrap, "--dir", scratch, "--mb", str(mb),
                      "--partitions", str(partitions), "--acks", str(acks), "--json"])
        rows.append(r)
    mbs = lambda r, k: r["bytes"] / 1e6 / r[k]
    return {
        "produce": med([mbs(r, "produce_s") for r in rows]),
        "produce_rec": med([r["records"] / r["produce_s"] for r in rows]),
        "fetch": med([mbs(r, "fetch_s") for r in rows]),
        "base_a": med([r["wire_bytes"] / 1e6 / r["sink_s"] for r in rows]),
        "base_b": med([r["wire_bytes"] / 1e6 / r["file_s"] for r in rows]),
        # Ratios per run (same run, same machine state), then their median.
        "ratio_a": med([r["sink_s"] / r["produce_s"] for r in rows]),
        "ratio_b": med([r["file_s"] / r["fetch_s"] for r in rows]),
    }


def loadgen(bootstrap, records, partitions, acks):
    subprocess.run(["sync"], check=True)
    r = run_json([LOADGEN, "--bootstrap", bootstrap, "--records", str(records),
                  "--partitions", str(partitions), "--acks", acks, "--json"])
    return {
        "produce": r["bytes"] / 1e6 / r["produce_s"],
        "produce_rec": r["records"] / r["produce_s"],
        "consume": r["bytes"] / 1e6 / r["consume_s"],
    }


def create_partitions(bootstrap, scratch, total, per_topic=1000):
    for i in range(0, total, per_topic):
        subprocess.run([PROTOBENCH, "--bootstrap", bootstrap, "--dir", scratch,
                        "--create-only", str(min(per_topic, total - i)), "--topic", f"idle-{i // per_topic}"],
                       check=True)


def settle(g, timeout=30.0):
    """Waits until idle segments have released their files (after two maintenance rounds of
    1 s), so RSS and descriptors are read in the idle state, not while partitions are fresh."""
    deadline = time.time() + timeout
    while g.fds() > 32:
        if time.time() > deadline:
            sys.exit(f"gregor still holds {g.fds()} descriptors after {timeout} s")
        time.sleep(0.05)


def label(parts, acks):
    return f"{parts} partition{'s' if parts > 1 else ''}, acks={'all' if acks == -1 else 1}"


def workloads(bootstrap, scratch, a):
    res = {}
    for parts in (1, 8):
        for acks in (1, -1):
            name = label(parts, acks)
            print(f"  protobench {name} ...", file=sys.stderr, flush=True)
            res[("proto", parts, acks)] = protobench(bootstrap, scratch, a.mb, parts, acks, a.runs)
            print(f"  rdkafka {name} ...", file=sys.stderr, flush=True)
            res[("rdkafka", parts, acks)] = loadgen(bootstrap, a.records, parts, "all" if acks == -1 else "1")
    print("  latency ...", file=sys.stderr, flush=True)
    res["latency"] = run_json([LOADGEN, "--bootstrap", bootstrap, "--latency-rate", "5000",
                               "--seconds", str(a.latency_seconds), "--json"])
    return res


def gregor_only(work, a):
    """Start-up, RSS and descriptors of gregor itself."""
    out = {}
    empty = []
    for i in range(5):
        d = os.path.join(work, f"empty-{i}")
        g = Gregor(d)
        empty.append(g.start())
        if i == 0:
            settle(g)
            out["rss_idle"] = g.status("VmRSS")
        g.stop()
    out["start_empty"] = med(empty)

    d = os.path.join(work, "thousand")
    g = Gregor(d)
    g.start()
    create_partitions(g.bootstrap, work, 1000)
    g.stop()
    restarts = []
    for _ in range(3):
        g = Gregor(d)
        restarts.append(g.start())
        g.stop()
    out["start_1000"] = med(restarts)

    d = os.path.join(work, "tenthousand")
    g = Gregor(d)
    g.start()
    create_partitions(g.bootstrap, work, 10000)
    settle(g)
    out["rss_10k"] = g.status("VmRSS")
    out["fds_10k"] = g.fds()
    g.stop()
    g = Gregor(d)
    out["start_10k"] = g.start()
    settle(g)
    out["rss_10k_restart"] = g.status("VmRSS")
    g.stop()
    return out


def fmt(v, unit=""):
    if isinstance(v, float) and v != v:
        return "—"
    if isinstance(v, int):
        return f"{v:,}{unit}"
    if isinstance(v, float):
        s = f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}" if abs(v) < 10 else f"{v:,.1f}"
        return s + unit
    return str(v)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bootstrap", action="append", default=[], help="another broker to run the client workloads against")
    p.add_argument("--runs", type=int, default=3, help="protobench runs per workload (median)")
    p.add_argument("--mb", type=int, default=1000, help="MB per protobench run")
    p.add_argument("--records", type=int, default=1_000_000, help="records per rdkafka run")
    p.add_argument("--latency-seconds", type=int, default=10)
    p.add_argument("--markdown", help="also write the table to this file")
    a = p.parse_args()

    for b in a.bootstrap:
        host, _, port = b.rpartition(":")
        if not answered(int(port), host):
            sys.exit(f"{b} does not answer an ApiVersions request")
    work = tempfile.mkdtemp(prefix="gregor-bench-", dir=os.environ.get("BENCH_DIR"))
    targets = []
    try:
        print("gregor: start-up, RSS, descriptors ...", file=sys.stderr, flush=True)
        only = gregor_only(work, a)
        g = Gregor(os.path.join(work, "main"))
        g.start()
        print(f"gregor ({g.bootstrap}):", file=sys.stderr, flush=True)
        res = workloads(g.bootstrap, work, a)
        only["rss_load"] = g.status("VmHWM")
        targets.append(("gregor", res))
        g.stop()
        for b in a.bootstrap:
            print(f"{b}:", file=sys.stderr, flush=True)
            targets.append((b, workloads(b, work, a)))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    names = [n for n, _ in targets]
    rows = []

    def row(label, key, unit="", goal=""):
        rows.append([label] + [fmt(key(r), unit) for _, r in targets] + [goal])

    for parts in (1, 8):
        for acks in (1, -1):
            k, w = ("proto", parts, acks), label(parts, acks)
            row(f"protobench produce MB/s, {w}", lambda r: r[k]["produce"])
            row(f"  records/s", lambda r: r[k]["produce_rec"])
            row(f"  ÷ baseline (a) socket→file ({fmt(res[k]['base_a'])} MB/s)", lambda r: r[k]["ratio_a"], "×",
                "≥ 0.60×" if acks == 1 else "")
            row(f"protobench fetch MB/s, {w}", lambda r: r[k]["fetch"])
            row(f"  ÷ baseline (b) file→socket ({fmt(res[k]['base_b'])} MB/s)", lambda r: r[k]["ratio_b"], "×",
                "≥ 0.60×")
    for parts in (1, 8):
        for acks in (1, -1):
            k, w = ("rdkafka", parts, acks), label(parts, acks)
            row(f"rdkafka produce MB/s, {w}", lambda r: r[k]["produce"])
            row(f"  records/s", lambda r: r[k]["produce_rec"])
            row(f"rdkafka consume MB/s, {w}", lambda r: r[k]["consume"])
    row("end-to-end latency p50 at 5,000 rec/s (rdkafka)", lambda r: r["latency"]["p50_ms"], " ms")
    row("  p99", lambda r: r["latency"]["p99_ms"], " ms", "≤ 2 ms")
    row("  p99.9", lambda r: r["latency"]["p999_ms"], " ms")
    def own(label, key, unit="", goal=""):
        """A row only gregor has: it needs the broker's process."""
        rows.append([label, fmt(only[key], unit)] + ["—"] * (len(names) - 1) + [goal])

    own("start-up, empty data dir (median of 5)", "start_empty", " ms", "≤ 50 ms")
    own("start-up, 1,000 partitions after clean shutdown (median of 3)", "start_1000", " ms", "≤ 1,000 ms")
    own("start-up, 10,000 partitions after clean shutdown", "start_10k", " ms")
    own("RSS idle, empty", "rss_idle", " MB", "≤ 20 MB")
    own("RSS with 10,000 idle partitions (after creating them)", "rss_10k", " MB", "≤ 200 MB")
    own("RSS with 10,000 idle partitions (after a restart)", "rss_10k_restart", " MB", "≤ 200 MB")
    own("open descriptors with 10,000 idle partitions", "fds_10k")
    own("RSS under load (peak over all throughput workloads)", "rss_load", " MB")

    header = ["workload"] + names + ["goal"]
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(header, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    table = "\n".join(lines)
    print(table)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
