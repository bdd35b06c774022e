"""confluent-kafka (current librdkafka) against a broker: every scenario of compat/SCENARIOS.
Usage: run.py HOST:PORT"""
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from harness import Runner, Skip, wait_until  # noqa: E402
import secured  # noqa: E402

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, NewTopic  # noqa: E402

BS = sys.argv[1]
R = Runner("confluent-kafka")
admin = AdminClient({"bootstrap.servers": BS})
tag = uuid.uuid4().hex[:6]
T = f"ck-{tag}"
sent = {}


def create(name, partitions, config=None):
    for f in admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})]).values():
        f.result(30)


def produce(topic, records, **conf):
    errors, acked = [], {}

    def reporter(headers):
        def report(err, msg):
            if err:
                errors.append(err)
            else:
                # Delivery reports do not carry headers: remember the ones sent.
                acked[(msg.partition(), msg.offset())] = (msg.key(), msg.value(), tuple(headers or ()))
        return report

    p = Producer({"bootstrap.servers": BS, "linger.ms": 5, **conf})
    for k, v, h in records:
        p.produce(topic, key=k, value=v, headers=h, on_delivery=reporter(h))
        p.poll(0)
    assert p.flush(30) == 0, "not all delivered"
    assert not errors, errors
    return acked


def consume_all(topic, partitions, n):
    c = Consumer({"bootstrap.servers": BS, "group.id": "unused", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = {}
    while len(got) < n:
        m = c.poll(10)
        assert m is not None, f"timed out after {len(got)} of {n}"
        assert m.error() is None, m.error()
        got[(m.partition(), m.offset())] = (m.key(), m.value(), tuple(m.headers() or ()))
    c.close()
    return got


def metadata():
    md = admin.list_topics(timeout=10)
    assert len(md.brokers) == 1 and md.cluster_id, md
    create(T, 3)
    assert len(admin.list_topics(topic=T, timeout=10).topics[T].partitions) == 3


def admin_create_delete():
    name = f"ck-tmp-{tag}"
    create(name, 2, {"retention.ms": "3600000"})
    assert name in admin.list_topics(timeout=10).topics
    for f in admin.delete_topics([name]).values():
        f.result(30)
    wait_until("the topic to disappear", lambda: name not in admin.list_topics(timeout=10).topics)


def produce_keyed():
    recs = [(f"k{i}".encode(), f"v{i}".encode(), [("i", str(i).encode())]) for i in range(1000)]
    sent.update(produce(T, recs))
    assert len(sent) == 1000


def compression(codec):
    def run():
        recs = [(f"{codec}-k{i}".encode(), (f"{codec}-value-{i}-" * 10).encode(), [("codec", codec.encode())]) for i in range(300)]
        acked = produce(T, recs, **{"compression.type": codec})
        assert len(acked) == 300
        sent.update(acked)
    return run


def consume_compare():
    got = consume_all(T, 3, len(sent))
    assert got == sent, f"{len(got)} consumed, {len(sent)} produced, equal={got == sent}"


ROT_PARTS, ROT_ROUNDS = 4, 6


def rot_value(p, r):
    """A 20 KB payload, far above the consumer's fetch.max.bytes of 1024."""
    return (f"p{p}r{r}." * 4000)[:20000].encode()


def fetch_rotation():
    """fetch.max.bytes below one batch on 4 partitions: every partition is served within the first 12 records."""
    name = f"ck-rot-{tag}"
    create(name, ROT_PARTS)
    p = Producer({"bootstrap.servers": BS, "linger.ms": 0})
    for r in range(ROT_ROUNDS):
        for part in range(ROT_PARTS):
            p.produce(name, key=f"p{part}r{r}".encode(), value=rot_value(part, r), partition=part)
        assert p.flush(30) == 0  # one batch per partition and round
    # librdkafka raises fetch.max.bytes to message.max.bytes: lower both.
    c = Consumer({"bootstrap.servers": BS, "group.id": "unused", "enable.auto.commit": False,
                  "message.max.bytes": 1000, "fetch.max.bytes": 1024, "max.partition.fetch.bytes": 1024})
    c.assign([TopicPartition(name, part, 0) for part in range(ROT_PARTS)])
    order, got = [], {}
    while len(got) < ROT_PARTS * ROT_ROUNDS:
        m = c.poll(10)
        assert m is not None, f"timed out after {len(got)}; order {order}"
        assert m.error() is None, m.error()
        order.append(m.partition())
        got[(m.partition(), m.offset())] = (m.key(), m.value())
    c.close()
    assert set(order[:12]) == set(range(ROT_PARTS)), f"first 12 from partitions {order[:12]}"
    want = {(part, r): (f"p{part}r{r}".encode(), rot_value(part, r)) for part in range(ROT_PARTS) for r in range(ROT_ROUNDS)}
    assert got == want, f"{len(got)} consumed, payloads equal: {got == want}"
    return f"first partitions {order[:8]}"


def list_offsets():
    name = f"ck-times-{tag}"
    create(name, 1)
    t0 = int(time.time() * 1000) - 100_000
    p = Producer({"bootstrap.servers": BS})
    for i in range(20):
        p.produce(name, value=b"x", partition=0, timestamp=t0 + i * 1000)
    assert p.flush(30) == 0
    c = Consumer({"bootstrap.servers": BS, "group.id": "unused"})
    assert c.get_watermark_offsets(TopicPartition(name, 0), timeout=10) == (0, 20)
    # One partition per request: answers are matched by partition.
    mid = c.offsets_for_times([TopicPartition(name, 0, t0 + 5500)], timeout=10)
    assert mid[0].offset == 6, mid
    late = c.offsets_for_times([TopicPartition(name, 0, t0 + 10_000_000)], timeout=10)
    assert late[0].offset == -1, late
    c.close()


def group_commit_resume():
    group = f"ck-group-{tag}"
    conf = {"bootstrap.servers": BS, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}
    c = Consumer(conf)
    c.subscribe([T])
    n = 0
    while n < len(sent):
        m = c.poll(15)
        assert m is not None and m.error() is None, f"after {n}: {m and m.error()}"
        n += 1
    c.commit(asynchronous=False)
    c.close()
    produce(T, [(b"late", b"after-restart", None)])
    c = Consumer(conf)
    c.subscribe([T])
    m = c.poll(15)
    assert m is not None and m.error() is None and m.value() == b"after-restart", m
    extra = c.poll(1)
    c.close()
    assert extra is None, "resumed exactly after the committed offsets"


def group_split():
    group = f"ck-split-{tag}"
    conf = {"bootstrap.servers": BS, "group.id": group, "auto.offset.reset": "earliest"}
    a, b = Consumer(conf), Consumer(conf)
    a.subscribe([T])
    b.subscribe([T])

    def split():
        a.poll(0.1)
        b.poll(0.1)
        pa = {tp.partition for tp in a.assignment()}
        pb = {tp.partition for tp in b.assignment()}
        return pa and pb and not (pa & pb) and (pa | pb) == {0, 1, 2}

    wait_until("two members to split three partitions", split, 60)
    a.close()
    b.close()


def group_consumer_protocol():
    """KIP-848 (group.protocol=consumer): three members split six partitions, one leaves,
    the other two take its partitions; every record exactly once."""
    name = f"ck-kip848-{tag}"
    create(name, 6)
    # Keyed, so the records spread over the six partitions (keyless ones would go where the
    # sticky partitioner puts each linger window: often all 600 in one partition, which one
    # member then reads alone).
    produce(name, [(f"a{i}".encode(), f"a{i}".encode(), None) for i in range(600)])
    conf = {"bootstrap.servers": BS, "group.id": f"ck-kip848-{tag}", "group.protocol": "consumer",
            "auto.offset.reset": "earliest", "enable.auto.commit": False}
    cs = [Consumer(conf) for _ in range(3)]
    seen = {}
    state = {}

    def commit(c, m):
        # Committed as consumed: a partition that moves while members join resumes after it
        # (without commits Kafka too serves it from the start). A heartbeat may bump the
        # member's epoch while the commit is on its way: Kafka before 4.3 answers
        # STALE_MEMBER_EPOCH (4.3 and gregor accept it for partitions held since, KIP-1251)
        # and librdkafka does not retry manual commits; the partition is still this
        # member's (it is only given up in a poll), so commit again at the new epoch.
        deadline = time.time() + 10
        while True:
            try:
                c.commit(message=m, asynchronous=False)
                return
            except KafkaException as e:
                if e.args[0].code() != KafkaError.STALE_MEMBER_EPOCH or time.time() > deadline:
                    raise
                time.sleep(0.01)

    def polled(each, total):
        def step():
            parts = []
            for c in cs:
                # Whatever this member has fetched, then the next one: one record per member
                # per round would make 600 records take minutes.
                for _ in range(100):
                    m = c.poll(0.02)
                    if m is None:
                        break
                    if m.error() is None:
                        at = (m.partition(), m.offset())
                        assert at not in seen, f"offset {at} consumed twice"
                        seen[at] = m.value()
                        commit(c, m)
                parts.append({tp.partition for tp in c.assignment()})
            union = set().union(*parts)
            state["now"] = f"assignments {parts}, {len(seen)} of {total} records"
            return all(len(p) == each for p in parts) and len(union) == each * len(cs) and len(seen) >= total
        return step

    def wait(what, each, total):
        try:
            wait_until(what, polled(each, total), 60)
        except AssertionError as e:
            raise AssertionError(f"{e}: {state.get('now')}") from None

    for c in cs:
        c.subscribe([name])
    wait("three members with two partitions each and 600 records", 2, 600)
    cs.pop().close()
    produce(name, [(f"b{i}".encode(), f"b{i}".encode(), None) for i in range(300)])
    wait("two members with three partitions each and 900 records", 3, 900)
    for c in cs:
        c.close()
    assert len(seen) == 900 and len(set(seen.values())) == 900, len(seen)


def idempotent():
    name = f"ck-idem-{tag}"
    create(name, 2)
    acked = produce(name, [(None, f"r{i}".encode(), None) for i in range(2000)], **{"enable.idempotence": True, "acks": "all"})
    assert len(acked) == 2000
    got = consume_all(name, 2, 2000)
    assert sorted(v for _, v, _ in got.values()) == sorted(f"r{i}".encode() for i in range(2000))


def too_large():
    name = f"ck-big-{tag}"
    create(name, 1)
    p = Producer({"bootstrap.servers": BS, "message.max.bytes": 2_000_000})
    result = {}
    p.produce(name, value=b"x" * (1100 * 1024), on_delivery=lambda e, m: result.__setitem__("big", e))
    p.produce(name, value=b"y" * (900 * 1024), on_delivery=lambda e, m: result.__setitem__("ok", e))
    p.flush(30)
    assert result["big"] is not None and result["big"].code() == KafkaError.MSG_SIZE_TOO_LARGE, result
    assert result["ok"] is None, result


def describe_configs():
    res = ConfigResource(ConfigResource.Type.TOPIC, T)
    cfg = list(admin.describe_configs([res]).values())[0].result(30)
    assert cfg["max.message.bytes"].value == "1048588", cfg["max.message.bytes"]
    assert cfg["cleanup.policy"].value == "delete"
    assert cfg["retention.ms"].is_default


def delete_records():
    fs = admin.delete_records([TopicPartition(T, 0, 5)])
    low = list(fs.values())[0].result(30)
    assert low.low_watermark == 5, low
    c = Consumer({"bootstrap.servers": BS, "group.id": "unused"})
    assert c.get_watermark_offsets(TopicPartition(T, 0), timeout=10)[0] == 5
    c.close()


def txn_commit_abort():
    """Committed, aborted and committed again: read_committed sees exactly the committed
    records, in order; read_uncommitted sees all of them."""
    name = f"ck-txn-{tag}"
    create(name, 1)
    p = Producer({"bootstrap.servers": BS, "transactional.id": f"ck-txn-{tag}"})
    p.init_transactions(30)
    expected = []
    for txn, (n, commit) in enumerate([(100, True), (50, False), (100, True)]):
        p.begin_transaction()
        values = [f"t{txn}-{i}".encode() for i in range(n)]
        for v in values:
            p.produce(name, value=v, partition=0)
        if commit:
            p.commit_transaction(30)
            expected += values
        else:
            p.flush(30)
            p.abort_transaction(30)

    def read(isolation, n):
        c = Consumer({"bootstrap.servers": BS, "group.id": "unused", "isolation.level": isolation, "enable.partition.eof": True})
        c.assign([TopicPartition(name, 0, 0)])
        got = []
        while True:
            m = c.poll(10)
            assert m is not None, f"{isolation}: timed out after {len(got)}"
            if m.error() and m.error().code() == KafkaError._PARTITION_EOF:
                break
            assert m.error() is None, m.error()
            got.append(m.value())
        c.close()
        assert len(got) == n, f"{isolation}: {len(got)} records, expected {n}"
        return got

    assert read("read_committed", 200) == expected
    assert len(read("read_uncommitted", 250)) == 250


def txn_fencing():
    """A second producer with the same transactional.id fences the first."""
    name = f"ck-fence-{tag}"
    create(name, 1)
    conf = {"bootstrap.servers": BS, "transactional.id": f"ck-fence-{tag}"}
    first = Producer(conf)
    first.init_transactions(30)
    first.begin_transaction()
    first.produce(name, value=b"zombie", partition=0)
    first.flush(30)
    second = Producer(conf)
    second.init_transactions(30)
    second.begin_transaction()
    second.produce(name, value=b"winner", partition=0)
    second.commit_transaction(30)
    try:
        first.commit_transaction(30)
    except Exception as e:  # noqa: BLE001 - librdkafka raises KafkaException
        err = e.args[0]
        assert err.fatal() or "fenced" in str(err).lower(), err
    else:
        raise AssertionError("the fenced producer committed")
    c = Consumer({"bootstrap.servers": BS, "group.id": "unused", "isolation.level": "read_committed", "enable.partition.eof": True})
    c.assign([TopicPartition(name, 0, 0)])
    got = []
    while True:
        m = c.poll(10)
        assert m is not None, "timed out"
        if m.error() and m.error().code() == KafkaError._PARTITION_EOF:
            break
        got.append(m.value())
    c.close()
    assert got == [b"winner"], got


def txn_offsets():
    """Consume-transform-produce: outputs and the input offsets commit in one transaction."""
    src, dst, group = f"ck-eos-in-{tag}", f"ck-eos-out-{tag}", f"ck-eos-{tag}"
    create(src, 1)
    create(dst, 1)
    produce(src, [(None, f"in-{i}".encode(), None) for i in range(100)])
    c = Consumer({"bootstrap.servers": BS, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "isolation.level": "read_committed"})
    c.subscribe([src])
    p = Producer({"bootstrap.servers": BS, "transactional.id": f"ck-eos-{tag}"})
    p.init_transactions(30)
    done = 0
    while done < 100:
        batch = c.consume(50, 10)
        assert batch, f"timed out after {done}"
        p.begin_transaction()
        for m in batch:
            assert m.error() is None, m.error()
            p.produce(dst, value=m.value().replace(b"in-", b"out-"), partition=0)
        p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), 30)
        p.commit_transaction(30)
        done += len(batch)
    committed = c.committed([TopicPartition(src, 0)], timeout=10)
    c.close()
    assert committed[0].offset == 100, committed
    out = consume_all(dst, 1, 100)
    assert sorted(v for _, v, _ in out.values()) == sorted(f"out-{i}".encode() for i in range(100))


def alter_config():
    """An incremental SET is read back; a bad value is refused and changes nothing."""
    name = f"ck-alter-{tag}"
    create(name, 1)

    def alter(value):
        res = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[
            ConfigEntry("retention.ms", value, incremental_operation=AlterConfigOpType.SET)])
        list(admin.incremental_alter_configs([res]).values())[0].result(30)

    def read():
        res = ConfigResource(ConfigResource.Type.TOPIC, name)
        return list(admin.describe_configs([res]).values())[0].result(30)["retention.ms"]

    alter("12345")
    entry = read()
    assert entry.value == "12345" and not entry.is_default, entry
    try:
        alter("not-a-number")
    except Exception as e:  # noqa: BLE001 - KafkaException(INVALID_CONFIG)
        assert "INVALID_CONFIG" in str(e) or "retention.ms" in str(e), e
    else:
        raise AssertionError("a bad value was accepted")
    assert read().value == "12345"


def alter_broker_config():
    """A dynamic broker config of this broker (BROKER resource named by its node id) through
    IncrementalAlterConfigs: SET is read back as DYNAMIC_BROKER_CONFIG, a bad value and a
    read-only key are refused (INVALID_REQUEST) and change nothing, DELETE restores what was
    there. librdkafka refuses a BROKER resource that is not an integer id before sending it
    (ValueError "Invalid ConfigResource"), so the cluster default ("") is not reachable here."""
    node = str(admin.describe_cluster().result(30).nodes[0].id)
    key = "log.retention.ms"

    def change(name, value, op=AlterConfigOpType.SET):
        res = ConfigResource(ConfigResource.Type.BROKER, node, incremental_configs=[
            ConfigEntry(name, value, incremental_operation=op)])
        list(admin.incremental_alter_configs([res]).values())[0].result(30)

    def read():
        res = ConfigResource(ConfigResource.Type.BROKER, node)
        return list(admin.describe_configs([res]).values())[0].result(30)[key]

    before = read()
    try:
        # Longer than the default: harmless to the other scenarios' topics even for a moment.
        change(key, "691200000")
        entry = read()
        assert entry.value == "691200000", entry
        assert ConfigSource(entry.source) == ConfigSource.DYNAMIC_BROKER_CONFIG, entry.source
        assert not entry.is_default and not entry.is_read_only, entry
        for name, value in [(key, "-5"), ("listeners", "PLAINTEXT://127.0.0.1:1")]:
            try:
                change(name, value)
            except Exception as e:  # noqa: BLE001 - KafkaException(INVALID_REQUEST)
                assert "INVALID_REQUEST" in str(e) and name in str(e), e
            else:
                raise AssertionError(f"{name}={value} was accepted")
        assert read().value == "691200000", read()
    finally:
        change(key, None, AlterConfigOpType.DELETE)
    after = read()
    assert (after.value, after.source) == (before.value, before.source), (after, before)


def describe_log_dirs():
    raise Skip("confluent-kafka has no DescribeLogDirs API")


def elect_leaders():
    """A preferred election where the leader already is the preferred replica: not needed."""
    from confluent_kafka import ElectionType

    tps = [TopicPartition(T, 0), TopicPartition(T, 1)]
    got = admin.elect_leaders(ElectionType.PREFERRED, tps).result(timeout=30)
    assert len(got) == 2, got
    for tp, err in got.items():
        assert err is not None and err.code() == KafkaError.ELECTION_NOT_NEEDED, (tp, err)


def list_reassignments():
    raise Skip("confluent-kafka has no partition reassignment API")


def describe_quorum():
    raise Skip("confluent-kafka (librdkafka) has no DescribeQuorum API")


R.run("metadata", metadata)
R.run("admin-create-delete-topic", admin_create_delete)
R.run("produce-keyed-headers", produce_keyed)
for codec in ["gzip", "snappy", "lz4", "zstd"]:
    R.run(f"compression-{codec}", compression(codec))
R.run("consume-compare", consume_compare)
R.run("fetch-rotation", fetch_rotation)
R.run("list-offsets", list_offsets)
R.run("group-commit-resume", group_commit_resume)
R.run("group-split", group_split)
print("SKIP confluent-kafka groupless-subscribe (subscribe() needs a group.id in librdkafka)", flush=True)
R.run("group-consumer-protocol", group_consumer_protocol)
R.run("idempotent-producer", idempotent)
R.run("message-too-large", too_large)
R.run("describe-configs", describe_configs)
R.run("delete-records", delete_records)
R.run("txn-commit-abort", txn_commit_abort)
R.run("txn-fencing", txn_fencing)
R.run("txn-offsets", txn_offsets)
R.run("alter-config", alter_config)
R.run("alter-broker-config", alter_broker_config)
R.run("describe-log-dirs", describe_log_dirs)
R.run("elect-leaders", elect_leaders)
R.run("list-reassignments", list_reassignments)
R.run("describe-quorum", describe_quorum)
secured.run_all(R, tag)
sys.exit(1 if R.failures else 0)
