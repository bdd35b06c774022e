// Java kafka-clients (3.9 and 4.x, see run.sh) against a broker: every scenario of compat/SCENARIOS.
// Usage: java -cp <jars>:. Scenarios HOST:PORT
import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.serialization.*;

public class Scenarios extends Harness {
    static final String T = "java-" + TAG;
    static final Map<String, String> sent = new TreeMap<>();

    static void produceAll(String topic, int n, String prefix, String... kv) throws Exception {
        try (var p = producer(kv)) {
            List<Future<RecordMetadata>> fs = new ArrayList<>();
            List<String> values = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                var rec = new ProducerRecord<>(topic, prefix + "-k" + i, prefix + "-v" + i);
                rec.headers().add("i", Integer.toString(i).getBytes());
                fs.add(p.send(rec));
                values.add(rec.key() + "=" + rec.value() + "|i=" + i);
            }
            for (int i = 0; i < n; i++) {
                RecordMetadata md = fs.get(i).get();
                sent.put(md.topic() + "/" + md.partition() + "/" + md.offset(), values.get(i));
            }
        }
    }

    /** Polls every consumer in turn until each holds `each` partitions (disjoint) and `total`
     * records were read, each (partition, offset) once. */
    static void kip848Poll(List<KafkaConsumer<String, String>> cs, Map<String, String> seen, int each, int total) {
        long deadline = System.currentTimeMillis() + 60000;
        while (true) {
            Set<Integer> all = new HashSet<>();
            boolean sized = true;
            for (var c : cs) {
                var records = c.poll(Duration.ofMillis(100));
                for (var r : records) {
                    String at = r.partition() + "/" + r.offset();
                    check(seen.put(at, r.value()) == null, "offset " + at + " consumed twice");
                }
                // Committed as consumed, before the next poll: a partition that moves while
                // members join (revoked in a later poll) resumes after it. Without commits
                // Kafka too serves a moved partition from the start.
                if (!records.isEmpty()) c.commitSync();
                sized &= c.assignment().size() == each;
                c.assignment().forEach(tp -> all.add(tp.partition()));
            }
            if (sized && all.size() == each * cs.size() && seen.size() >= total) break;
            check(System.currentTimeMillis() < deadline, "assignment " + all + ", " + seen.size() + " of " + total + " read");
        }
        check(seen.size() == total, seen.size() + " read, expected " + total);
    }

    public static void main(String[] args) throws Exception {
        BS = args[0];
        Admin admin = Admin.create(props());

        scenario("metadata", () -> {
            check(admin.describeCluster().nodes().get().size() == 1, "one node");
            check(admin.describeCluster().clusterId().get() != null, "a cluster id");
            admin.createTopics(List.of(new NewTopic(T, 3, (short) 1))).all().get();
            var desc = admin.describeTopics(List.of(T)).allTopicNames().get().get(T);
            check(desc.partitions().size() == 3, "3 partitions");
            // DescribeTopicPartitions one partition a page: the client follows the cursor.
            var paged = admin.describeTopics(List.of(T), new DescribeTopicsOptions().partitionSizeLimitPerResponse(1)).allTopicNames().get().get(T);
            check(paged.partitions().size() == 3 && paged.topicId().equals(desc.topicId()), "paged " + paged);
            // By topic id: Metadata v12+ naming the topic by id only (its name field "").
            var byId = admin.describeTopics(org.apache.kafka.common.TopicCollection.ofTopicIds(List.of(desc.topicId()))).allTopicIds().get().get(desc.topicId());
            check(byId.name().equals(T) && byId.partitions().size() == 3, "by id " + byId);
        });

        scenario("admin-create-delete-topic", () -> {
            String name = "java-tmp-" + TAG;
            admin.createTopics(List.of(new NewTopic(name, 2, (short) 1).configs(Map.of("retention.ms", "3600000")))).all().get();
            check(admin.listTopics().names().get().contains(name), "created");
            admin.deleteTopics(List.of(name)).all().get();
            long deadline = System.currentTimeMillis() + 30000;
            while (admin.listTopics().names().get().contains(name)) {
                check(System.currentTimeMillis() < deadline, "deleted");
                Thread.sleep(50);
            }
        });

        scenario("produce-keyed-headers", () -> produceAll(T, 1000, "plain"));
        for (String codec : List.of("gzip", "snappy", "lz4", "zstd")) {
            scenario("compression-" + codec, () -> produceAll(T, 300, codec, "compression.type", codec, "linger.ms", "5"));
        }

        scenario("consume-compare", () -> {
            try (var c = consumer()) {
                var parts = List.of(new TopicPartition(T, 0), new TopicPartition(T, 1), new TopicPartition(T, 2));
                c.assign(parts);
                c.seekToBeginning(parts);
                Map<String, String> got = new TreeMap<>();
                long deadline = System.currentTimeMillis() + 30000;
                while (got.size() < sent.size() && System.currentTimeMillis() < deadline) {
                    for (var r : c.poll(Duration.ofMillis(500))) {
                        String h = new String(r.headers().lastHeader("i").value());
                        got.put(r.topic() + "/" + r.partition() + "/" + r.offset(), r.key() + "=" + r.value() + "|i=" + h);
                    }
                }
                check(got.equals(sent), "consumed " + got.size() + " records equal to the " + sent.size() + " produced");
            }
        });

        // fetch.max.bytes below one batch on 4 partitions: every partition within the first 12 records.
        noted("fetch-rotation", () -> {
            String name = "java-rot-" + TAG;
            admin.createTopics(List.of(new NewTopic(name, 4, (short) 1))).all().get();
            Map<String, String> want = new TreeMap<>();
            try (var p = producer("linger.ms", "0")) {
                for (int r = 0; r < 6; r++) {
                    for (int part = 0; part < 4; part++) {
                        String v = ("p" + part + "r" + r + ".").repeat(4000).substring(0, 20000);
                        p.send(new ProducerRecord<>(name, part, "p" + part + "r" + r, v));
                        want.put(part + "/" + r, "p" + part + "r" + r + "=" + v);
                    }
                    p.flush(); // one batch per partition and round
                }
            }
            try (var c = consumer("fetch.max.bytes", "1024", "max.partition.fetch.bytes", "1024")) {
                var parts = new ArrayList<TopicPartition>();
                for (int part = 0; part < 4; part++) parts.add(new TopicPartition(name, part));
                c.assign(parts);
                c.seekToBeginning(parts);
                List<Integer> order = new ArrayList<>();
                Map<String, String> got = new TreeMap<>();
                long deadline = System.currentTimeMillis() + 30000;
                while (got.size() < want.size() && System.currentTimeMillis() < deadline) {
                    for (var r : c.poll(Duration.ofMillis(500))) {
                        order.add(r.partition());
                        got.put(r.partition() + "/" + r.offset(), r.key() + "=" + r.value());
                    }
                }
                var first = order.subList(0, Math.min(12, order.size()));
                check(new HashSet<>(first).size() == 4, "first 12 from partitions " + first);
                check(got.equals(want), "consumed " + got.size() + " of " + want.size() + ", payloads equal: " + got.equals(want));
                return "first partitions " + order.subList(0, Math.min(8, order.size()));
            }
        });

        scenario("list-offsets", () -> {
            String name = "java-times-" + TAG;
            admin.createTopics(List.of(new NewTopic(name, 1, (short) 1))).all().get();
            long t0 = System.currentTimeMillis() - 100_000;
            try (var p = producer()) {
                for (int i = 0; i < 20; i++) p.send(new ProducerRecord<>(name, 0, t0 + i * 1000L, null, "x")).get();
            }
            var tp = new TopicPartition(name, 0);
            var earliest = admin.listOffsets(Map.of(tp, OffsetSpec.earliest())).all().get().get(tp).offset();
            var latest = admin.listOffsets(Map.of(tp, OffsetSpec.latest())).all().get().get(tp).offset();
            var byTime = admin.listOffsets(Map.of(tp, OffsetSpec.forTimestamp(t0 + 5500))).all().get().get(tp);
            var maxTs = admin.listOffsets(Map.of(tp, OffsetSpec.maxTimestamp())).all().get().get(tp);
            check(earliest == 0 && latest == 20, "earliest " + earliest + " latest " + latest);
            check(byTime.offset() == 6 && byTime.timestamp() == t0 + 6000, "by timestamp " + byTime);
            check(maxTs.offset() == 19, "max timestamp " + maxTs);
        });

        scenario("group-commit-resume", () -> {
            String[] conf = {"group.id", "java-group-" + TAG, "auto.offset.reset", "earliest", "enable.auto.commit", "false"};
            int n = 0;
            try (var c = consumer(conf)) {
                c.subscribe(List.of(T));
                long deadline = System.currentTimeMillis() + 30000;
                while (n < sent.size() && System.currentTimeMillis() < deadline) n += c.poll(Duration.ofMillis(500)).count();
                c.commitSync();
            }
            check(n == sent.size(), "group consumed " + n + " of " + sent.size());
            try (var p = producer()) {
                p.send(new ProducerRecord<>(T, 0, "k", "after-restart")).get();
            }
            try (var c = consumer(conf)) {
                c.subscribe(List.of(T));
                List<String> got = new ArrayList<>();
                long deadline = System.currentTimeMillis() + 30000;
                while (got.isEmpty() && System.currentTimeMillis() < deadline) {
                    for (var r : c.poll(Duration.ofMillis(500))) got.add(r.value());
                }
                check(got.equals(List.of("after-restart")), "resumed with " + got);
            }
        });

        scenario("group-split", () -> {
            String[] conf = {"group.id", "java-split-" + TAG, "auto.offset.reset", "earliest"};
            try (var a = consumer(conf); var b = consumer(conf)) {
                a.subscribe(List.of(T));
                b.subscribe(List.of(T));
                long deadline = System.currentTimeMillis() + 60000;
                while (true) {
                    a.poll(Duration.ofMillis(100));
                    b.poll(Duration.ofMillis(100));
                    Set<Integer> pa = new HashSet<>(), pb = new HashSet<>();
                    a.assignment().forEach(tp -> pa.add(tp.partition()));
                    b.assignment().forEach(tp -> pb.add(tp.partition()));
                    Set<Integer> both = new HashSet<>(pa);
                    both.retainAll(pb);
                    Set<Integer> all = new HashSet<>(pa);
                    all.addAll(pb);
                    if (!pa.isEmpty() && !pb.isEmpty() && both.isEmpty() && all.size() == 3) break;
                    check(System.currentTimeMillis() < deadline, "split: " + pa + " " + pb);
                }
            }
        });

        skip("groupless-subscribe", "KafkaConsumer.subscribe needs a group.id");

        scenario("group-consumer-protocol", () -> {
            // KIP-848 (group.protocol=consumer): three members split six partitions, one
            // leaves, the other two take its partitions; every record exactly once.
            String name = "java-kip848-" + TAG;
            admin.createTopics(List.of(new NewTopic(name, 6, (short) 1))).all().get();
            produceAll(name, 600, "kip848a");
            String[] conf = {"group.id", "java-kip848-" + TAG, "group.protocol", "consumer",
                "auto.offset.reset", "earliest", "enable.auto.commit", "false"};
            List<KafkaConsumer<String, String>> cs = new ArrayList<>();
            for (int i = 0; i < 3; i++) cs.add(consumer(conf));
            Map<String, String> seen = new HashMap<>();
            try {
                for (var c : cs) c.subscribe(List.of(name));
                kip848Poll(cs, seen, 2, 600);
                cs.remove(2).close();
                produceAll(name, 300, "kip848b");
                kip848Poll(cs, seen, 3, 900);
            } finally {
                for (var c : cs) c.close();
            }
            check(new HashSet<>(seen.values()).size() == 900, "900 distinct records");
            var committed = admin.listConsumerGroupOffsets("java-kip848-" + TAG).partitionsToOffsetAndMetadata().get();
            long sum = committed.values().stream().mapToLong(OffsetAndMetadata::offset).sum();
            check(committed.size() == 6 && sum == 900, "committed " + committed);
        });

        scenario("idempotent-producer", () -> {
            String name = "java-idem-" + TAG;
            admin.createTopics(List.of(new NewTopic(name, 2, (short) 1))).all().get();
            int before = sent.size();
            produceAll(name, 2000, "idem", "enable.idempotence", "true", "acks", "all");
            check(sent.size() - before == 2000, "2000 acknowledged at distinct offsets");
            var ends = admin.listOffsets(Map.of(new TopicPartition(name, 0), OffsetSpec.latest(), new TopicPartition(name, 1), OffsetSpec.latest())).all().get();
            long total = ends.values().stream().mapToLong(ListOffsetsResult.ListOffsetsResultInfo::offset).sum();
            check(total == 2000, "exactly 2000 in the log, found " + total);
        });

        scenario("message-too-large", () -> {
            String name = "java-big-" + TAG;
            admin.createTopics(List.of(new NewTopic(name, 1, (short) 1))).all().get();
            try (var p = producer("max.request.size", "2000000", "retries", "0")) {
                try {
                    p.send(new ProducerRecord<>(name, "x".repeat(1100 * 1024))).get();
                    throw new AssertionError("a 1.1 MiB record was accepted");
                } catch (ExecutionException e) {
                    check(e.getCause() instanceof RecordTooLargeException, "RecordTooLargeException, got " + e.getCause());
                }
                check(p.send(new ProducerRecord<>(name, "y".repeat(900 * 1024))).get().offset() == 0, "900 KiB accepted");
            }
        });

        scenario("describe-configs", () -> {
            var res = new ConfigResource(ConfigResource.Type.TOPIC, T);
            var cfg = admin.describeConfigs(List.of(res)).all().get().get(res);
            check("1048588".equals(cfg.get("max.message.bytes").value()), "max.message.bytes");
            check(cfg.get("retention.ms").source() == ConfigEntry.ConfigSource.DEFAULT_CONFIG, "retention.ms source");
        });

        scenario("delete-records", () -> {
            var tp = new TopicPartition(T, 0);
            var low = admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(5))).all().get();
            var earliest = admin.listOffsets(Map.of(tp, OffsetSpec.earliest())).all().get().get(tp).offset();
            check(earliest == 5, "log start " + earliest);
        });

        scenario("txn-commit-abort", () -> {
            var name = "java-txn-" + TAG;
            admin.createTopics(List.of(new NewTopic(name, 1, (short) 1))).all().get();
            List<String> expected = new ArrayList<>();
            try (var p = producer("transactional.id", "java-txn-" + TAG)) {
                p.initTransactions();
                int[][] txns = {{100, 1}, {50, 0}, {100, 1}};
                for (int t = 0; t < txns.length; t++) {
                    p.beginTransaction();
                    List<String> values = new ArrayList<>();
                    for (int i = 0; i < txns[t][0]; i++) values.add("t" + t + "-" + i);
                    for (var v : values) p.send(new ProducerRecord<>(name, 0, null, v));
                    if (txns[t][1] == 1) {
                        p.commitTransaction();
                        expected.addAll(values);
                    } else {
                        p.flush();
                        p.abortTransaction();
                    }
                }
            }
            var committed = readValues(name, "read_committed");
            check(committed.equals(expected), "read_committed: " + committed.size() + " records, expected 200 in order");
            check(readValues(name, "read_uncommitted").size() == 250, "read_uncommitted sees all 250");
        });

        scenario("txn-fencing", () -> {
            var name = "java-fence-" + TAG;
            admin.createTopics(List.of(new NewTopic(name, 1, (short) 1))).all().get();
            try (var first = producer("transactional.id", "java-fence-" + TAG);
                 var second = producer("transactional.id", "java-fence-" + TAG)) {
                first.initTransactions();
                first.beginTransaction();
                first.send(new ProducerRecord<>(name, 0, null, "zombie")).get();
                second.initTransactions();
                second.beginTransaction();
                second.send(new ProducerRecord<>(name, 0, null, "winner"));
                second.commitTransaction();
                Exception fenced = null;
                try {
                    first.commitTransaction();
                } catch (Exception e) {
                    fenced = e;
                }
                check(fenced instanceof org.apache.kafka.common.errors.ProducerFencedException
                        || fenced instanceof org.apache.kafka.common.errors.InvalidProducerEpochException,
                        "the fenced producer's commit failed with " + fenced);
            }
            check(readValues(name, "read_committed").equals(List.of("winner")), "only the winner is committed");
        });

        scenario("txn-offsets", () -> {
            var src = "java-eos-in-" + TAG;
            var dst = "java-eos-out-" + TAG;
            var group = "java-eos-" + TAG;
            admin.createTopics(List.of(new NewTopic(src, 1, (short) 1), new NewTopic(dst, 1, (short) 1))).all().get();
            try (var p = producer()) {
                for (int i = 0; i < 100; i++) p.send(new ProducerRecord<>(src, 0, null, "in-" + i));
            }
            try (var c = consumer("group.id", group, "auto.offset.reset", "earliest", "enable.auto.commit", "false",
                         "isolation.level", "read_committed");
                 var p = producer("transactional.id", "java-eos-" + TAG)) {
                c.subscribe(List.of(src));
                p.initTransactions();
                int done = 0;
                long deadline = System.currentTimeMillis() + 60_000;
                while (done < 100) {
                    check(System.currentTimeMillis() < deadline, "timed out after " + done);
                    var recs = c.poll(Duration.ofMillis(500));
                    if (recs.isEmpty()) continue;
                    p.beginTransaction();
                    Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                    for (var r : recs) {
                        p.send(new ProducerRecord<>(dst, 0, null, r.value().replace("in-", "out-")));
                        offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                        done++;
                    }
                    p.sendOffsetsToTransaction(offsets, c.groupMetadata());
                    p.commitTransaction();
                }
            }
            var committed = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            check(committed.get(new TopicPartition(src, 0)).offset() == 100, "committed " + committed);
            var out = new ArrayList<>(readValues(dst, "read_committed"));
            Collections.sort(out);
            List<String> want = new ArrayList<>();
            for (int i = 0; i < 100; i++) want.add("out-" + i);
            Collections.sort(want);
            check(out.equals(want), out.size() + " outputs");
        });

        scenario("alter-config", () -> {
            var name = "java-alter-" + TAG;
            admin.createTopics(List.of(new NewTopic(name, 1, (short) 1))).all().get();
            var res = new ConfigResource(ConfigResource.Type.TOPIC, name);
            admin.incrementalAlterConfigs(Map.of(res, List.of(new AlterConfigOp(new ConfigEntry("retention.ms", "12345"), AlterConfigOp.OpType.SET)))).all().get();
            var entry = admin.describeConfigs(List.of(res)).all().get().get(res).get("retention.ms");
            check("12345".equals(entry.value()) && entry.source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, "read back " + entry);
            Exception refused = null;
            try {
                admin.incrementalAlterConfigs(Map.of(res, List.of(new AlterConfigOp(new ConfigEntry("retention.ms", "not-a-number"), AlterConfigOp.OpType.SET)))).all().get();
            } catch (ExecutionException e) {
                refused = e;
            }
            check(refused != null && refused.getCause() instanceof org.apache.kafka.common.errors.InvalidConfigurationException, "bad value refused: " + refused);
            check("12345".equals(admin.describeConfigs(List.of(res)).all().get().get(res).get("retention.ms").value()), "unchanged");
        });

        // A dynamic broker config through IncrementalAlterConfigs: this broker's value (the
        // resource named by its node id), the cluster default (resource ""), refusals that
        // change nothing, and DELETE of both back to the value found.
        scenario("alter-broker-config", () -> {
            var broker = new ConfigResource(ConfigResource.Type.BROKER, Integer.toString(admin.describeCluster().nodes().get().iterator().next().id()));
            var cluster = new ConfigResource(ConfigResource.Type.BROKER, "");
            var key = "log.retention.ms";
            var before = brokerEntry(admin, broker, key);
            try {
                // Longer than the default: harmless to the other scenarios' topics even for a moment.
                changeConfig(admin, broker, key, "691200000", AlterConfigOp.OpType.SET);
                var e = brokerEntry(admin, broker, key);
                check("691200000".equals(e.value()) && e.source() == ConfigEntry.ConfigSource.DYNAMIC_BROKER_CONFIG && !e.isReadOnly(), "per-broker " + e);
                changeConfig(admin, cluster, key, "777600000", AlterConfigOp.OpType.SET);
                var d = brokerEntry(admin, cluster, key);
                check(d != null && "777600000".equals(d.value()) && d.source() == ConfigEntry.ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG, "cluster default " + d);
                e = brokerEntry(admin, broker, key);
                var layers = e.synonyms().stream().map(s -> s.source() + ":" + s.name() + "=" + s.value()).toList();
                check("691200000".equals(e.value()) && layers.size() >= 2
                        && layers.get(0).equals("DYNAMIC_BROKER_CONFIG:log.retention.ms=691200000")
                        && layers.get(1).equals("DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=777600000"), "the per-broker value wins " + layers);
                for (var bad : List.of(List.of(key, "-5"), List.of("listeners", "PLAINTEXT://127.0.0.1:1"))) {
                    for (var res : List.of(broker, cluster)) {
                        Exception refused = null;
                        try {
                            changeConfig(admin, res, bad.get(0), bad.get(1), AlterConfigOp.OpType.SET);
                        } catch (ExecutionException ex) {
                            refused = ex;
                        }
                        check(refused != null && refused.getCause() instanceof org.apache.kafka.common.errors.InvalidRequestException
                                && refused.getCause().getMessage().contains(bad.get(0)), bad + " on '" + res.name() + "' refused: " + refused);
                    }
                }
                check("691200000".equals(brokerEntry(admin, broker, key).value()), "per-broker value unchanged");
                check("777600000".equals(brokerEntry(admin, cluster, key).value()), "cluster default unchanged");
                changeConfig(admin, broker, key, "", AlterConfigOp.OpType.DELETE);
                e = brokerEntry(admin, broker, key);
                check("777600000".equals(e.value()) && e.source() == ConfigEntry.ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG, "the cluster default after DELETE " + e);
            } finally {
                changeConfig(admin, broker, key, "", AlterConfigOp.OpType.DELETE);
                changeConfig(admin, cluster, key, "", AlterConfigOp.OpType.DELETE);
            }
            var after = brokerEntry(admin, broker, key);
            check(Objects.equals(after.value(), before.value()) && after.source() == before.source(), "reverted " + after + " vs " + before);
            check(brokerEntry(admin, cluster, key) == null, "no cluster default left");
        });

        scenario("describe-log-dirs", () -> {
            int node = admin.describeCluster().nodes().get().iterator().next().id();
            var dirs = admin.describeLogDirs(List.of(node)).allDescriptions().get().get(node);
            check(dirs.size() == 1, "one log dir " + dirs.keySet());
            var dir = dirs.values().iterator().next();
            check(dir.error() == null, "no error " + dir.error());
            check(dir.totalBytes().isPresent() && dir.usableBytes().isPresent(), "volume sizes");
            var info = dir.replicaInfos().get(new TopicPartition(T, 0));
            check(info != null && info.size() > 0 && info.offsetLag() == 0 && !info.isFuture(), "replica " + info);
        });

        scenario("elect-leaders", () -> {
            var tp = new TopicPartition(T, 0);
            var result = admin.electLeaders(org.apache.kafka.common.ElectionType.PREFERRED, Set.of(tp)).partitions().get();
            var err = result.get(tp);
            check(err.isPresent() && err.get() instanceof org.apache.kafka.common.errors.ElectionNotNeededException, "election not needed: " + err);
            var all = admin.electLeaders(org.apache.kafka.common.ElectionType.PREFERRED, null).partitions().get();
            check(all.isEmpty(), "nothing to elect " + all);
        });

        scenario("list-reassignments", () -> {
            check(admin.listPartitionReassignments().reassignments().get().isEmpty(), "none in progress");
            int node = admin.describeCluster().nodes().get().iterator().next().id();
            var tp = new TopicPartition(T, 0);
            admin.alterPartitionReassignments(Map.of(tp, Optional.of(new NewPartitionReassignment(List.of(node))))).all().get();
            Exception refused = null;
            try {
                admin.alterPartitionReassignments(Map.of(tp, Optional.of(new NewPartitionReassignment(List.of(node, 99))))).all().get();
            } catch (ExecutionException e) {
                refused = e;
            }
            check(refused != null && refused.getCause() instanceof org.apache.kafka.common.errors.InvalidReplicaAssignmentException, "unknown broker refused: " + refused);
        });

        scenario("describe-quorum", () -> {
            int node = admin.describeCluster().nodes().get().iterator().next().id();
            var q = admin.describeMetadataQuorum().quorumInfo().get();
            check(q.leaderId() == node && q.leaderEpoch() >= 1, "this node leads: " + q);
            check(q.voters().size() == 1 && q.observers().isEmpty(), "one voter, no observers: " + q);
            var me = q.voters().get(0);
            check(me.replicaId() == node && me.logEndOffset() == q.highWatermark() && q.highWatermark() > 0, "caught up: " + q);
        });

        Secured.runAll();

        admin.close();
        System.exit(failures > 0 ? 1 : 0);
    }

    /** One key of a config resource with its synonyms, or null when the resource does not list it. */
    static ConfigEntry brokerEntry(Admin admin, ConfigResource res, String key) throws Exception {
        return admin.describeConfigs(List.of(res), new DescribeConfigsOptions().includeSynonyms(true)).all().get().get(res).get(key);
    }

    /** One IncrementalAlterConfigs operation on one resource, waited for. */
    static void changeConfig(Admin admin, ConfigResource res, String key, String value, AlterConfigOp.OpType op) throws Exception {
        admin.incrementalAlterConfigs(Map.of(res, List.of(new AlterConfigOp(new ConfigEntry(key, value), op)))).all().get();
    }

    /** Every value of partition 0 of `topic`, from the beginning to the end (at the LSO for read_committed). */
    static List<String> readValues(String topic, String isolation) throws Exception {
        List<String> got = new ArrayList<>();
        try (var c = consumer("isolation.level", isolation)) {
            var tp = new TopicPartition(topic, 0);
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            long end = c.endOffsets(List.of(tp)).get(tp);
            long deadline = System.currentTimeMillis() + 30_000;
            while (c.position(tp) < end) {
                check(System.currentTimeMillis() < deadline, "timed out reading " + topic + " at " + c.position(tp) + " of " + end);
                for (var r : c.poll(Duration.ofMillis(200))) got.add(r.value());
            }
        }
        return got;
    }
}
