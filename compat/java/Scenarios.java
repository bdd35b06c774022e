// Java kafka-clients 3.9 against a broker: every scenario of compat/SCENARIOS.
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

public class Scenarios {
    static int failures = 0;
    static String BS;
    static final String TAG = UUID.randomUUID().toString().substring(0, 6);
    static final String T = "java-" + TAG;
    static final Map<String, String> sent = new TreeMap<>();

    interface Body { void run() throws Exception; }

    static void scenario(String name, Body body) {
        try {
            body.run();
            System.out.println("PASS java " + name);
        } catch (Throwable e) {
            failures++;
            System.out.println("FAIL java " + name + " (" + e.toString().replace('\n', ' ') + ")");
        }
        System.out.flush();
    }

    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    static Properties props(String... kv) {
        Properties p = new Properties();
        p.put("bootstrap.servers", BS);
        for (int i = 0; i < kv.length; i += 2) p.put(kv[i], kv[i + 1]);
        return p;
    }

    static KafkaProducer<String, String> producer(String... kv) {
        return new KafkaProducer<>(props(kv), new StringSerializer(), new StringSerializer());
    }

    static KafkaConsumer<String, String> consumer(String... kv) {
        return new KafkaConsumer<>(props(kv), new StringDeserializer(), new StringDeserializer());
    }

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

    public static void main(String[] args) throws Exception {
        BS = args[0];
        Admin admin = Admin.create(props());

        scenario("metadata", () -> {
            check(admin.describeCluster().nodes().get().size() == 1, "one node");
            check(admin.describeCluster().clusterId().get() != null, "a cluster id");
            admin.createTopics(List.of(new NewTopic(T, 3, (short) 1))).all().get();
            var desc = admin.describeTopics(List.of(T)).allTopicNames().get().get(T);
            check(desc.partitions().size() == 3, "3 partitions");
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

        admin.close();
        System.exit(failures > 0 ? 1 : 0);
    }
}
