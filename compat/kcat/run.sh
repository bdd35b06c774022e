#!/usr/bin/env bash
# kcat (Debian's 1.7.1 on librdkafka 2.0.2) against a broker: every scenario of
# compat/SCENARIOS that kcat can express. Usage: compat/kcat/run.sh HOST:PORT
# The broker must auto-create topics with 3 partitions (scripts/compat starts it so).
set -uo pipefail
BS="$1"
TAG="$$-$RANDOM"
T="kcat-$TAG"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"; kill $(jobs -p) 2>/dev/null' EXIT
fails=0
# $COMPAT_SCENARIOS: when set, only the scenarios it names run (see wanted).
wanted() { [ -z "${COMPAT_SCENARIOS:-}" ] || [[ " $COMPAT_SCENARIOS " == *" $1 "* ]]; }
pass() { wanted "$1" && echo "PASS kcat $1${2:+ ($2)}"; }
fail() { wanted "$1" && { echo "FAIL kcat $1 ($2)"; fails=$((fails + 1)); }; }
skip() { wanted "$1" && echo "SKIP kcat $1 ($2)"; }
err() { head -c 300 "$TMP/err" | tr '\n' ' '; }

if timeout 20 kcat -b "$BS" -L -J >"$TMP/meta" 2>"$TMP/err" && grep -q '"brokers"' "$TMP/meta"; then
    pass metadata
else
    fail metadata "$(err)"
fi

skip admin-create-delete-topic "kcat has no admin API (topics are auto-created on produce)"

lines() { for i in $(seq 1 "$2"); do echo "key-$1-$i:value-$1-$i-$(printf '%0.sx' $(seq 1 $((i % 30))))"; done; }
expected=""
produce() { # name codec count
    local l
    l=$(lines "$1" "$3")
    if printf '%s\n' "$l" | timeout 30 kcat -b "$BS" -P -t "$T" -K: -z "$2" -H "codec=$2" 2>"$TMP/err" && [ ! -s "$TMP/err" ]; then
        expected+="$l"$'\n'
        return 0
    fi
    return 1
}
if produce plain none 1000; then pass produce-keyed-headers; else fail produce-keyed-headers "$(err)"; fi
for codec in gzip snappy lz4 zstd; do
    if produce "$codec" "$codec" 300; then pass "compression-$codec"; else fail "compression-$codec" "$(err)"; fi
done

want=$(printf '%s' "$expected" | wc -l)
got=$(timeout 60 kcat -b "$BS" -C -t "$T" -o beginning -e -q -f '%k:%s|%h\n' 2>"$TMP/err")
if [ "$(printf '%s' "$expected" | sort)" = "$(printf '%s\n' "$got" | sed 's/|codec=[a-z0-9]*$//' | sort)" ] \
    && [ "$(printf '%s\n' "$got" | grep -c '|codec=')" = "$want" ]; then
    pass consume-compare
else
    fail consume-compare "got $(printf '%s\n' "$got" | wc -l) lines, want $want; $(err)"
fi

if wanted fetch-rotation; then
# fetch.max.bytes below one batch (librdkafka raises it to message.max.bytes: lower both) on 4
# partitions: every partition among the first 12 records, and every 20 KB payload intact.
TR="kcat-rot-$TAG"
rot_value() { printf "p$1r$2.%.0s" $(seq 1 4000) | head -c 20000; }
rot_want=""
# kcat cannot create topics and auto-creation makes 3 partitions: the 4-partition topic is made
# by confluent-kafka's admin client (setup only; kcat produces and consumes).
if timeout 30 .venv/bin/python -c 'import sys; from confluent_kafka.admin import AdminClient, NewTopic; a = AdminClient({"bootstrap.servers": sys.argv[1]}); [f.result(30) for f in a.create_topics([NewTopic(sys.argv[2], 4, 1)]).values()]' "$BS" "$TR" 2>"$TMP/err"; then
    for r in $(seq 0 5); do for part in 0 1 2 3; do
        # One kcat a record: one batch per partition and round.
        printf 'p%sr%s:%s\n' "$part" "$r" "$(rot_value "$part" "$r")" | timeout 30 kcat -b "$BS" -P -t "$TR" -p "$part" -K: 2>>"$TMP/err"
        rot_want+="$part p${part}r$r $(rot_value "$part" "$r")"$'\n'
    done; done
    got=$(timeout 60 kcat -b "$BS" -C -t "$TR" -o beginning -c 24 -q -f '%p %k %s\n' \
        -X message.max.bytes=1000 -X fetch.max.bytes=1024 -X max.partition.fetch.bytes=1024 2>>"$TMP/err")
    first=$(printf '%s\n' "$got" | head -12 | cut -d' ' -f1 | sort -u | tr -d '\n')
    order=$(printf '%s\n' "$got" | head -8 | cut -d' ' -f1 | tr '\n' ',')
    if [ "$first" = 0123 ] && [ "$(printf '%s' "$rot_want" | sort)" = "$(printf '%s\n' "$got" | sort)" ]; then
        pass fetch-rotation "first partitions ${order%,}"
    else
        fail fetch-rotation "first 12 from partitions $(printf '%s\n' "$got" | head -12 | cut -d' ' -f1 | tr '\n' ','); $(printf '%s\n' "$got" | wc -l) lines; $(err)"
    fi
else
    fail fetch-rotation "creating $TR: $(err)"
fi
fi

if wanted list-offsets; then
# ListOffsets: earliest, latest, by timestamp (records after a time mark).
TT="kcat-times-$TAG"
seq 1 5 | timeout 30 kcat -b "$BS" -P -t "$TT" -p 0 2>/dev/null
sleep 0.05 # a strictly later timestamp for the next records
mark=$(date +%s%3N)
sleep 0.05
seq 6 8 | timeout 30 kcat -b "$BS" -P -t "$TT" -p 0 2>/dev/null
q=$(timeout 20 kcat -b "$BS" -Q -t "$TT:0:-2" 2>&1; timeout 20 kcat -b "$BS" -Q -t "$TT:0:-1" 2>&1; timeout 20 kcat -b "$BS" -Q -t "$TT:0:$mark" 2>&1)
if [ "$(echo "$q" | awk '{print $NF}' | tr '\n' ' ')" = "0 8 5 " ]; then pass list-offsets; else fail list-offsets "got: $(echo "$q" | tr '\n' ';')"; fi
fi

if wanted group-commit-resume; then
# Balanced consumer group: read everything, commit, then resume after new records only.
G="kcat-group-$TAG"
first=$(timeout 60 kcat -b "$BS" -G "$G" "$T" -X auto.offset.reset=earliest -X auto.commit.interval.ms=100 -c "$want" -q -f '%s\n' 2>"$TMP/err" | wc -l)
printf 'late-1\nlate-2\n' | timeout 30 kcat -b "$BS" -P -t "$T" -p 0
resumed=$(timeout 60 kcat -b "$BS" -G "$G" "$T" -X auto.offset.reset=earliest -c 2 -q -f '%s\n' 2>/dev/null | sort | tr '\n' ' ')
if [ "$first" = "$want" ] && [ "$resumed" = "late-1 late-2 " ]; then
    pass group-commit-resume
else
    fail group-commit-resume "first run $first of $want, then '$resumed'; $(err)"
fi
fi

if wanted group-split; then
# Two members of one group split the three partitions (kcat logs its assignment).
GS="kcat-split-$TAG"
timeout 60 kcat -b "$BS" -G "$GS" "$T" -X auto.offset.reset=latest >/dev/null 2>"$TMP/a" &
timeout 60 kcat -b "$BS" -G "$GS" "$T" -X auto.offset.reset=latest >/dev/null 2>"$TMP/b" &
assigned() { grep 'assigned:' "$1" | tail -1 | grep -o '\[[0-9]*\]' | tr -d '[]' | sort | tr '\n' ' '; }
ok=""
for _ in $(seq 1 600); do
    a=$(assigned "$TMP/a"); b=$(assigned "$TMP/b")
    if [ -n "$a" ] && [ -n "$b" ] && [ "$(echo $a $b | tr ' ' '\n' | sort -u | tr '\n' ' ')" = "0 1 2 " ] \
        && [ "$(echo $a $b | wc -w)" = 3 ]; then ok=1; break; fi
    sleep 0.1
done
kill $(jobs -p) 2>/dev/null; wait 2>/dev/null
if [ -n "$ok" ]; then pass group-split; else fail group-split "member A '$a', member B '$b'"; fi
fi
skip groupless-subscribe "subscribing needs a group id in librdkafka"
skip group-consumer-protocol "Debian's kcat links librdkafka 2.0.2, before KIP-848"

if wanted idempotent-producer; then
TI="kcat-idem-$TAG"
if seq 1 2000 | timeout 30 kcat -b "$BS" -P -t "$TI" -X enable.idempotence=true -X acks=all 2>"$TMP/err" && [ ! -s "$TMP/err" ]; then
    n=$(timeout 60 kcat -b "$BS" -C -t "$TI" -o beginning -e -q -f '%s\n' 2>/dev/null | sort -n | uniq | wc -l)
    total=$(timeout 60 kcat -b "$BS" -C -t "$TI" -o beginning -e -q -f '%s\n' 2>/dev/null | wc -l)
    if [ "$n" = 2000 ] && [ "$total" = 2000 ]; then pass idempotent-producer; else fail idempotent-producer "$total records, $n distinct"; fi
else
    fail idempotent-producer "$(err)"
fi
fi

if wanted message-too-large; then
TB="kcat-big-$TAG"
# A file argument is sent as one record, byte for byte.
head -c $((1100 * 1024)) /dev/zero | tr '\0' 'x' >"$TMP/big"
head -c $((900 * 1024)) /dev/zero | tr '\0' 'y' >"$TMP/ok"
timeout 30 kcat -b "$BS" -P -t "$TB" -p 0 -X message.max.bytes=2000000 "$TMP/big" 2>"$TMP/err"
bigerr=$(cat "$TMP/err")
timeout 30 kcat -b "$BS" -P -t "$TB" -p 0 -X message.max.bytes=2000000 "$TMP/ok" 2>"$TMP/err"
okerr=$(cat "$TMP/err")
stored=$(timeout 30 kcat -b "$BS" -C -t "$TB" -o beginning -e -q -f '%S\n' 2>/dev/null | tr '\n' ' ')
if echo "$bigerr" | grep -qi "too large" && [ -z "$okerr" ] && [ "$stored" = "$((900 * 1024)) " ]; then
    pass message-too-large
else
    fail message-too-large "big: '$(echo "$bigerr" | head -c 150)', ok: '$(echo "$okerr" | head -c 100)', stored sizes: $stored"
fi
fi

source "$(dirname "$0")/secured.sh"

skip describe-configs "kcat has no admin API"
skip delete-records "kcat has no admin API"
skip txn-commit-abort "kcat has no transactional producer API"
skip txn-fencing "kcat has no transactional producer API"
skip txn-offsets "kcat has no transactional producer API"
skip alter-config "kcat has no admin API"
skip alter-broker-config "kcat has no admin API"
skip describe-log-dirs "kcat has no admin API"
skip elect-leaders "kcat has no admin API"
skip list-reassignments "kcat has no admin API"
skip describe-quorum "kcat has no admin API"
exit $((fails > 0))
