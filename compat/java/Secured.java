// The Java client's secured scenarios (one listener each, see scripts/compat): records
// produced and read back through a consumer group over the listener, then a client with a
// wrong password (or, for mTLS, no certificate; for OAUTHBEARER, the unsecured login module's
// token without the scope the listener requires) must fail with the broker's refusal, not wait.
// PEM trust and key material as Kafka clients >= 2.7 take it (ssl.truststore.type=PEM, the
// client key and chain inline in ssl.keystore.key / ssl.keystore.certificate.chain).
import java.nio.file.*;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.serialization.*;

public class Secured extends Harness {
    /** scenario -> the variable holding its listener's address */
    static final Map<String, String> SCENARIOS = new LinkedHashMap<>();
    static {
        SCENARIOS.put("sasl-ssl-scram-sha-512", "COMPAT_SCRAM_BS");
        SCENARIOS.put("ssl-mtls", "COMPAT_SSL_BS");
        SCENARIOS.put("sasl-plaintext-plain", "COMPAT_PLAIN_BS");
        SCENARIOS.put("sasl-plaintext-oauthbearer", "COMPAT_OAUTH_BS");
    }

    static String file(String name) throws Exception {
        return Files.readString(Path.of(System.getenv("COMPAT_SSL_DIR"), name));
    }

    /** The client settings of a scenario; a wrong password or no certificate for the refusal. */
    static Properties settings(String name, String bs, String password, boolean certificate) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", bs);
        if (name.equals("ssl-mtls") || name.startsWith("sasl-ssl")) {
            p.put("ssl.truststore.type", "PEM");
            p.put("ssl.truststore.location", System.getenv("COMPAT_SSL_DIR") + "/ca.pem");
        }
        if (name.equals("ssl-mtls")) {
            p.put("security.protocol", "SSL");
            if (certificate) {
                p.put("ssl.keystore.type", "PEM");
                p.put("ssl.keystore.key", file("client.key"));
                p.put("ssl.keystore.certificate.chain", file("client.crt"));
            }
        } else if (name.endsWith("oauthbearer")) {
            // Kafka's default login callback handler for OAUTHBEARER writes an unsecured JWT
            // (OAuthBearerUnsecuredLoginCallbackHandler); the wrong password drops the scope.
            p.put("security.protocol", "SASL_PLAINTEXT");
            p.put("sasl.mechanism", "OAUTHBEARER");
            String scope = password.equals("wrong-password") ? ""
                    : " unsecuredLoginListClaim_scope=\"|" + System.getenv("COMPAT_OAUTH_SCOPE") + "\"";
            p.put("sasl.jaas.config", "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required"
                    + " unsecuredLoginStringClaim_sub=\"" + System.getenv("COMPAT_SASL_USER") + "\"" + scope + ";");
        } else {
            boolean scram = name.contains("scram");
            p.put("security.protocol", name.startsWith("sasl-ssl") ? "SASL_SSL" : "SASL_PLAINTEXT");
            p.put("sasl.mechanism", scram ? "SCRAM-SHA-512" : "PLAIN");
            String module = scram ? "org.apache.kafka.common.security.scram.ScramLoginModule"
                    : "org.apache.kafka.common.security.plain.PlainLoginModule";
            p.put("sasl.jaas.config", module + " required username=\"" + System.getenv("COMPAT_SASL_USER")
                    + "\" password=\"" + password + "\";");
        }
        return p;
    }

    static String scenario(String name) throws Exception {
        String bs = System.getenv(SCENARIOS.get(name));
        if (bs == null) throw new AssertionError("no listener given ($" + SCENARIOS.get(name) + "): run through scripts/compat");
        String topic = "java-" + name + "-" + TAG;
        Properties ok = settings(name, bs, System.getenv("COMPAT_SASL_PASSWORD"), true);
        Set<String> want = new TreeSet<>();
        try (var p = new KafkaProducer<>(ok, new StringSerializer(), new StringSerializer())) {
            List<java.util.concurrent.Future<RecordMetadata>> fs = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                fs.add(p.send(new ProducerRecord<>(topic, "k" + i, name + "-" + i)));
                want.add("k" + i + "=" + name + "-" + i);
            }
            for (var f : fs) f.get(30, TimeUnit.SECONDS);
        }
        Properties c = (Properties) ok.clone();
        c.put("group.id", topic);
        c.put("auto.offset.reset", "earliest");
        Set<String> got = new TreeSet<>();
        try (var consumer = new KafkaConsumer<>(c, new StringDeserializer(), new StringDeserializer())) {
            consumer.subscribe(List.of(topic));
            long deadline = System.currentTimeMillis() + 60000;
            while (got.size() < want.size() && System.currentTimeMillis() < deadline)
                for (var r : consumer.poll(Duration.ofMillis(200))) got.add(r.key() + "=" + r.value());
            consumer.commitSync();
        }
        check(got.equals(want), "the group read " + got.size() + " of " + want.size() + ": " + got);

        // DescribeCluster over the listener advertises the listener's own address.
        try (Admin admin = Admin.create(ok)) {
            int port = Integer.parseInt(bs.substring(bs.lastIndexOf(':') + 1));
            var nodes = admin.describeCluster().nodes().get(20, TimeUnit.SECONDS);
            check(nodes.stream().allMatch(n -> n.port() == port), "DescribeCluster: " + nodes);
        }

        long start = System.currentTimeMillis();
        Properties bad = settings(name, bs, "wrong-password", false);
        bad.put("request.timeout.ms", "20000");
        bad.put("default.api.timeout.ms", "20000");
        try (Admin refused = Admin.create(bad)) {
            refused.describeCluster().nodes().get(20, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            check(e.getCause() instanceof AuthenticationException, "refused with " + e.getCause());
            return got.size() + " records via a group; refused: " + e.getCause().getClass().getSimpleName()
                    + " in " + String.format("%.1f", (System.currentTimeMillis() - start) / 1000.0) + " s";
        }
        throw new AssertionError("served with wrong credentials");
    }

    static void runAll() {
        for (String name : SCENARIOS.keySet()) noted(name, () -> scenario(name));
    }
}
