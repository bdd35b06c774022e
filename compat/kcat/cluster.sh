#!/usr/bin/env bash
# kcat (Debian's 1.7.1 on librdkafka 2.0.2) against a 3-node cluster: the scenarios of
# compat/SCENARIOS-cluster that kcat can express. Usage: compat/kcat/cluster.sh HOST:PORT,...
# kcat has no admin API: topics are auto-created (scripts/compat --cluster sets
# default.replication.factor=3 and num.partitions=3), and its balanced consumer commits
# automatically (no manual commits): the failover scenario commits with auto-commit and on close.
set -uo pipefail
t0=$(date +%s); mark() { echo "kcat: $1 at +$(( $(date +%s) - t0 ))s" >&2; }
BS="$1"
TAG="$$-$RANDOM"
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$TMP"' EXIT
fails=0
pass() { echo "PASS kcat $1${2:+ ($2)}"; }
fail() { echo "FAIL kcat $1 ($2)"; fails=$((fails + 1)); }
err() { grep -v '^%[0-9]|.*|FAIL|' "$TMP/err" | head -c 300 | tr '\n' ' '; }
# kcat -P exits 0 even when deliveries fail: its "% ERROR" lines about a killed broker's
# connection are noise, a "Delivery failed" line is not.
delivered() { ! grep -qi 'delivery failed' "$TMP/err"; }
REPLICAS_PY='
import json, sys
t = json.load(sys.stdin)["topics"][0]
ps = sorted(t["partitions"], key=lambda p: p["partition"])
print(" ".join("%d/%d" % (len(p["replicas"]), len(p["isrs"])) for p in ps))'
replicas() { # topic -> "replicas/isr" sizes per partition, e.g. "3/3 3/3 3/3"
    timeout 20 kcat -b "$BS" -L -J -t "$1" 2>/dev/null | python3 -c "$REPLICAS_PY"
}

# acks=all keyed records into an auto-created RF 3 topic, read back equal.
T="kcat-rf3-$TAG"
for i in $(seq 1 1000); do echo "k$i:v$i"; done >"$TMP/sent"
if timeout 60 kcat -b "$BS" -P -t "$T" -K: -X acks=all <"$TMP/sent" 2>"$TMP/err" && delivered; then
    timeout 60 kcat -b "$BS" -C -t "$T" -o beginning -e -q -f '%k:%s\n' 2>"$TMP/err" | grep . >"$TMP/got"
    r=$(replicas "$T")
    if [ "$(sort "$TMP/sent")" = "$(sort "$TMP/got")" ] && [ "$r" = "3/3 3/3 3/3" ]; then
        pass cluster-produce-consume "1000 records; replicas/ISR $r"
    else
        fail cluster-produce-consume "read $(wc -l <"$TMP/got") of 1000; replicas/ISR '$r'; $(err)"
    fi
else
    fail cluster-produce-consume "$(err)"
fi

# A balanced consumer (auto-commit every 100 ms, and on close) reads a stream; midway the leader
# of partition 0 is killed while an idempotent acks=all producer keeps producing. Every
# acknowledged record is consumed; after the member closes (committing), a new member of the
# group sees only records produced after that.
TF="kcat-fo-$TAG"
G="kcat-fo-$TAG"
PRODUCE=(timeout 90 kcat -b "$BS" -P -t "$TF" -K: -X acks=all -X enable.idempotence=true -X message.timeout.ms=60000)
GROUP=(kcat -b "$BS" -G "$G" "$TF" -X auto.offset.reset=earliest -X auto.commit.interval.ms=100 -q -u -f '%s\n')
seq 1 1000 | sed 's/.*/k&:v&/' | "${PRODUCE[@]}" 2>"$TMP/err"
mark "first half produced"
first_ok=$(delivered && echo 1)
: >"$TMP/group"
timeout 180 "${GROUP[@]}" >"$TMP/group" 2>"$TMP/group.err" &
member=$!
for _ in $(seq 1 600); do [ "$(wc -l <"$TMP/group")" -ge 250 ] && break; sleep 0.1; done
mark "quarter consumed"
killed=$("$COMPAT_FAULT" kill-leader "$TF" 0 2>"$TMP/fault.err")
seq 1001 2000 | sed 's/.*/k&:v&/' | "${PRODUCE[@]}" 2>"$TMP/err"
mark "second half produced"
second_ok=$(delivered && echo 1)
seq 1 2000 | sed 's/^/v/' | sort >"$TMP/want"
for _ in $(seq 1 900); do
    [ -z "$(sort -u "$TMP/group" | comm -23 "$TMP/want" -)" ] && break
    sleep 0.1
done
mark "all consumed"
kill -TERM $member 2>/dev/null; wait $member 2>/dev/null
missing=$(sort -u "$TMP/group" | comm -23 "$TMP/want" - | wc -l)
dups=$(($(wc -l <"$TMP/group") - $(sort -u "$TMP/group" | wc -l)))
# The log itself: every value exactly once (idempotence), whatever the group saw.
mark "member closed"
log=$(timeout 60 kcat -b "$BS" -C -t "$TF" -o beginning -e -q -f '%s\n' 2>/dev/null | sort)
for p in 0 1 2; do echo end | timeout 30 kcat -b "$BS" -P -t "$TF" -p $p -X acks=all 2>/dev/null; done
mark "log read"
again=$(timeout 60 "${GROUP[@]}" -c 3 2>/dev/null | grep -vc '^end$')
mark "restart checked"
restarted=$("$COMPAT_FAULT" restart-all 2>"$TMP/restart.err" && echo 1)
mark "restarted"
if [ -z "$killed" ]; then
    fail cluster-failover-group "fault hook: $(head -c 300 "$TMP/fault.err")"
elif [ -z "$first_ok" ] || [ -z "$second_ok" ]; then
    fail cluster-failover-group "deliveries failed: $(err)"
elif [ "$missing" != 0 ]; then
    fail cluster-failover-group "node $killed killed; $missing acknowledged records never consumed"
elif [ "$log" != "$(cat "$TMP/want")" ]; then
    fail cluster-failover-group "node $killed killed; the log holds $(echo "$log" | wc -l) records, $(echo "$log" | uniq | wc -l) distinct, of 2000"
elif [ "$again" != 0 ]; then
    fail cluster-failover-group "node $killed killed; a restarted member re-read $again processed records"
elif [ -z "$restarted" ]; then
    fail cluster-failover-group "node $killed killed; restart-all: $(tail -c 300 "$TMP/restart.err" | tr '\n' ' ')"
else
    pass cluster-failover-group "node $killed killed; 2000 acked, all consumed, each once in the log; $dups duplicates before commit (auto-commit), 0 after; kcat has no manual commit"
fi

echo "SKIP kcat cluster-admin (kcat has no admin API)"
exit $((fails > 0))
