"""confluent-kafka (current librdkafka) against a 3-node cluster: the scenarios of
compat/SCENARIOS-cluster. Usage: cluster.py HOST:PORT,HOST:PORT,HOST:PORT (with $COMPAT_FAULT set
by scripts/compat --cluster)."""
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from harness import GroupLedger, Runner, fault, wait_until  # noqa: E402

from confluent_kafka import Consumer, KafkaException, Producer, TopicCollection, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

BS = sys.argv[1]
R = Runner("confluent-kafka")
admin = AdminClient({"bootstrap.servers": BS})
tag = uuid.uuid4().hex[:6]


def create(name, partitions):
    for f in admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=3)]).values():
        f.result(30)


def describe(name):
    return admin.describe_topics(TopicCollection([name]))[name].result(30)


def produce_consume():
    """acks=all keyed records into an RF 3 topic, read back equal."""
    name = f"ck-rf3-{tag}"
    create(name, 3)
    acked, errors = {}, []

    def report(err, msg):
        if err:
            errors.append(err)
        else:
            acked[(msg.partition(), msg.offset())] = (msg.key(), msg.value())

    p = Producer({"bootstrap.servers": BS, "acks": "all", "linger.ms": 5})
    for i in range(1000):
        p.produce(name, key=f"k{i}".encode(), value=f"v{i}".encode(), on_delivery=report)
        p.poll(0)
    assert p.flush(60) == 0 and not errors, errors[:3]
    c = Consumer({"bootstrap.servers": BS, "group.id": "unused", "enable.auto.commit": False})
    c.assign([TopicPartition(name, i, 0) for i in range(3)])
    got = {}
    while len(got) < len(acked):
        m = c.poll(15)
        assert m is not None, f"timed out after {len(got)} of {len(acked)}"
        assert m.error() is None, m.error()
        got[(m.partition(), m.offset())] = (m.key(), m.value())
    c.close()
    assert got == acked, f"{len(got)} read, {len(acked)} acked"
    return f"{len(acked)} records"


def failover_group():
    """A group consumer commits after every batch; midway the leader of partition 1 is killed
    (kill -9) while an idempotent acks=all producer keeps producing. Every acknowledged record is
    consumed, no committed record is consumed twice, and a restarted member of the group sees
    nothing already processed."""
    name, group = f"ck-fo-{tag}", f"ck-fo-{tag}"
    create(name, 3)
    total = 2000
    acked, failed = set(), []

    def report(err, msg):
        if err:
            failed.append(str(err))
        else:
            acked.add(msg.value())

    p = Producer({"bootstrap.servers": BS, "acks": "all", "enable.idempotence": True, "linger.ms": 5,
                  "message.timeout.ms": 60000})
    conf = {"bootstrap.servers": BS, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}
    c = Consumer(conf)
    c.subscribe([name])
    ledger = GroupLedger()
    next_i, killed = 0, None
    deadline = time.time() + 120
    try:
        while True:
            assert time.time() < deadline, \
                f"timed out: {len(acked)} acked, {len(acked & set(ledger.seen))} of them consumed"
            # Produce in steps of 100 while consuming: the first half before the kill.
            if next_i < total and (next_i < total // 2 or killed) and len(p) < 200:
                for i in range(next_i, next_i + 100):
                    p.produce(name, key=f"k{i % 50}".encode(), value=f"v{i}".encode(), on_delivery=report)
                next_i += 100
            p.poll(0)
            msgs = c.consume(200, 0.2)
            for m in msgs:
                if not m.error():
                    ledger.read(m.value())
            ledger.commit(lambda: c.commit(asynchronous=False), KafkaException)
            if killed is None and len(ledger.seen) >= total // 4:
                killed = fault("kill-leader", name, "1")
            if next_i >= total and len(p) == 0 and ledger.consumed_all(acked):
                break
        c.close()
        ledger.check(failed)
        n_acked = len(acked)
        # A restarted member resumes at the committed offsets: only the new end markers come.
        for part in range(3):
            p.produce(name, value=b"end", partition=part, on_delivery=report)
        assert p.flush(60) == 0 and not failed, failed[:2]
        c = Consumer(conf)
        c.subscribe([name])
        again, ends = [], 0
        until = time.time() + 60
        while ends < 3:
            assert time.time() < until, f"timed out: {ends} of 3 end markers"
            m = c.poll(1)
            if m is None or m.error():
                continue
            if m.value() == b"end":
                ends += 1
            else:
                again.append(m.value())
        c.close()
        assert not again, f"a restarted member re-read {len(again)} processed records: {again[:3]}"
        return ledger.note(killed, n_acked)
    finally:
        fault("restart-all")


def cluster_admin():
    """CreateTopics RF 3, DescribeTopics: three replicas and an ISR of three everywhere; delete."""
    name = f"ck-adm-{tag}"
    create(name, 3)

    def full():
        try:
            d = describe(name)
        except KafkaException:
            # The broker asked may not have applied the new topic yet (as with Kafka, CreateTopics
            # answers once the controller committed it, not once every broker knows it).
            return False
        return len(d.partitions) == 3 and all(len(p.replicas) == 3 and len(p.isr) == 3 for p in d.partitions)
    wait_until("3 replicas and an ISR of 3 on every partition", full, 30)
    leaders = {p.leader.id for p in describe(name).partitions}
    for f in admin.delete_topics([name]).values():
        f.result(30)
    wait_until("the topic to disappear", lambda: name not in admin.list_topics(timeout=10).topics)
    return f"leaders on nodes {sorted(leaders)}"


R.run("cluster-produce-consume", produce_consume)
R.run("cluster-failover-group", failover_group)
R.run("cluster-admin", cluster_admin)
sys.exit(1 if R.failures else 0)
