"""kafka-python 3.x scenarios against a broker: metadata, admin create topic, produce keyed
records with headers, consume them back and compare. Usage: run.py HOST:PORT."""
import sys
import uuid

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

BS = sys.argv[1]
failures = 0


def scenario(name, fn):
    global failures
    try:
        fn()
        print(f"PASS kafka-python {name}")
    except Exception as e:  # noqa: BLE001 - report every failure as a line
        failures += 1
        print(f"FAIL kafka-python {name} ({type(e).__name__}: {e})")


topic = f"kpy-{uuid.uuid4().hex[:8]}"
sent = []


def metadata():
    admin = KafkaAdminClient(bootstrap_servers=BS, request_timeout_ms=10000)
    cluster = admin.describe_cluster()
    assert cluster["brokers"], cluster
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    assert topic in admin.list_topics()
    admin.close()


def produce():
    p = KafkaProducer(bootstrap_servers=BS, acks="all", compression_type="gzip", linger_ms=5)
    futures = []
    for i in range(500):
        k, v = f"k{i}".encode(), f"v{i}".encode() * (i % 7 + 1)
        futures.append((k, v, p.send(topic, key=k, value=v, headers=[("i", str(i).encode())])))
    for k, v, f in futures:
        md = f.get(timeout=30)
        sent.append((md.partition, md.offset, k, v))
    p.close()
    assert len({(pa, o) for pa, o, _, _ in sent}) == 500


def consume():
    c = KafkaConsumer(bootstrap_servers=BS, enable_auto_commit=False, consumer_timeout_ms=10000)
    c.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
    c.seek_to_beginning()
    got = {}
    for m in c:
        got[(m.partition, m.offset)] = (m.key, m.value, dict(m.headers)["i"])
        if len(got) >= len(sent):
            break
    c.close()
    want = {(pa, o): (k, v, str(i).encode()) for i, (pa, o, k, v) in enumerate(sent)}
    assert got == want, f"{len(got)} records, {len(want)} expected"


def group_resume():
    group = f"kpy-group-{uuid.uuid4().hex[:6]}"

    def consumer():
        return KafkaConsumer(topic, group_id=group, bootstrap_servers=BS, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=10000)

    c = consumer()
    got = []
    for m in c:
        got.append(m.value)
        if len(got) >= len(sent):
            break
    c.commit()
    c.close()
    assert len(got) == len(sent), f"{len(got)} of {len(sent)}"
    p = KafkaProducer(bootstrap_servers=BS)
    p.send(topic, b"after-restart", partition=0).get(timeout=30)
    p.close()
    c = consumer()
    rest = []
    for m in c:
        rest.append(m.value)
        break
    c.close()
    assert rest == [b"after-restart"], rest


scenario("metadata-and-create-topic", metadata)
scenario("produce", produce)
scenario("consume-roundtrip", consume)
scenario("group-commit-and-resume", group_resume)
sys.exit(1 if failures else 0)
