// What the Java scenario programs share: the bootstrap address, PASS/FAIL lines in the
// matrix's format, client factories. Scenarios (single node) and Cluster (cluster tier)
// extend it. The same sources run on kafka-clients 3.9 and 4.x (run.sh picks the jars); the
// client's name in the matrix ("java" or "java4") comes from -Dcompat.client.
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.serialization.*;

public class Harness {
    static int failures = 0;
    static String BS;
    /** The matrix column these lines belong to: "java" (3.9) or "java4". */
    static final String CLIENT = System.getProperty("compat.client", "java");
    static final String TAG = UUID.randomUUID().toString().substring(0, 6);

    /** A scenario's body. */
    interface Step { void run() throws Exception; }

    /** A scenario's body that returns a note for the PASS line (or null). */
    interface Noted { String run() throws Exception; }

    static void scenario(String name, Step body) {
        noted(name, () -> {
            body.run();
            return null;
        });
    }

    /** $COMPAT_SCENARIOS: when set, only the scenarios it names run. */
    static final List<String> ONLY = Arrays.asList(
            Optional.ofNullable(System.getenv("COMPAT_SCENARIOS")).orElse("").trim().split("\\s+"));

    static void noted(String name, Noted body) {
        if (!ONLY.get(0).isEmpty() && !ONLY.contains(name)) return;
        try {
            String note = body.run();
            System.out.println("PASS " + CLIENT + " " + name + (note == null ? "" : " (" + note + ")"));
        } catch (Throwable e) {
            failures++;
            String why = e.toString() + (e.getCause() == null ? "" : "; caused by " + e.getCause());
            System.out.println("FAIL " + CLIENT + " " + name + " (" + why.replace('\n', ' ') + ")");
        }
        System.out.flush();
    }

    /** A scenario this client cannot run: a SKIP line with the reason. */
    static void skip(String name, String why) {
        if (!ONLY.get(0).isEmpty() && !ONLY.contains(name)) return;
        System.out.println("SKIP " + CLIENT + " " + name + " (" + why + ")");
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
}
