// One ElectLeaders call through the Java admin client (tests/it/elections.rs runs it).
// Usage: java -cp <jars>:. Elect HOST:PORT PREFERRED|UNCLEAN TOPIC PARTITION
// Prints "RESULT TOPIC-PARTITION NONE" or "RESULT TOPIC-PARTITION <exception class>".
import java.util.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.TopicPartition;

public class Elect {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", args[0]);
        p.put("request.timeout.ms", "15000");
        p.put("default.api.timeout.ms", "20000");
        ElectionType type = ElectionType.valueOf(args[1]);
        TopicPartition tp = new TopicPartition(args[2], Integer.parseInt(args[3]));
        try (Admin admin = Admin.create(p)) {
            Map<TopicPartition, Optional<Throwable>> r =
                admin.electLeaders(type, Set.of(tp)).partitions().get();
            Optional<Throwable> e = r.get(tp);
            String outcome = e == null ? "MISSING"
                : e.map(t -> t.getClass().getSimpleName()).orElse("NONE");
            System.out.println("RESULT " + tp + " " + outcome);
        }
    }
}
