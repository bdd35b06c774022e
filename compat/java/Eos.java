// The Java client's exactly-once consume-transform-produce loop, meant to survive the broker being
// killed and restarted while it runs (scripts/eos-kill drives it).
// Usage: java -cp <jars>:. Eos HOST:PORT N [MAX_POLL_RECORDS [TIMEOUT_SECONDS]]
//
// Writes N keyed records "in-<i>" to a fresh 3-partition input topic (idempotent producer), then
// consumes them (group, read_committed, no auto commit) and, per poll, in one transaction: sends
// "out-<i>" with the same key to the output topic and commits the consumed offsets
// (sendOffsetsToTransaction). On an abortable error it aborts, on a fatal one (or a failed abort)
// it closes the producer and makes a new one with the same transactional.id; either way it then
// seeks the consumer back to the group's committed offsets — the standard EOS recovery pattern.
// Prints "progress <committed records>" after every commit, "recover ..." on every recovery, and
// at the end checks that read_committed from the beginning of the output gives exactly
// {"out-0".."out-<N-1>"}, each once, and that the group's committed offsets equal the input's end
// offsets: "EOS PASS n=<N> ..." (exit 0) or "EOS FAIL <reason>" (exit 1).
import java.time.Duration;
import java.util.*;
import java.util.concurrent.Future;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.*;
import org.apache.kafka.common.serialization.*;

public class Eos {
    static String BS;
    static long deadline;
    static int aborts = 0, producerRestarts = 0, commits = 0;

    static Properties props(String... kv) {
        Properties p = new Properties();
        p.put("bootstrap.servers", BS);
        // Come back quickly once the broker is back.
        p.put("reconnect.backoff.ms", "20");
        p.put("reconnect.backoff.max.ms", "200");
        p.put("retry.backoff.ms", "50");
        p.put("retry.backoff.max.ms", "500");
        for (int i = 0; i < kv.length; i += 2) p.put(kv[i], kv[i + 1]);
        return p;
    }

    static void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static void fail(String why) {
        say("EOS FAIL " + why);
        System.exit(1);
    }

    static void checkDeadline(String doing) {
        if (System.currentTimeMillis() > deadline) fail("timed out " + doing);
    }

    static KafkaProducer<String, String> txnProducer(String txnId) {
        while (true) {
            checkDeadline("initialising the transactional producer");
            var p = new KafkaProducer<>(props("transactional.id", txnId, "acks", "all", "enable.idempotence", "true",
                    "max.block.ms", "5000", "request.timeout.ms", "3000", "delivery.timeout.ms", "8000",
                    "transaction.timeout.ms", "20000", "linger.ms", "1"),
                    new StringSerializer(), new StringSerializer());
            try {
                p.initTransactions();
                return p;
            } catch (KafkaException e) {
                say("recover init-failed " + e);
                p.close(Duration.ZERO);
            }
        }
    }

    /** Seeks every assigned partition back to the group's committed offset; records them in `done`. */
    static void rewind(KafkaConsumer<String, String> c, Map<TopicPartition, Long> done) {
        while (true) {
            checkDeadline("fetching the committed offsets");
            try {
                Set<TopicPartition> assigned = c.assignment();
                var committed = c.committed(assigned, Duration.ofSeconds(10));
                for (var tp : assigned) {
                    var om = committed.get(tp);
                    if (om != null) {
                        c.seek(tp, om.offset());
                        done.put(tp, om.offset());
                    } else {
                        c.seekToBeginning(List.of(tp));
                    }
                }
                return;
            } catch (KafkaException e) {
                say("recover committed-failed " + e);
            }
        }
    }

    static long sum(Map<TopicPartition, Long> m) {
        return m.values().stream().mapToLong(Long::longValue).sum();
    }

    public static void main(String[] args) throws Exception {
        BS = args[0];
        int n = Integer.parseInt(args[1]);
        String maxPoll = args.length > 2 ? args[2] : "50";
        long timeoutMs = (args.length > 3 ? Long.parseLong(args[3]) : 300) * 1000L;
        long t0 = System.currentTimeMillis();
        deadline = t0 + timeoutMs;
        String tag = UUID.randomUUID().toString().substring(0, 6);
        String in = "eos-in-" + tag, out = "eos-out-" + tag, group = "eos-group-" + tag, txnId = "eos-txn-" + tag;

        Map<TopicPartition, Long> inputEnds = new HashMap<>();
        try (Admin admin = Admin.create(props())) {
            admin.createTopics(List.of(new NewTopic(in, 3, (short) 1), new NewTopic(out, 3, (short) 1))).all().get();
            try (var p = new KafkaProducer<>(props("enable.idempotence", "true", "acks", "all", "linger.ms", "5"),
                    new StringSerializer(), new StringSerializer())) {
                List<Future<RecordMetadata>> fs = new ArrayList<>();
                for (int i = 0; i < n; i++) fs.add(p.send(new ProducerRecord<>(in, "k" + i, "in-" + i)));
                for (var f : fs) f.get();
            }
            Map<TopicPartition, OffsetSpec> spec = new HashMap<>();
            for (int i = 0; i < 3; i++) spec.put(new TopicPartition(in, i), OffsetSpec.latest());
            admin.listOffsets(spec).all().get().forEach((tp, info) -> inputEnds.put(tp, info.offset()));
        }
        if (sum(inputEnds) != n) fail("the input holds " + sum(inputEnds) + " records, not " + n);
        say("produced " + n + " in " + (System.currentTimeMillis() - t0) + " ms");

        long t1 = System.currentTimeMillis();
        Map<TopicPartition, Long> done = new HashMap<>();
        inputEnds.keySet().forEach(tp -> done.put(tp, 0L));
        try (var c = new KafkaConsumer<>(props("group.id", group, "isolation.level", "read_committed",
                "enable.auto.commit", "false", "auto.offset.reset", "earliest", "max.poll.records", maxPoll),
                new StringDeserializer(), new StringDeserializer())) {
            c.subscribe(List.of(in));
            var p = txnProducer(txnId);
            while (!done.equals(inputEnds)) {
                checkDeadline("processing at " + sum(done) + " of " + n);
                var recs = c.poll(Duration.ofMillis(200));
                if (recs.isEmpty()) continue;
                Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                try {
                    p.beginTransaction();
                    for (var r : recs) {
                        p.send(new ProducerRecord<>(out, r.key(), r.value().replace("in-", "out-")));
                        offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                    }
                    p.sendOffsetsToTransaction(offsets, c.groupMetadata());
                    p.commitTransaction();
                } catch (ProducerFencedException | InvalidProducerEpochException | OutOfOrderSequenceException
                         | UnsupportedVersionException | AuthorizationException | IllegalStateException e) {
                    say("recover new-producer after " + e);
                    p.close(Duration.ZERO);
                    p = txnProducer(txnId);
                    producerRestarts++;
                    rewind(c, done);
                    continue;
                } catch (KafkaException e) {
                    say("recover abort after " + e);
                    try {
                        p.abortTransaction();
                        aborts++;
                    } catch (KafkaException | IllegalStateException e2) {
                        // IllegalStateException: a commitTransaction that timed out must be retried, not aborted.
                        say("recover new-producer after the abort failed: " + e2);
                        p.close(Duration.ZERO);
                        p = txnProducer(txnId);
                        producerRestarts++;
                    }
                    rewind(c, done);
                    continue;
                }
                commits++;
                offsets.forEach((tp, om) -> done.put(tp, om.offset()));
                say("progress " + sum(done));
            }
            p.close(Duration.ofSeconds(5));
        }
        long processMs = System.currentTimeMillis() - t1;

        // Verify: the committed output is exactly {out-0..out-(n-1)}, each once, with its input's key.
        List<String> values = new ArrayList<>();
        long uncommitted = 0;
        for (String isolation : List.of("read_committed", "read_uncommitted")) {
            try (var c = new KafkaConsumer<>(props("isolation.level", isolation), new StringDeserializer(), new StringDeserializer())) {
                List<TopicPartition> parts = new ArrayList<>();
                for (var pi : c.partitionsFor(out)) parts.add(new TopicPartition(out, pi.partition()));
                c.assign(parts);
                c.seekToBeginning(parts);
                var ends = c.endOffsets(parts);
                while (parts.stream().anyMatch(tp -> c.position(tp) < ends.get(tp))) {
                    checkDeadline("reading the output (" + isolation + ")");
                    for (var r : c.poll(Duration.ofMillis(200))) {
                        if (isolation.equals("read_uncommitted")) {
                            uncommitted++;
                        } else if (!r.value().equals("out-" + r.key().substring(1))) {
                            fail("key " + r.key() + " carries " + r.value());
                        } else {
                            values.add(r.value());
                        }
                    }
                }
            }
        }
        Set<String> got = new HashSet<>(values);
        Set<String> want = new HashSet<>();
        for (int i = 0; i < n; i++) want.add("out-" + i);
        Set<String> missing = new TreeSet<>(want);
        missing.removeAll(got);
        Set<String> extra = new TreeSet<>(got);
        extra.removeAll(want);
        int duplicates = values.size() - got.size();
        if (!missing.isEmpty() || !extra.isEmpty() || duplicates != 0) {
            fail("read_committed output: " + values.size() + " records, " + duplicates + " duplicates, missing "
                    + missing.size() + " " + String.join(",", missing.stream().limit(10).toList())
                    + ", unexpected " + extra.size());
        }
        try (Admin admin = Admin.create(props())) {
            Map<TopicPartition, Long> committed = new HashMap<>();
            admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get()
                    .forEach((tp, om) -> committed.put(tp, om.offset()));
            if (!committed.equals(inputEnds)) fail("committed offsets " + committed + " != input ends " + inputEnds);
        }
        say("EOS PASS n=" + n + " transactions=" + commits + " aborts=" + aborts + " producer-restarts=" + producerRestarts
                + " uncommitted-output=" + uncommitted + " process-ms=" + processMs
                + " total-ms=" + (System.currentTimeMillis() - t0));
        System.exit(0);
    }
}
