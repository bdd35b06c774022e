"""The 3-node cluster of the compatibility matrix's cluster tier (`scripts/compat --cluster`)
and the fault hook its scenarios call.

    cluster.py up DIR BIN       start 3 combined nodes (data and logs under DIR), wait until every
                                node knows all three brokers, print the bootstrap list
    cluster.py fault DIR kill-leader TOPIC PARTITION
                                kill -9 the node leading TOPIC/PARTITION; prints its node id
    cluster.py fault DIR restart-all
                                restart every killed node and wait until it is back in the ISR
                                of every partition it replicates (at most $COMPAT_RESTART_WAIT
                                seconds, 90 by default)
    cluster.py down DIR         SIGTERM every node, then SIGKILL what is left

State lives in DIR/cluster.json (per node: id, ports, command line, pid), so the fault hook
(a separate process, started by a client's scenario through $COMPAT_FAULT) and `down` find the
processes `up` started. Nodes run in their own session: they outlive the process that started
them and a client's Ctrl-C does not reach them. Metadata is read with confluent-kafka (in .venv).
Not thread-safe: one fault command at a time (scenarios run one after another)."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

from confluent_kafka.admin import AdminClient

N = 3
# Short timings so a killed leader is fenced and replaced within seconds (issue 13's tests).
TIMINGS = {
    "broker.session.timeout.ms": "2000",
    "broker.heartbeat.interval.ms": "500",
    "replica.lag.time.max.ms": "5000",
    "controller.quorum.election.timeout.ms": "500",
    "controller.quorum.fetch.timeout.ms": "1000",
    "controller.quorum.election.backoff.max.ms": "500",
    "controller.quorum.request.timeout.ms": "1000",
    "replica.fetch.wait.max.ms": "200",
    "replica.fetch.backoff.ms": "100",
}
SETTINGS = {
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
    "offsets.topic.replication.factor": "3",
    "transaction.state.log.replication.factor": "3",
    "num.partitions": "3",
}


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def load(d):
    with open(os.path.join(d, "cluster.json")) as f:
        return json.load(f)


def save(d, state):
    tmp = os.path.join(d, "cluster.json.tmp")
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, os.path.join(d, "cluster.json"))


def alive(node):
    """The node's process runs (and is a gregor: a reused pid is not ours)."""
    try:
        with open(f"/proc/{node['pid']}/cmdline", "rb") as f:
            cmd = f.read()
        with open(f"/proc/{node['pid']}/stat") as f:
            zombie = f.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return False
    return b"gregor" in cmd and not zombie


def spawn(d, node):
    log = open(os.path.join(d, f"node-{node['id']}.log"), "ab")
    p = subprocess.Popen(node["cmd"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    node["pid"] = p.pid
    return p


def bootstrap(state, only=None):
    return ",".join(f"127.0.0.1:{n['port']}" for n in state["nodes"] if only is None or n["id"] in only)


def metadata(bs, timeout=5):
    """Cluster metadata as seen through `bs`, or None when it does not answer in time."""
    try:
        return AdminClient({"bootstrap.servers": bs, "socket.timeout.ms": 3000}).list_topics(timeout=timeout)
    except Exception:  # noqa: BLE001 - a node still starting or just killed
        return None


def wait_until(what, fn, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fn():
            return
        time.sleep(0.2)
    sys.exit(f"cluster: timed out after {timeout}s waiting for {what}")


def up(d, binary):
    ports = free_ports(2 * N)
    nodes = [{"id": i + 1, "port": ports[2 * i], "controller_port": ports[2 * i + 1]} for i in range(N)]
    voters = ",".join(f"{n['id']}@127.0.0.1:{n['controller_port']}" for n in nodes)
    for n in nodes:
        settings = {
            "node.id": str(n["id"]),
            "process.roles": "broker,controller",
            "listeners": f"PLAINTEXT://127.0.0.1:{n['port']},CONTROLLER://127.0.0.1:{n['controller_port']}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.quorum.voters": voters,
            **TIMINGS,
            **SETTINGS,
        }
        n["cmd"] = [binary, "serve", "--data-dir", os.path.join(d, f"node-{n['id']}")]
        for k, v in settings.items():
            n["cmd"] += ["--set", f"{k}={v}"]
    state = {"nodes": nodes}
    procs = {n["id"]: spawn(d, n) for n in nodes}
    save(d, state)
    for n in nodes:
        def registered(n=n):
            if procs[n["id"]].poll() is not None:
                sys.exit(f"cluster: node {n['id']} exited; see {d}/node-{n['id']}.log")
            md = metadata(f"127.0.0.1:{n['port']}")
            return md is not None and len(md.brokers) == N
        wait_until(f"node {n['id']} to see {N} brokers", registered, 60)
    print(bootstrap(state))


def kill_leader(d, topic, partition):
    state = load(d)
    live = [n["id"] for n in state["nodes"] if alive(n)]
    leader = None

    def found():
        nonlocal leader
        md = metadata(bootstrap(state, live))
        t = md and md.topics.get(topic)
        p = t and t.error is None and t.partitions.get(partition)
        if p and p.leader in live:
            leader = p.leader
        return leader is not None
    wait_until(f"a live leader of {topic}/{partition}", found, 30)
    node = next(n for n in state["nodes"] if n["id"] == leader)
    os.kill(node["pid"], signal.SIGKILL)
    print(leader, flush=True)


def restart_all(d):
    state = load(d)
    dead = [n for n in state["nodes"] if not alive(n)]
    procs = {n["id"]: spawn(d, n) for n in dead}
    save(d, state)
    for n in dead:
        def back(n=n):
            if procs[n["id"]].poll() is not None:
                sys.exit(f"cluster: node {n['id']} exited after its restart; see {d}/node-{n['id']}.log")
            # A restarted node answers from its own (stale) image at first: ask the others
            # whether it is registered and unfenced (Metadata lists live brokers only) and back
            # in the ISR of every partition it replicates.
            md = metadata(f"127.0.0.1:{n['port']}")
            if md is None or len(md.brokers) < N:
                return False
            for peer in state["nodes"]:
                if peer["id"] == n["id"] or peer["id"] in procs:
                    continue
                md = metadata(f"127.0.0.1:{peer['port']}")
                if md is None or n["id"] not in md.brokers:
                    return False
                for t in md.topics.values():
                    for p in t.partitions.values():
                        if n["id"] in p.replicas and n["id"] not in p.isrs:
                            return False
            return True
        wait_until(f"node {n['id']} back in every ISR", back, int(os.environ.get("COMPAT_RESTART_WAIT", "90")))
    print(" ".join(str(n["id"]) for n in dead), flush=True)


def down(d):
    try:
        state = load(d)
    except OSError:
        return
    live = [n for n in state["nodes"] if alive(n)]
    for n in live:
        os.kill(n["pid"], signal.SIGTERM)
    deadline = time.time() + 15
    while time.time() < deadline and any(alive(n) for n in live):
        time.sleep(0.1)
    for n in live:
        if alive(n):
            os.kill(n["pid"], signal.SIGKILL)


def main(argv):
    if len(argv) == 3 and argv[0] == "up":
        up(argv[1], argv[2])
    elif len(argv) == 5 and argv[0] == "fault" and argv[2] == "kill-leader":
        kill_leader(argv[1], argv[3], int(argv[4]))
    elif len(argv) == 3 and argv[0] == "fault" and argv[2] == "restart-all":
        restart_all(argv[1])
    elif len(argv) == 2 and argv[0] == "down":
        down(argv[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
