// Java kafka-clients (3.9 and 4.x) against a 3-node cluster: the scenarios of compat/SCENARIOS-cluster.
// Usage: java -cp <jars>:. Cluster HOST:PORT,HOST:PORT,HOST:PORT (with $COMPAT_FAULT set by
// scripts/compat --cluster)
import java.time.Duration;
import java.util.*;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Future;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.*;

public class Cluster extends Harness {
    /** The cluster tier's fault hook ($COMPAT_FAULT, see compat/cluster.py); its output. */
    static String fault(String... args) throws Exception {
        String hook = System.getenv("COMPAT_FAULT");
        check(hook != null, "no fault hook: run through scripts/compat --cluster");
        List<String> cmd = new ArrayList<>(List.of(hook));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(p.getInputStream().readAllBytes()).trim();
        check(p.waitFor() == 0, "fault " + String.join(" ", args) + " failed");
        return out;
    }

    static void waitUntil(String what, long ms, java.util.function.BooleanSupplier f) throws Exception {
        long deadline = System.currentTimeMillis() + ms;
        while (!f.getAsBoolean()) {
            check(System.currentTimeMillis() < deadline, "timed out waiting for " + what);
            Thread.sleep(50);
        }
    }

    static void create(Admin admin, String name) throws Exception {
        admin.createTopics(List.of(new NewTopic(name, 3, (short) 3))).all().get();
    }

    public static void main(String[] args) throws Exception {
        BS = args[0];
        Admin admin = Admin.create(props());

        noted("cluster-produce-consume", () -> {
            String name = "java-rf3-" + TAG;
            create(admin, name);
            Map<String, String> acked = new TreeMap<>();
            try (var p = producer("acks", "all", "linger.ms", "5")) {
                List<Future<RecordMetadata>> fs = new ArrayList<>();
                for (int i = 0; i < 1000; i++) fs.add(p.send(new ProducerRecord<>(name, "k" + i, "v" + i)));
                for (int i = 0; i < 1000; i++) {
                    RecordMetadata md = fs.get(i).get();
                    acked.put(md.partition() + "/" + md.offset(), "k" + i + "=v" + i);
                }
            }
            Map<String, String> got = new TreeMap<>();
            try (var c = consumer()) {
                List<TopicPartition> tps = List.of(new TopicPartition(name, 0), new TopicPartition(name, 1), new TopicPartition(name, 2));
                c.assign(tps);
                c.seekToBeginning(tps);
                long deadline = System.currentTimeMillis() + 60_000;
                while (got.size() < acked.size()) {
                    check(System.currentTimeMillis() < deadline, "timed out after " + got.size());
                    for (var r : c.poll(Duration.ofMillis(200))) got.put(r.partition() + "/" + r.offset(), r.key() + "=" + r.value());
                }
            }
            check(got.equals(acked), got.size() + " read, " + acked.size() + " acked");
            return acked.size() + " records";
        });

        // A group consumer commits after every poll; midway the leader of partition 1 is killed
        // (kill -9) while an idempotent acks=all producer keeps producing. Every acknowledged record
        // is consumed, no committed record is consumed twice, and a restarted member of the group
        // sees nothing already processed.
        noted("cluster-failover-group", () -> {
            String name = "java-fo-" + TAG, group = "java-fo-" + TAG;
            create(admin, name);
            int total = 2000;
            Set<String> acked = ConcurrentHashMap.newKeySet();
            List<String> failed = Collections.synchronizedList(new ArrayList<>());
            Map<String, Integer> seen = new HashMap<>();
            Set<String> committed = new HashSet<>();
            List<String> pending = new ArrayList<>(), dupCommitted = new ArrayList<>();
            String killed = null;
            int commitFailures = 0, next = 0;
            String[] cconf = {"group.id", group, "auto.offset.reset", "earliest", "enable.auto.commit", "false"};
            var p = producer("acks", "all", "enable.idempotence", "true", "linger.ms", "5", "delivery.timeout.ms", "60000", "request.timeout.ms", "10000");
            var c = consumer(cconf);
            try {
                c.subscribe(List.of(name));
                List<Future<RecordMetadata>> inflight = new ArrayList<>();
                long deadline = System.currentTimeMillis() + 120_000;
                while (true) {
                    check(System.currentTimeMillis() < deadline, "timed out: " + acked.size() + " acked, " + seen.size() + " consumed");
                    inflight.removeIf(Future::isDone);
                    if (next < total && (next < total / 2 || killed != null) && inflight.size() < 200) {
                        for (int i = next; i < next + 100; i++) {
                            String v = "v" + i;
                            inflight.add(p.send(new ProducerRecord<>(name, "k" + (i % 50), v), (md, e) -> {
                                if (e == null) acked.add(v); else failed.add(e.toString());
                            }));
                        }
                        next += 100;
                    }
                    for (var r : c.poll(Duration.ofMillis(200))) {
                        if (committed.contains(r.value())) dupCommitted.add(r.value());
                        seen.merge(r.value(), 1, Integer::sum);
                        pending.add(r.value());
                    }
                    if (!pending.isEmpty()) {
                        try {
                            c.commitSync();
                            committed.addAll(pending);
                            pending.clear();
                        } catch (KafkaException e) {
                            commitFailures++; // the batch may come again: at-least-once
                        }
                    }
                    if (killed == null && seen.size() >= total / 4) killed = fault("kill-leader", name, "1");
                    if (next >= total && inflight.isEmpty() && seen.keySet().containsAll(acked) && pending.isEmpty()) break;
                }
                c.close();
                int nAcked = acked.size(), dups = 0;
                for (int n : seen.values()) dups += n - 1;
                check(failed.isEmpty(), failed.size() + " sends failed: " + failed.subList(0, Math.min(2, failed.size())));
                check(dupCommitted.isEmpty(), dupCommitted.size() + " committed records consumed again: " + dupCommitted.subList(0, Math.min(3, dupCommitted.size())));
                // A restarted member resumes at the committed offsets: only the new end markers come.
                for (int part = 0; part < 3; part++) p.send(new ProducerRecord<>(name, part, null, "end")).get();
                List<String> again = new ArrayList<>();
                int ends = 0;
                try (var c2 = consumer(cconf)) {
                    c2.subscribe(List.of(name));
                    long until = System.currentTimeMillis() + 60_000;
                    while (ends < 3) {
                        check(System.currentTimeMillis() < until, "timed out: " + ends + " of 3 end markers");
                        for (var r : c2.poll(Duration.ofMillis(200))) {
                            if (r.value().equals("end")) ends++; else again.add(r.value());
                        }
                    }
                }
                check(again.isEmpty(), "a restarted member re-read " + again.size() + " processed records: " + again.subList(0, Math.min(3, again.size())));
                return "node " + killed + " killed; " + nAcked + " acked, all consumed; " + dups + " duplicates before commit, 0 after; " + commitFailures + " failed commits";
            } finally {
                try { c.close(); } catch (Exception e) { /* already closed */ }
                p.close();
                fault("restart-all");
            }
        });

        noted("cluster-admin", () -> {
            String name = "java-adm-" + TAG;
            create(admin, name);
            Set<Integer> leaders = new TreeSet<>();
            waitUntil("3 replicas and an ISR of 3 on every partition", 30_000, () -> {
                try {
                    var d = admin.describeTopics(List.of(name)).allTopicNames().get().get(name);
                    leaders.clear();
                    d.partitions().forEach(pi -> leaders.add(pi.leader().id()));
                    return d.partitions().size() == 3 && d.partitions().stream().allMatch(pi -> pi.replicas().size() == 3 && pi.isr().size() == 3);
                } catch (Exception e) {
                    return false;
                }
            });
            admin.deleteTopics(List.of(name)).all().get();
            waitUntil("the topic to disappear", 30_000, () -> {
                try {
                    return !admin.listTopics().names().get().contains(name);
                } catch (Exception e) {
                    return false;
                }
            });
            return "leaders on nodes " + leaders;
        });

        admin.close();
        System.exit(failures > 0 ? 1 : 0);
    }
}
