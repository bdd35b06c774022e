"""confluent-kafka (current librdkafka) scenarios against a broker: metadata, admin create
topic, idempotent produce with headers and zstd, consume back and compare, watermarks.
Usage: run.py HOST:PORT."""
import sys
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BS = sys.argv[1]
failures = 0


def scenario(name, fn):
    global failures
    try:
        fn()
        print(f"PASS confluent-kafka {name}")
    except Exception as e:  # noqa: BLE001 - report every failure as a line
        failures += 1
        print(f"FAIL confluent-kafka {name} ({type(e).__name__}: {e})")


topic = f"ck-{uuid.uuid4().hex[:8]}"
sent = {}


def metadata():
    admin = AdminClient({"bootstrap.servers": BS})
    for f in admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)]).values():
        f.result(30)
    md = admin.list_topics(timeout=10)
    assert len(md.topics[topic].partitions) == 3, md.topics


def produce():
    errors = []

    def report(err, msg):
        if err:
            errors.append(err)
        else:
            sent[(msg.partition(), msg.offset())] = (msg.key(), msg.value())

    p = Producer({"bootstrap.servers": BS, "enable.idempotence": True, "compression.type": "zstd", "linger.ms": 5})
    for i in range(3000):
        p.produce(topic, key=f"k{i}", value=f"value-{i}" * 3, headers={"n": str(i)}, on_delivery=report)
        p.poll(0)
    assert p.flush(30) == 0
    assert not errors, errors
    assert len(sent) == 3000


def consume():
    c = Consumer({"bootstrap.servers": BS, "group.id": "unused", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, 0) for p in range(3)])
    got = {}
    while len(got) < len(sent):
        m = c.poll(10)
        assert m is not None, f"timed out after {len(got)} records"
        assert m.error() is None, m.error()
        got[(m.partition(), m.offset())] = (m.key(), m.value())
    total = sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(3))
    c.close()
    assert got == sent
    assert total == 3000


def group_resume():
    group = f"ck-group-{uuid.uuid4().hex[:6]}"
    conf = {"bootstrap.servers": BS, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}

    c = Consumer(conf)
    c.subscribe([topic])
    n = 0
    while n < len(sent):
        m = c.poll(15)
        assert m is not None, f"timed out after {n} records"
        assert m.error() is None, m.error()
        n += 1
    c.commit(asynchronous=False)
    c.close()
    p = Producer({"bootstrap.servers": BS})
    p.produce(topic, value=b"after-restart", partition=1)
    assert p.flush(30) == 0
    c = Consumer(conf)
    c.subscribe([topic])
    m = c.poll(15)
    assert m is not None and m.error() is None and m.value() == b"after-restart", m
    extra = c.poll(1)
    c.close()
    assert extra is None, "nothing before the committed offsets is read again"


scenario("metadata-and-create-topic", metadata)
scenario("idempotent-produce-zstd", produce)
scenario("consume-roundtrip", consume)
scenario("group-commit-and-resume", group_resume)
sys.exit(1 if failures else 0)
