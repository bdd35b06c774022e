// AlterPartitionReassignments then ListPartitionReassignments through the Java admin client
// (tests/it/reassignments.rs runs it).
// Usage: java -cp <jars>:. Reassign HOST:PORT TOPIC PARTITION BROKER[,BROKER...]
// Prints "ALTER <outcome>" (NONE or the exception's class), then "LISTED replicas=[..]
// adding=[..] removing=[..]" for the partition, or "LISTED NONE" when nothing is in progress.
import java.util.*;
import java.util.stream.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.common.TopicPartition;

public class Reassign {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", args[0]);
        p.put("request.timeout.ms", "15000");
        p.put("default.api.timeout.ms", "20000");
        TopicPartition tp = new TopicPartition(args[1], Integer.parseInt(args[2]));
        List<Integer> target = Arrays.stream(args[3].split(","))
            .map(Integer::valueOf).collect(Collectors.toList());
        try (Admin admin = Admin.create(p)) {
            String outcome = "NONE";
            try {
                admin.alterPartitionReassignments(
                    Map.of(tp, Optional.of(new NewPartitionReassignment(target)))).all().get();
            } catch (java.util.concurrent.ExecutionException e) {
                outcome = e.getCause().getClass().getSimpleName();
            }
            System.out.println("ALTER " + outcome);
            Map<TopicPartition, PartitionReassignment> listed =
                admin.listPartitionReassignments(Set.of(tp)).reassignments().get();
            PartitionReassignment r = listed.get(tp);
            if (r == null) {
                System.out.println("LISTED NONE");
            } else {
                System.out.println("LISTED replicas=" + r.replicas() + " adding="
                    + r.addingReplicas() + " removing=" + r.removingReplicas());
            }
        }
    }
}
