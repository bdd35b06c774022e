"""kafka-python 3.x against a 3-node cluster: the scenarios of compat/SCENARIOS-cluster.
Usage: cluster.py HOST:PORT,HOST:PORT,HOST:PORT (with $COMPAT_FAULT set by scripts/compat --cluster)."""
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from harness import GroupLedger, Runner, fault, wait_until  # noqa: E402

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import NewTopic  # noqa: E402
from kafka.errors import KafkaError  # noqa: E402

BS = sys.argv[1].split(",")
R = Runner("kafka-python")
admin = KafkaAdminClient(bootstrap_servers=BS, request_timeout_ms=15000)
tag = uuid.uuid4().hex[:6]


def create(name, partitions):
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=3)])


def produce_consume():
    """acks=all keyed records into an RF 3 topic, read back equal."""
    name = f"kpy-rf3-{tag}"
    create(name, 3)
    p = KafkaProducer(bootstrap_servers=BS, acks="all", linger_ms=5)
    futures = [(f"k{i}".encode(), f"v{i}".encode(), p.send(name, key=f"k{i}".encode(), value=f"v{i}".encode())) for i in range(1000)]
    acked = {}
    for k, v, f in futures:
        md = f.get(timeout=60)
        acked[(md.partition, md.offset)] = (k, v)
    p.close()
    c = KafkaConsumer(bootstrap_servers=BS, enable_auto_commit=False, consumer_timeout_ms=15000)
    tps = [TopicPartition(name, i) for i in range(3)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    got = {}
    for m in c:
        got[(m.partition, m.offset)] = (m.key, m.value)
        if len(got) >= len(acked):
            break
    c.close()
    assert got == acked, f"{len(got)} read, {len(acked)} acked"
    return f"{len(acked)} records"


def failover_group():
    """A group consumer commits after every poll; midway the leader of partition 2 is killed
    (kill -9) while an idempotent acks=all producer keeps producing. Every acknowledged record is
    consumed, no committed record is consumed twice, and a restarted member of the group sees
    nothing already processed."""
    name, group = f"kpy-fo-{tag}", f"kpy-fo-{tag}"
    create(name, 3)
    total = 2000
    acked, failed, inflight = set(), [], []
    p = KafkaProducer(bootstrap_servers=BS, acks="all", enable_idempotence=True, linger_ms=5,
                      delivery_timeout_ms=60000, request_timeout_ms=10000)

    def send(value, partition=None):
        f = p.send(name, key=value[-2:], value=value, partition=partition)
        f.add_callback(lambda md, v=value: acked.add(v))
        f.add_errback(lambda e: failed.append(repr(e)))
        inflight.append(f)

    def consumer():
        return KafkaConsumer(name, group_id=group, bootstrap_servers=BS, auto_offset_reset="earliest",
                             enable_auto_commit=False)

    c = consumer()
    ledger = GroupLedger()
    next_i, killed = 0, None
    deadline = time.time() + 120
    try:
        while True:
            assert time.time() < deadline, \
                f"timed out: {len(acked)} acked, {len(acked & set(ledger.seen))} of them consumed"
            inflight[:] = [f for f in inflight if not f.is_done]
            if next_i < total and (next_i < total // 2 or killed) and len(inflight) < 200:
                for i in range(next_i, next_i + 100):
                    send(f"v{i}".encode())
                next_i += 100
            for records in c.poll(timeout_ms=200).values():
                for m in records:
                    ledger.read(m.value)
            ledger.commit(c.commit, KafkaError)
            if killed is None and len(ledger.seen) >= total // 4:
                killed = fault("kill-leader", name, "2")
            if next_i >= total and not inflight and ledger.consumed_all(acked):
                break
        c.close()
        n_acked = len(acked)
        ledger.check(failed)
        # A restarted member resumes at the committed offsets: only the new end markers come.
        for part in range(3):
            send(b"end", part)
        p.flush(60)
        assert not failed, failed[:2]
        p.close()
        c = consumer()
        again, ends = [], 0
        until = time.time() + 60
        while ends < 3:
            assert time.time() < until, f"timed out: {ends} of 3 end markers"
            for records in c.poll(timeout_ms=500).values():
                for m in records:
                    if m.value == b"end":
                        ends += 1
                    else:
                        again.append(m.value)
        c.close()
        assert not again, f"a restarted member re-read {len(again)} processed records: {again[:3]}"
        return ledger.note(killed, n_acked)
    finally:
        fault("restart-all")


def cluster_admin():
    """CreateTopics RF 3, DescribeTopics: three replicas and an ISR of three everywhere; delete."""
    # A fresh admin client: the first one cached the controller id and broker list from before
    # the failover scenario killed and restarted a node (kafka-python refreshes them only on
    # NOT_CONTROLLER or after metadata.max.age.ms), as it would against Kafka.
    global admin
    admin.close()
    admin = KafkaAdminClient(bootstrap_servers=BS, request_timeout_ms=15000)
    name = f"kpy-adm-{tag}"
    create(name, 3)

    def full():
        d = admin.describe_topics([name])[0]
        ps = d["partitions"]
        return len(ps) == 3 and all(len(p["replica_nodes"]) == 3 and len(p["isr_nodes"]) == 3 for p in ps)
    wait_until("3 replicas and an ISR of 3 on every partition", full, 30)
    leaders = {p["leader_id"] for p in admin.describe_topics([name])[0]["partitions"]}
    admin.delete_topics([name])
    wait_until("the topic to disappear", lambda: name not in admin.list_topics())
    return f"leaders on nodes {sorted(leaders)}"


R.run("cluster-produce-consume", produce_consume)
R.run("cluster-failover-group", failover_group)
R.run("cluster-admin", cluster_admin)
sys.exit(1 if R.failures else 0)
