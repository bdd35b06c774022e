// Java kafka-clients scenarios against a broker: admin create/describe, idempotent produce
// (the Java default) with headers and each codec, consume back by assignment and compare.
// Usage: java -cp <jars>:. Scenarios HOST:PORT
import java.time.Duration;
import java.util.*;
import java.util.concurrent.Future;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.*;

public class Scenarios {
    static int failures = 0;
    static final String BS = System.getenv().getOrDefault("BS", "127.0.0.1:9092");
    static final String TOPIC = "java-" + UUID.randomUUID().toString().substring(0, 8);
    static final Map<String, String> sent = new TreeMap<>();

    interface Body { void run() throws Exception; }

    static void scenario(String name, Body body) {
        try {
            body.run();
            System.out.println("PASS java " + name);
        } catch (Throwable e) {
            failures++;
            System.out.println("FAIL java " + name + " (" + e + ")");
        }
    }

    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    public static void main(String[] args) {
        String bs = args.length > 0 ? args[0] : BS;
        Properties common = new Properties();
        common.put("bootstrap.servers", bs);

        scenario("admin-create-and-describe", () -> {
            try (Admin admin = Admin.create(common)) {
                admin.createTopics(List.of(new NewTopic(TOPIC, 2, (short) 1))).all().get();
                check(admin.listTopics().names().get().contains(TOPIC), "topic listed");
                var desc = admin.describeTopics(List.of(TOPIC)).allTopicNames().get().get(TOPIC);
                check(desc.partitions().size() == 2, "2 partitions");
                var res = new ConfigResource(ConfigResource.Type.TOPIC, TOPIC);
                var cfg = admin.describeConfigs(List.of(res)).all().get().get(res);
                check("1048588".equals(cfg.get("max.message.bytes").value()), "max.message.bytes default");
                check(admin.describeCluster().nodes().get().size() == 1, "one node");
            }
        });

        for (String codec : List.of("none", "gzip", "snappy", "lz4", "zstd")) {
            scenario("idempotent-produce-" + codec, () -> {
                Properties p = new Properties();
                p.putAll(common);
                p.put("compression.type", codec);
                p.put("linger.ms", "5");
                try (var producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
                    List<Future<RecordMetadata>> fs = new ArrayList<>();
                    for (int i = 0; i < 500; i++) {
                        var rec = new ProducerRecord<>(TOPIC, codec + "-k" + i, codec + "-v" + i);
                        rec.headers().add("codec", codec.getBytes());
                        fs.add(producer.send(rec));
                    }
                    for (int i = 0; i < fs.size(); i++) {
                        RecordMetadata md = fs.get(i).get();
                        sent.put(md.partition() + "/" + md.offset(), codec + "-k" + i + "=" + codec + "-v" + i);
                    }
                }
            });
        }

        scenario("consume-roundtrip", () -> {
            Properties c = new Properties();
            c.putAll(common);
            c.put("enable.auto.commit", "false");
            try (var consumer = new KafkaConsumer<>(c, new StringDeserializer(), new StringDeserializer())) {
                var parts = List.of(new TopicPartition(TOPIC, 0), new TopicPartition(TOPIC, 1));
                consumer.assign(parts);
                consumer.seekToBeginning(parts);
                Map<String, String> got = new TreeMap<>();
                long deadline = System.currentTimeMillis() + 30000;
                while (got.size() < sent.size() && System.currentTimeMillis() < deadline) {
                    for (var r : consumer.poll(Duration.ofMillis(500))) {
                        got.put(r.partition() + "/" + r.offset(), r.key() + "=" + r.value());
                    }
                }
                check(sent.size() == 2500, "2500 acknowledged, got " + sent.size());
                check(got.equals(sent), "consumed " + got.size() + " records equal to the " + sent.size() + " produced");
                var end = consumer.endOffsets(parts);
                check(end.values().stream().mapToLong(Long::longValue).sum() == 2500, "end offsets add up");
            }
        });
        scenario("group-commit-and-resume", () -> {
            Properties c = new Properties();
            c.putAll(common);
            c.put("group.id", "java-group-" + TOPIC);
            c.put("auto.offset.reset", "earliest");
            c.put("enable.auto.commit", "false");
            int n = 0;
            try (var consumer = new KafkaConsumer<>(c, new StringDeserializer(), new StringDeserializer())) {
                consumer.subscribe(List.of(TOPIC));
                long deadline = System.currentTimeMillis() + 30000;
                while (n < sent.size() && System.currentTimeMillis() < deadline) {
                    n += consumer.poll(Duration.ofMillis(500)).count();
                }
                consumer.commitSync();
            }
            check(n == sent.size(), "group consumed " + n + " of " + sent.size());
            try (var producer = new KafkaProducer<>(common, new StringSerializer(), new StringSerializer())) {
                producer.send(new ProducerRecord<>(TOPIC, 0, "k", "after-restart")).get();
            }
            try (var consumer = new KafkaConsumer<>(c, new StringDeserializer(), new StringDeserializer())) {
                consumer.subscribe(List.of(TOPIC));
                List<String> got = new ArrayList<>();
                long deadline = System.currentTimeMillis() + 30000;
                while (got.isEmpty() && System.currentTimeMillis() < deadline) {
                    for (var r : consumer.poll(Duration.ofMillis(500))) got.add(r.value());
                }
                check(got.equals(List.of("after-restart")), "resumed with " + got);
            }
        });
        System.exit(failures > 0 ? 1 : 0);
    }
}
