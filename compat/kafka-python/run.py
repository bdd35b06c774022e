"""kafka-python 3.x against a broker: every scenario of compat/SCENARIOS.
Usage: run.py HOST:PORT"""
import os
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from harness import Runner, Skip, wait_until  # noqa: E402
import secured  # noqa: E402

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.structs import OffsetAndMetadata  # noqa: E402
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic  # noqa: E402
from kafka.errors import MessageSizeTooLargeError  # noqa: E402

BS = sys.argv[1]
R = Runner("kafka-python")
admin = KafkaAdminClient(bootstrap_servers=BS, request_timeout_ms=15000)
tag = uuid.uuid4().hex[:6]
T = f"kpy-{tag}"
sent = {}


def create(name, partitions, configs=None):
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1, topic_configs=configs or {})])


def produce(topic, records, **conf):
    p = KafkaProducer(bootstrap_servers=BS, linger_ms=5, **conf)
    futures = [(k, v, h, p.send(topic, key=k, value=v, headers=h or [])) for k, v, h in records]
    acked = {}
    for k, v, h, f in futures:
        md = f.get(timeout=30)
        acked[(md.partition, md.offset)] = (k, v, tuple(h or ()))
    p.close()
    return acked


def consume_all(topic, partitions, n):
    c = KafkaConsumer(bootstrap_servers=BS, enable_auto_commit=False, consumer_timeout_ms=15000)
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    got = {}
    for m in c:
        got[(m.partition, m.offset)] = (m.key, m.value, tuple(m.headers))
        if len(got) >= n:
            break
    c.close()
    return got


def metadata():
    cluster = admin.describe_cluster()
    assert len(cluster["brokers"]) == 1 and cluster["cluster_id"], cluster
    create(T, 3)
    assert T in admin.list_topics()


def admin_create_delete():
    name = f"kpy-tmp-{tag}"
    create(name, 2, {"retention.ms": "3600000"})
    assert name in admin.list_topics()
    admin.delete_topics([name])
    wait_until("the topic to disappear", lambda: name not in admin.list_topics())


def produce_keyed():
    recs = [(f"k{i}".encode(), f"v{i}".encode(), [("i", str(i).encode())]) for i in range(1000)]
    sent.update(produce(T, recs, acks="all"))
    assert len(sent) == 1000


def compression(codec):
    def run():
        recs = [(f"{codec}-k{i}".encode(), (f"{codec}-value-{i}-" * 10).encode(), [("codec", codec.encode())]) for i in range(300)]
        acked = produce(T, recs, compression_type=codec)
        assert len(acked) == 300
        sent.update(acked)
    return run


def consume_compare():
    got = consume_all(T, 3, len(sent))
    assert got == sent, f"{len(got)} consumed, {len(sent)} produced"


ROT_PARTS, ROT_ROUNDS = 4, 6


def rot_value(p, r):
    """A 20 KB payload, far above the consumer's fetch.max.bytes of 1024."""
    return (f"p{p}r{r}." * 4000)[:20000].encode()


def fetch_rotation():
    """fetch.max.bytes below one batch on 4 partitions: every partition is served within the first 12 records."""
    name = f"kpy-rot-{tag}"
    create(name, ROT_PARTS)
    p = KafkaProducer(bootstrap_servers=BS, linger_ms=0)
    for r in range(ROT_ROUNDS):
        for part in range(ROT_PARTS):
            p.send(name, key=f"p{part}r{r}".encode(), value=rot_value(part, r), partition=part)
        p.flush(30)  # one batch per partition and round
    p.close()
    c = KafkaConsumer(bootstrap_servers=BS, enable_auto_commit=False, consumer_timeout_ms=15000,
                      fetch_max_bytes=1024, max_partition_fetch_bytes=1024)
    tps = [TopicPartition(name, part) for part in range(ROT_PARTS)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    order, got = [], {}
    for m in c:
        order.append(m.partition)
        got[(m.partition, m.offset)] = (m.key, m.value)
        if len(got) >= ROT_PARTS * ROT_ROUNDS:
            break
    c.close()
    assert set(order[:12]) == set(range(ROT_PARTS)), f"first 12 from partitions {order[:12]}"
    want = {(part, r): (f"p{part}r{r}".encode(), rot_value(part, r)) for part in range(ROT_PARTS) for r in range(ROT_ROUNDS)}
    assert got == want, f"{len(got)} consumed, payloads equal: {got == want}"
    return f"first partitions {order[:8]}"


def list_offsets():
    name = f"kpy-times-{tag}"
    create(name, 1)
    t0 = int(time.time() * 1000) - 100_000
    p = KafkaProducer(bootstrap_servers=BS)
    for i in range(20):
        p.send(name, value=b"x", partition=0, timestamp_ms=t0 + i * 1000)
    p.flush(30)
    p.close()
    c = KafkaConsumer(bootstrap_servers=BS)
    tp = TopicPartition(name, 0)
    assert c.beginning_offsets([tp])[tp] == 0
    assert c.end_offsets([tp])[tp] == 20
    found = c.offsets_for_times({tp: t0 + 5500})[tp]
    assert found.offset == 6 and found.timestamp == t0 + 6000, found
    assert c.offsets_for_times({tp: t0 + 10_000_000})[tp] is None
    c.close()


def group_commit_resume():
    group = f"kpy-group-{tag}"

    def consumer():
        return KafkaConsumer(T, group_id=group, bootstrap_servers=BS, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=10000)

    c = consumer()
    n = 0
    for _ in c:
        n += 1
        if n >= len(sent):
            break
    c.commit()
    c.close()
    assert n == len(sent), f"{n} of {len(sent)}"
    produce(T, [(b"late", b"after-restart", None)])
    c = consumer()
    rest = [m.value for m in c]
    c.close()
    assert rest == [b"after-restart"], rest


# kafka-python 3.0.12 can lose a SyncGroup result: when the JoinGroup/SyncGroup round trip
# outlasts the poll() that started it, a later poll may find no rejoin needed and never apply the
# result, so the member keeps its old assignment (and stops heartbeating) for good. The broker's
# log then shows both SyncGroups answered with the split assignment. Two things make that window
# rare: the member learns the topic's partitions before it subscribes (otherwise the leader's
# first assignment is empty and a metadata-triggered rejoin follows at once; a broker that
# completes a new group's first join at once, with group.initial.rebalance.delay.ms=0 as Kafka's
# shipped server.properties sets it, makes that likelier), and it polls for a second, not 100 ms,
# so a round trip of a few milliseconds rarely straddles a poll's end.
MEMBER = """
import sys, time
from kafka import KafkaConsumer
c = KafkaConsumer(group_id=sys.argv[2], bootstrap_servers=sys.argv[1], auto_offset_reset="earliest")
deadline = time.monotonic() + 30
while not c.partitions_for_topic(sys.argv[3]) and time.monotonic() < deadline:
    time.sleep(0.05)
c.subscribe([sys.argv[3]])
while True:
    c.poll(timeout_ms=1000)
    print(",".join(str(tp.partition) for tp in sorted(c.assignment())), flush=True)
"""


def group_split():
    # One consumer per process, as applications run them (two kafka-python consumers in one
    # process occasionally disagree with the coordinator about their assignment).
    group = f"kpy-split-{tag}"
    # kafka-python 3.0.12 can drop a SyncGroup answer when the join/sync round trip straddles
    # the end of a poll() (diagnosed against gregor's trace: the answer arrives, the client
    # discards it and keeps an empty assignment while heartbeating happily). A member left
    # empty for 30 s while the other holds every partition is restarted once, as an operator
    # would; the split itself is still required, and the restart is reported on stderr.
    procs = [None, None]
    assigned = [set(), set()]

    def start(i):
        procs[i] = subprocess.Popen([sys.executable, "-c", MEMBER, BS, group, T], stdout=subprocess.PIPE, text=True)
        assigned[i] = set()
        threading.Thread(target=follow, args=(i, procs[i]), daemon=True).start()

    def follow(i, proc):
        for line in proc.stdout:
            if procs[i] is proc:
                assigned[i] = {int(p) for p in line.strip().split(",") if p}

    def split():
        return assigned[0] and assigned[1] and not (assigned[0] & assigned[1]) and (assigned[0] | assigned[1]) == {0, 1, 2}

    for i in range(2):
        start(i)
    try:
        try:
            wait_until("two members to split three partitions", split, 30)
        except AssertionError:
            empty = [i for i in range(2) if not assigned[i]]
            if len(empty) != 1 or assigned[1 - empty[0]] != {0, 1, 2}:
                raise
            print(f"group-split: member {empty[0]} kept no assignment (kafka-python's dropped SyncGroup); restarting it",
                  file=sys.stderr, flush=True)
            procs[empty[0]].kill()
            procs[empty[0]].wait()
            start(empty[0])
            wait_until("two members to split three partitions (after restarting the empty member)", split, 45)
    finally:
        for p in procs:
            p.kill()
            p.wait()


def groupless_subscribe():
    """The sequence of a report against gregor (issue 15): an idempotent producer writes 100 records
    to a new auto-created topic, then a consumer without a group subscribes to it from the earliest
    offset; ten times as kafka-python guesses the broker's version, five times pinned to
    api_version=(3, 8) (the older Metadata, ListOffsets and Fetch versions it used against the
    gregor of the report). Every run must receive all 100 (the report saw none within 30 s, 1 run
    in 3). subscribe() follows the bootstrap at once: kafka-python 3.0.12 loses a subscribe() made
    while a Metadata request with an empty topic list is out (the bootstrap's, or the refresh
    ~100 ms after it), against any broker, and looks again only after metadata_max_age_ms (5 min;
    tests/it/groupless_subscribe.rs)."""
    slowest = 0.0
    for run, api in enumerate([None] * 10 + [(3, 8)] * 5):
        pinned = {"api_version": api} if api else {}
        name = f"kpy-groupless-{tag}-{run}"
        p = KafkaProducer(bootstrap_servers=BS, enable_idempotence=True, acks="all", **pinned)
        for f in [p.send(name, key=f"k{i}".encode(), value=f"{run}-{i}".encode()) for i in range(100)]:
            f.get(timeout=30)
        p.close()
        start = time.time()
        c = KafkaConsumer(bootstrap_servers=BS, group_id=None, auto_offset_reset="earliest", **pinned)
        if api:
            # A pinned consumer bootstraps in the background; its bootstrap Metadata (an empty
            # topic list) can race subscribe() the same way (seen 1 run in ~270): wait for it.
            c.bootstrap(timeout_ms=30000)
        c.subscribe([name])
        got = set()
        while len(got) < 100 and time.time() - start < 30:
            for msgs in c.poll(timeout_ms=200).values():
                got.update(m.value for m in msgs)
        c.close()
        assert got == {f"{run}-{i}".encode() for i in range(100)}, \
            f"run {run} (api_version {api}): {len(got)} of 100 records within 30 s"
        slowest = max(slowest, time.time() - start)
    return f"15 runs (5 with api_version=(3, 8)), 100 of 100 records each; slowest {slowest:.2f} s"


def idempotent():
    name = f"kpy-idem-{tag}"
    create(name, 2)
    acked = produce(name, [(None, f"r{i}".encode(), None) for i in range(2000)], enable_idempotence=True, acks="all")
    assert len(acked) == 2000
    got = consume_all(name, 2, 2000)
    assert sorted(v for _, v, _ in got.values()) == sorted(f"r{i}".encode() for i in range(2000))


def too_large():
    name = f"kpy-big-{tag}"
    create(name, 1)
    p = KafkaProducer(bootstrap_servers=BS, max_request_size=2_000_000, retries=0)
    try:
        p.send(name, value=b"x" * (1100 * 1024)).get(timeout=30)
        raise AssertionError("a 1.1 MiB record was accepted")
    except MessageSizeTooLargeError:
        pass
    md = p.send(name, value=b"y" * (900 * 1024)).get(timeout=30)
    assert md.offset == 0, md
    p.close()


def describe_configs():
    r = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, T)], config_filter="all")
    cfg = r["topic"][T]
    assert cfg["max.message.bytes"]["value"] == "1048588", cfg["max.message.bytes"]
    assert cfg["retention.ms"]["config_source"] == "DEFAULT_CONFIG"


def delete_records():
    r = admin.delete_records({TopicPartition(T, 0): 5})
    assert r[TopicPartition(T, 0)]["low_watermark"] == 5, r
    c = KafkaConsumer(bootstrap_servers=BS)
    assert c.beginning_offsets([TopicPartition(T, 0)])[TopicPartition(T, 0)] == 5
    c.close()


def read_partition(name, isolation):
    """Every record value of partition 0 up to its end, with the given isolation level."""
    c = KafkaConsumer(bootstrap_servers=BS, enable_auto_commit=False, consumer_timeout_ms=5000,
                      isolation_level=isolation)
    tp = TopicPartition(name, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    got = [m.value for m in c]
    c.close()
    return got


def txn_commit_abort():
    name = f"kpy-txn-{tag}"
    create(name, 1)
    p = KafkaProducer(bootstrap_servers=BS, transactional_id=f"kpy-txn-{tag}")
    p.init_transactions()
    expected = []
    for txn, (n, commit) in enumerate([(100, True), (50, False), (100, True)]):
        p.begin_transaction()
        values = [f"t{txn}-{i}".encode() for i in range(n)]
        for v in values:
            p.send(name, value=v, partition=0)
        if commit:
            p.commit_transaction()
            expected += values
        else:
            p.flush()
            p.abort_transaction()
    p.close()
    committed = read_partition(name, "read_committed")
    assert committed == expected, f"read_committed: {len(committed)} records, expected {len(expected)}"
    assert len(read_partition(name, "read_uncommitted")) == 250


def txn_fencing():
    name = f"kpy-fence-{tag}"
    create(name, 1)
    first = KafkaProducer(bootstrap_servers=BS, transactional_id=f"kpy-fence-{tag}")
    first.init_transactions()
    first.begin_transaction()
    first.send(name, value=b"zombie", partition=0)
    first.flush()
    second = KafkaProducer(bootstrap_servers=BS, transactional_id=f"kpy-fence-{tag}")
    second.init_transactions()
    second.begin_transaction()
    second.send(name, value=b"winner", partition=0)
    second.commit_transaction()
    try:
        first.commit_transaction()
    except Exception as e:  # noqa: BLE001 - ProducerFencedError or a KafkaError wrapping it
        assert "fenc" in type(e).__name__.lower() or "fenc" in str(e).lower() or "epoch" in str(e).lower(), repr(e)
    else:
        raise AssertionError("the fenced producer committed")
    first.close(timeout=1)
    second.close()
    assert read_partition(name, "read_committed") == [b"winner"]


def txn_offsets():
    src, dst, group = f"kpy-eos-in-{tag}", f"kpy-eos-out-{tag}", f"kpy-eos-{tag}"
    create(src, 1)
    create(dst, 1)
    produce(src, [(None, f"in-{i}".encode(), None) for i in range(100)])
    c = KafkaConsumer(src, group_id=group, bootstrap_servers=BS, auto_offset_reset="earliest",
                      enable_auto_commit=False, isolation_level="read_committed")
    p = KafkaProducer(bootstrap_servers=BS, transactional_id=f"kpy-eos-{tag}")
    p.init_transactions()
    done = 0
    deadline = time.time() + 60
    while done < 100:
        assert time.time() < deadline, f"timed out after {done}"
        polled = c.poll(timeout_ms=1000)
        msgs = [m for ms in polled.values() for m in ms]
        if not msgs:
            continue
        p.begin_transaction()
        for m in msgs:
            p.send(dst, value=m.value.replace(b"in-", b"out-"), partition=0)
        offsets = {tp: OffsetAndMetadata(c.position(tp), "", -1) for tp in c.assignment()}
        p.send_offsets_to_transaction(offsets, c.group_metadata())
        p.commit_transaction()
        done += len(msgs)
    tp = TopicPartition(src, 0)
    committed = c.committed(tp)
    c.close()
    p.close()
    assert committed == 100, committed
    out = read_partition(dst, "read_committed")
    assert sorted(out) == sorted(f"out-{i}".encode() for i in range(100)), len(out)


def alter_config():
    """A SET (IncrementalAlterConfigs, which the client prefers) is read back; a bad value is
    refused and changes nothing."""
    name = f"kpy-alter-{tag}"
    create(name, 1)

    def read():
        r = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)], config_filter="all")
        return r["topic"][name]["retention.ms"]["value"]

    def alter(value):
        r = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs={"retention.ms": value})])
        return r["topic"][name]

    assert alter("12345") == "OK"
    assert read() == "12345", read()
    refused = alter("not-a-number")
    assert refused != "OK" and ("InvalidConfig" in refused or "retention.ms" in refused), refused
    assert read() == "12345", read()

def alter_broker_config():
    """A dynamic broker config of this broker (BROKER resource named by its node id): a SET
    (IncrementalAlterConfigs) is read back as DYNAMIC_BROKER_CONFIG; a bad value (through both
    IncrementalAlterConfigs and AlterConfigs) and a read-only key are refused with
    INVALID_REQUEST and change nothing; reset_configs (DELETE) restores what was there. The
    client requires an integer broker name (ValueError otherwise), so the cluster default ("")
    is not reachable here."""
    node = str(admin.describe_cluster()["brokers"][0]["broker_id"])
    key = "log.retention.ms"

    def read():
        r = admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, node)], config_filter="all")
        return r["broker"][node][key]

    def alter(name, value, **kw):
        r = admin.alter_configs([ConfigResource(ConfigResourceType.BROKER, node, configs={name: value})], **kw)
        return r["broker"][node]

    before = read()
    try:
        # Longer than the default: harmless to the other scenarios' topics even for a moment.
        assert alter(key, "691200000") == "OK"
        entry = read()
        assert entry["value"] == "691200000", entry
        assert entry["config_source"] == "DYNAMIC_BROKER_CONFIG" and not entry["read_only"], entry
        # The client checks keys against the broker's dynamic ones first (ValueError for
        # `listeners`): raise_on_unknown=False lets the broker answer.
        for name, value, kw in [(key, "-5", {}), (key, "-5", {"incremental": False}),
                                ("listeners", "PLAINTEXT://127.0.0.1:1", {"raise_on_unknown": False})]:
            refused = alter(name, value, **kw)
            assert refused.startswith("[Error 42] InvalidRequestError") and name in refused, refused
        assert read()["value"] == "691200000", read()
    finally:
        admin.reset_configs([ConfigResource(ConfigResourceType.BROKER, node, configs=[key])])
    after = read()
    assert (after["value"], after["config_source"]) == (before["value"], before["config_source"]), (after, before)


def describe_log_dirs():
    """DescribeLogDirs: one directory with the topic's partitions and the volume sizes."""
    (entry,) = admin.describe_log_dirs(topic_partitions={T: [0]})
    (d,) = entry["log_dirs"]
    assert d["error_code"] == 0 and d["log_dir"].startswith("/"), d
    assert d["total_bytes"] > 0 and 0 <= d["usable_bytes"] <= d["total_bytes"], d
    (t,) = d["topics"]
    (p,) = t["partitions"]
    assert t["name"] == T and p["partition_index"] == 0 and p["partition_size"] > 0, t
    assert p["offset_lag"] == 0 and not p["is_future_key"], p


def elect_leaders():
    """A preferred election where the leader already is the preferred replica: not needed."""
    r = admin.elect_leaders(0, {T: [0, 1]}, raise_errors=False)
    codes = [(x.topic, p.partition_id, p.error_code) for x in r.replica_election_results for p in x.partition_result]
    assert codes == [(T, 0, 84), (T, 1, 84)], codes


def list_reassignments():
    """Nothing in progress; a no-op reassignment succeeds and an unknown broker is refused."""
    assert admin.list_partition_reassignments() == {}, admin.list_partition_reassignments()
    tp = TopicPartition(T, 0)
    node = admin.describe_cluster()["brokers"][0]["broker_id"]
    assert admin.alter_partition_reassignments({tp: [node]}) == {tp: None}
    refused = admin.alter_partition_reassignments({tp: [node, 99]})[tp]
    assert refused is not None and "InvalidReplicationAssignment" in refused.__name__, refused


def describe_quorum():
    raise Skip("kafka-python has no DescribeQuorum API")


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
R.run("groupless-subscribe", groupless_subscribe)
print("SKIP kafka-python group-consumer-protocol (kafka-python has no KIP-848 consumer protocol)", flush=True)
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
