#!/usr/bin/env python3
"""The replication benchmark behind scripts/bench-replication (which builds the release binaries).

Three figures of issue 13, each from local gregor processes started here (release build, data
in a temporary directory; BENCH_DIR picks the disk):

  a. produce MB/s with acks=all: RF=3 on a 3-node cluster vs RF=1 on one node, measured in
     alternate runs of examples/protobench (--produce-only, 64 KiB batches of 1 KiB records,
     8 requests in flight to the partition leader), medians and the ratio of the medians;
     with each run the CPU time of the broker processes (utime + stime of every thread, from
     /proc/<pid>/stat before and after: on a shared machine a steadier figure than MB/s) per
     MB produced, the requests' p50 latency, and a second short run with one request in
     flight whose p50 is the round trip of one acks=all Produce;
  b. failover: kill -9 of the partition leader (default settings, then broker.session.timeout.ms
     =2000 / broker.heartbeat.interval.ms=500) and SIGTERM (controlled shutdown) of it, each
     timed from the signal until examples/replprobe's acks=all produce is acknowledged again by
     another leader; p50/p99/max over --kills; the killed node is restarted and back in the ISR
     before the next kill;
  c. catch-up: a follower is killed, --catchup-mb MB are produced (acks=all) to the RF=3
     partition, the follower is restarted; time from its restart until it is in the ISR with as
     many bytes as the leader (replprobe caught-up) -> MB/s.

Every cluster node is a combined broker+controller (as scripts/cluster starts them); the
topics have min.insync.replicas=2 for the failover and 1 otherwise. `gregor cluster --json` is
how the driver reads leaders and ISRs. --quick (small sizes, 1 + 3 + 3 kills) takes about 1.5
minutes; the defaults about 8 minutes.
"""

import argparse
import json
import os
import queue
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROFILE = os.environ.get("BENCH_PROFILE", "release")
# BENCH_BINARIES: another directory laid out as target/<profile> (gregor, examples/...), e.g. a
# copy of an older build to compare with.
BINARIES = os.environ.get("BENCH_BINARIES", os.path.join(ROOT, f"target/{PROFILE}"))
GREGOR = os.path.join(BINARIES, "gregor")
PROTOBENCH = os.path.join(BINARIES, "examples/protobench")
REPLPROBE = os.path.join(BINARIES, "examples/replprobe")

# Directories of runs that got stuck: kept (data and logs) for a look; the rest is removed.
KEEP = []

SHORT_SESSION = [("broker.session.timeout.ms", "2000"), ("broker.heartbeat.interval.ms", "500")]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


_USED_PORTS = set()


def free_port():
    """A port the kernel just gave out and this run has not used yet (a closed port can be
    handed out again at once, and two nodes on one port make a broken quorum)."""
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _USED_PORTS:
            _USED_PORTS.add(port)
            return port


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class Node:
    """One gregor process; `settings` are its --set pairs."""

    def __init__(self, root, node_id, settings, broker_port, controller_port=None):
        self.id, self.settings = node_id, settings
        self.broker_port, self.controller_port = broker_port, controller_port
        self.dir = os.path.join(root, f"node-{node_id}")
        self.log = self.dir + ".log"
        self.proc = None

    @property
    def addr(self):
        return f"127.0.0.1:{self.broker_port}"

    def start(self):
        cmd = [GREGOR, "serve", "--data-dir", self.dir]
        for k, v in self.settings:
            cmd += ["--set", f"{k}={v}"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(self.log, "a"))

    def wait_listening(self, timeout=60):
        deadline = time.time() + timeout
        while not listening(self.broker_port):
            if self.proc.poll() is not None:
                sys.exit(f"node {self.id} exited; see {self.log}")
            if time.time() > deadline:
                sys.exit(f"node {self.id} does not listen; see {self.log}")
            time.sleep(0.01)

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def sigterm(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout=60):
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()


class Cluster:
    """n combined nodes on 127.0.0.1 with one static quorum (scripts/cluster's layout)."""

    def __init__(self, root, n, extra=()):
        self.root = root
        os.makedirs(root, exist_ok=True)
        ports = [(free_port(), free_port()) for _ in range(n)]
        voters = ",".join(f"{i + 1}@127.0.0.1:{c}" for i, (_, c) in enumerate(ports))
        self.nodes = []
        for i, (b, c) in enumerate(ports):
            settings = [("node.id", str(i + 1)), ("process.roles", "broker,controller"),
                        ("listeners", f"PLAINTEXT://127.0.0.1:{b},CONTROLLER://127.0.0.1:{c}"),
                        ("controller.listener.names", "CONTROLLER"),
                        ("inter.broker.listener.name", "PLAINTEXT"),
                        ("controller.quorum.voters", voters)] + list(extra)
            self.nodes.append(Node(root, i + 1, settings, b, c))

    @property
    def bootstrap(self):
        return ",".join(n.addr for n in self.nodes)

    def node(self, node_id):
        return self.nodes[node_id - 1]

    def start(self):
        for n in self.nodes:
            n.start()
        for n in self.nodes:
            n.wait_listening()
        self.wait(lambda v: len(live(v)) == len(self.nodes) and quorum_ok(v, len(self.nodes)),
                  "every node live and the quorum complete")

    def view(self, addr=None):
        """`gregor cluster --json` through `addr` (default: the first running node)."""
        alive = [n.addr for n in self.nodes if n.proc and n.proc.poll() is None]
        r = subprocess.run([GREGOR, "cluster", "--json", "--bootstrap", addr or ",".join(alive) or self.bootstrap],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=60)
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def wait(self, pred, what, timeout=120):
        """Waits until `pred` holds for the view of every running node: a node just restarted
        may still answer from an older metadata image than the others."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            views = [self.view(n.addr) for n in self.nodes if n.proc and n.proc.poll() is None]
            if views and all(v is not None and pred(v) for v in views):
                return views[0]
            time.sleep(0.05)
        for v in views:
            log(json.dumps(v))
        raise TimeoutError(f"timed out waiting for {what}; logs in {self.root}")

    def stop(self):
        for n in self.nodes:
            n.sigterm()
        for n in self.nodes:
            if n.proc:
                n.wait_exit(30)


def live(v):
    return {n["id"] for n in v["nodes"] if n["status"] == "live"}


def quorum_ok(v, voters):
    q = v["quorum"]
    return "leader_id" in q and q["leader_id"] >= 0 and len(q["voters"]) == voters


def partition(v, topic, p=0):
    for x in v["partitions"]:
        if x["topic"] == topic and x["partition"] == p:
            return x
    return None


def in_sync(v, topic, rf, p=0):
    """The partition has a live leader and all `rf` replicas in its ISR."""
    x = partition(v, topic, p)
    return x is not None and x["leader"] in live(v) and len(x["isr"]) == rf == len(x["replicas"])


def run_json(cmd):
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def protobench(bootstrap, scratch, mb, rf, partitions, topic=None, keep=False, in_flight=None,
               full=False):
    subprocess.run(["sync"], check=True)
    cmd = [PROTOBENCH, "--bootstrap", bootstrap, "--dir", scratch, "--mb", str(mb),
           "--partitions", str(partitions), "--acks", "-1", "--replication-factor", str(rf),
           "--produce-only", "--json"]
    if topic:
        cmd += ["--topic", topic]
    if keep:
        cmd += ["--keep-topic"]
    if in_flight:
        cmd += ["--in-flight", str(in_flight)]
    r = run_json(cmd)
    return r if full else r["bytes"] / 1e6 / r["produce_s"]


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    """utime + stime of these processes (all their threads), from /proc/<pid>/stat."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def measured(pids, bootstrap, scratch, mb, rf, partitions, in_flight=None):
    """One protobench run with the CPU the broker processes used meanwhile: its JSON plus
    "mbps" and "cpu_s_per_mb" (broker CPU seconds per MB produced)."""
    before = cpu_seconds(pids)
    r = protobench(bootstrap, scratch, mb, rf, partitions, in_flight=in_flight, full=True)
    cpu = cpu_seconds(pids) - before
    r["mbps"] = r["bytes"] / 1e6 / r["produce_s"]
    r["cpu_s_per_mb"] = cpu / (r["bytes"] / 1e6)
    return r


def create_topic(bootstrap, scratch, topic, rf, min_isr=None, partitions=1):
    cmd = [PROTOBENCH, "--bootstrap", bootstrap, "--dir", scratch, "--create-only", str(partitions),
           "--topic", topic, "--replication-factor", str(rf), "--keep-topic"]
    subprocess.run(cmd, check=True)
    if min_isr is not None:
        subprocess.run([GREGOR, "configs", "--bootstrap-server", bootstrap.split(",")[0],
                        "--entity-type", "topics", "--entity-name", topic, "--alter",
                        "--add-config", f"min.insync.replicas={min_isr}"],
                       check=True, stdout=subprocess.DEVNULL)


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def pct(xs, q):
    """Nearest-rank percentile (p99 of 20 samples is the largest)."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = max(0, min(len(s) - 1, -(-len(s) * q // 100) - 1))
    return s[int(k)]


# a. throughput -------------------------------------------------------------------------------

def throughput(work, a):
    """Alternate RF=1 / RF=3 runs; each measures MB/s, broker CPU s/MB (every broker process
    of the side, all threads) and, in a second short run with one request in flight, the
    latency of one acks=all Produce round trip."""
    port = free_port()
    os.makedirs(os.path.join(work, "single"), exist_ok=True)
    single = Node(os.path.join(work, "single"), 1, [("listeners", f"PLAINTEXT://127.0.0.1:{port}")], port)
    single.start()
    single.wait_listening()
    cluster = Cluster(os.path.join(work, "tput"), 3)
    cluster.start()
    sides = {"rf1": (single.addr, 1, [single.proc.pid]),
             "rf3": (cluster.bootstrap, 3, [n.proc.pid for n in cluster.nodes])}
    out = {k: {"mbps": [], "cpu": [], "p50": [], "lat1": []} for k in sides}
    try:
        for i in range(a.runs):
            for side, (bootstrap, rf, pids) in sides.items():
                log(f"  run {i + 1}/{a.runs}: {side} ...")
                r = measured(pids, bootstrap, work, a.mb, rf, a.partitions)
                lat = measured(pids, bootstrap, work, max(8, a.mb // 10), rf, a.partitions, in_flight=1)
                o = out[side]
                o["mbps"].append(r["mbps"])
                o["cpu"].append(r["cpu_s_per_mb"])
                o["p50"].append(r["produce_p50_ms"])
                o["lat1"].append(lat["produce_p50_ms"])
                log(f"    {r['mbps']:.1f} MB/s, {r['cpu_s_per_mb'] * 1e3:.2f} ms CPU/MB, p50 "
                    f"{r['produce_p50_ms']:.3f} ms (8 in flight), {lat['produce_p50_ms']:.3f} ms (1 in flight)")
    finally:
        single.sigterm()
        single.wait_exit()
        cluster.stop()
    return out


# b. failover ---------------------------------------------------------------------------------

class Probe:
    """examples/replprobe probe, its JSON lines collected by a thread."""

    def __init__(self, bootstrap, topic, partition=0):
        self.proc = subprocess.Popen([REPLPROBE, "probe", "--bootstrap", bootstrap, "--topic", topic,
                                      "--partition", str(partition)],
                                     stdout=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.last_ok = None
        self.recent = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                pass

    def drain(self):
        while True:
            try:
                e = self.lines.get_nowait()
            except queue.Empty:
                return
            self.recent = (self.recent + [e])[-10:]
            if e.get("ok"):
                self.last_ok = e

    def success_after(self, t_ms, not_leader, timeout):
        """The first success after t_ms on a leader other than `not_leader`."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                e = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if e.get("ok"):
                self.last_ok = e
                if e["t"] > t_ms and e["leader"] != not_leader:
                    return e
        return None

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def failovers(work, name, extra, kills, how, victim="alternate"):
    """`kills` leader kills (`how`: "kill" = kill -9, "term" = SIGTERM) on a fresh cluster.

    The topic has 3 partitions, so leaders are spread; kills alternate between a partition led
    by the active controller (the kill then also costs a metadata-quorum election) and one led
    by another node, when the cluster has both (`victim` "controller" or "other": always that
    kind). A probe runs on the chosen partition only."""
    cluster = Cluster(os.path.join(work, name), 3, extra)
    cluster.start()
    topic = "failover"
    create_topic(cluster.bootstrap, work, topic, 3, min_isr=2, partitions=3)
    out = {"controller": [], "other": [], "misses": 0, "stuck": None}
    try:
        for k in range(kills):
            try:
                v = cluster.wait(lambda v: all(in_sync(v, topic, 3, p) for p in range(3)) and len(live(v)) == 3
                                 and quorum_ok(v, 3), "every partition fully in sync")
            except TimeoutError as e:
                # Reported in the table (and the data kept), not hidden by a crash of the script.
                out["stuck"] = f"stopped before kill {k + 1}: {e}"
                log(f"    {name}: {out['stuck']}")
                KEEP.append(cluster.root)
                break
            want = {"controller": True, "other": False}.get(victim, k % 2 == 0)
            ps = [partition(v, topic, p) for p in range(3)]
            chosen = [x for x in ps if (x["leader"] == v["controller_id"]) == want] or ps
            target = chosen[0]
            leader = target["leader"]
            probe = Probe(cluster.bootstrap, topic, target["partition"])
            try:
                # The probe must be writing to the current leader before the fault.
                deadline = time.time() + 60
                while True:
                    probe.drain()
                    if probe.last_ok and probe.last_ok["leader"] == leader:
                        break
                    if time.time() > deadline:
                        sys.exit(f"the probe does not reach leader {leader} ({probe.recent});"
                                 f" logs in {cluster.root}")
                    time.sleep(0.02)
                was_controller = v["controller_id"] == leader
                node = cluster.node(leader)
                t0 = time.time() * 1000
                if how == "kill":
                    node.kill9()
                else:
                    node.sigterm()
                e = probe.success_after(t0, leader, timeout=120)
            finally:
                probe.stop()
            if e is None:
                out["misses"] += 1
                log(f"    {name} #{k + 1}: no acks=all success within 120 s")
            else:
                dt = (e["t"] - t0) / 1000
                out["controller" if was_controller else "other"].append(dt)
                log(f"    {name} #{k + 1}: partition {target['partition']}, leader {leader}"
                    f"{' (active controller)' if was_controller else ''} -> {e['leader']} in {dt:.3f} s")
            if how == "term":
                node.wait_exit(60)
            node.start()
            node.wait_listening()
    finally:
        cluster.stop()
    return out


# c. catch-up ---------------------------------------------------------------------------------

def catchup(work, a):
    cluster = Cluster(os.path.join(work, "catchup"), 3, SHORT_SESSION)
    cluster.start()
    topic = "catchup"
    create_topic(cluster.bootstrap, work, topic, 3)
    try:
        v = cluster.wait(lambda v: in_sync(v, topic, 3), "the partition fully in sync")
        p = partition(v, topic)
        follower = next(r for r in p["replicas"] if r != p["leader"])
        node = cluster.node(follower)
        node.kill9()
        cluster.wait(lambda v: follower not in partition(v, topic)["isr"], "the ISR to shrink")
        log(f"  producing {a.catchup_mb} MB while node {follower} is down ...")
        protobench(cluster.bootstrap, work, a.catchup_mb, 3, 1, topic=topic, keep=True)
        t0 = time.time() * 1000
        node.start()
        r = run_json([REPLPROBE, "caught-up", "--bootstrap", cluster.bootstrap, "--topic", topic,
                      "--node", str(follower), "--node-addr", node.addr])
        secs = (r["t"] - t0) / 1000
        size = du(os.path.join(node.dir, f"{topic}-0"))
    finally:
        cluster.stop()
    return {"mb": a.catchup_mb, "secs": secs, "bytes": size}


def du(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            if f.endswith(".log"):
                total += os.path.getsize(os.path.join(dirpath, f))
    return total


# the table -----------------------------------------------------------------------------------

def fmt(v, unit=""):
    if isinstance(v, float) and v != v:
        return "—"
    if isinstance(v, float):
        s = f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}" if abs(v) < 10 else f"{v:,.1f}"
        return s + unit
    return f"{v}{unit}"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, 1 default-settings kill and 3 of each other kind (~1.5 min)")
    p.add_argument("--runs", type=int, help="alternate protobench runs per side (default 5, quick 1)")
    p.add_argument("--mb", type=int, help="MB per protobench run (default 500, quick 64)")
    p.add_argument("--partitions", type=int, default=1, help="partitions of the throughput topic")
    p.add_argument("--kills", type=int, help="leader kills per failover row (default 20, quick 3)")
    p.add_argument("--default-kills", type=int,
                   help="kills with default session settings (default: --kills up to 10, quick 1; each costs ~20 s)")
    p.add_argument("--catchup-mb", type=int, help="MB behind (default 1000 with 10 GB free, else 256; quick 32)")
    p.add_argument("--only", default="a,b,c", help="which parts to run: a,b,c")
    p.add_argument("--cases", default="default,short,term",
                   help="which failover rows of part b to run: default,short,term")
    p.add_argument("--victim", default="alternate", choices=["alternate", "controller", "other"],
                   help="whose partition is killed: alternately the active controller's and another"
                        " node's (default), or always one kind")
    p.add_argument("--markdown", help="also write the table to this file")
    a = p.parse_args()
    a.runs = a.runs or (1 if a.quick else 5)
    a.mb = a.mb or (64 if a.quick else 500)
    a.kills = a.kills or (3 if a.quick else 20)
    a.default_kills = a.default_kills or (1 if a.quick else min(a.kills, 10))
    work = tempfile.mkdtemp(prefix="gregor-bench-repl-", dir=os.environ.get("BENCH_DIR"))
    if not a.catchup_mb:
        free = shutil.disk_usage(work).free
        a.catchup_mb = 32 if a.quick else (1000 if free > 10e9 else 256)
    parts = set(a.only.split(","))
    rows = []
    started = time.time()
    try:
        if "a" in parts:
            log(f"a. produce acks=all, {a.runs} alternate runs of {a.mb} MB ...")
            t = throughput(work, a)
            one, three = t["rf1"], t["rf3"]
            r1, r3 = med(one["mbps"]), med(three["mbps"])
            c1, c3 = med(one["cpu"]), med(three["cpu"])
            ms = lambda xs: " ".join(fmt(x * 1e3) for x in xs)
            rows.append([f"produce MB/s acks=all, RF=1 on 1 node ({a.partitions} partition, median of {a.runs})",
                         fmt(r1), " ".join(fmt(x) for x in one["mbps"]), ""])
            rows.append([f"produce MB/s acks=all, RF=3 on 3 nodes (same run)", fmt(r3),
                         " ".join(fmt(x) for x in three["mbps"]), ""])
            rows.append(["  RF=3 ÷ RF=1", fmt(r3 / r1, "×"), "", "≥ 0.5×"])
            rows.append(["broker CPU ms per MB, RF=1 (all threads of the broker)", fmt(c1 * 1e3),
                         ms(one["cpu"]), ""])
            rows.append(["broker CPU ms per MB, RF=3 (sum of the 3 brokers)", fmt(c3 * 1e3), ms(three["cpu"]), ""])
            rows.append(["  RF=3 ÷ RF=1 (CPU)", fmt(c3 / c1, "×"), "", ""])
            rows.append(["produce latency p50, 8 in flight: RF=1 / RF=3",
                         f"{fmt(med(one['p50']), ' ms')} / {fmt(med(three['p50']), ' ms')}", "", ""])
            ms3 = lambda xs: " ".join(f"{x:.3f}" for x in xs)
            rows.append(["acks=all round trip p50, 1 in flight: RF=1 / RF=3",
                         f"{med(one['lat1']):.3f} ms / {med(three['lat1']):.3f} ms",
                         f"RF=1 {ms3(one['lat1'])}; RF=3 {ms3(three['lat1'])}", ""])
        if "b" in parts:
            cases = [("kill -9 leader, default settings (session 9 s, heartbeat 2 s)", "default", [],
                      a.default_kills, "kill", "≤ 3 s"),
                     ("kill -9 leader, session 2 s, heartbeat 500 ms", "short", SHORT_SESSION, a.kills, "kill", ""),
                     ("SIGTERM leader (controlled shutdown), default settings", "term", [], a.kills, "term",
                      "≤ 0.5 s")]
            wanted = set(a.cases.split(","))
            for label, name, extra, kills, how, goal in cases:
                if name not in wanted:
                    continue
                log(f"b. failover: {label}, {kills} times ...")
                f = failovers(work, name, extra, kills, how, a.victim)
                ts = f["controller"] + f["other"]
                note = (f"n={len(ts)}; leader also the active controller: p50 {fmt(med(f['controller']), ' s')}"
                        f" (n={len(f['controller'])}), other leaders: p50 {fmt(med(f['other']), ' s')}"
                        f" (n={len(f['other'])})")
                if f["misses"]:
                    note += f"; {f['misses']} never recovered"
                if f["stuck"]:
                    note += f"; {f['stuck']}"
                rows.append([f"failover {label}: p50", fmt(med(ts), " s"), note, goal])
                rows.append(["  p99 / max", f"{fmt(pct(ts, 99), ' s')} / {fmt(max(ts) if ts else float('nan'), ' s')}",
                             "", ""])
        if "c" in parts:
            log(f"c. catch-up of a follower {a.catchup_mb} MB behind ...")
            c = catchup(work, a)
            rows.append([f"replica catch-up, {c['mb']} MB behind: restart → in ISR with the leader's bytes",
                         fmt(c["secs"], " s"), f"{fmt(c['bytes'] / 1e6)} MB of log on the follower", ""])
            rows.append(["  rate", fmt(c["mb"] / c["secs"], " MB/s"), "", ""])
    finally:
        if not os.environ.get("BENCH_KEEP"):
            for entry in os.listdir(work):
                path = os.path.join(work, entry)
                if path in KEEP:
                    continue
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.remove(path)
            if not KEEP:
                os.rmdir(work)

    header = ["workload", "gregor", "detail", "goal"]
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(header, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    table = "\n".join(lines)
    print(table)
    log(f"({time.time() - started:.0f} s)")
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
