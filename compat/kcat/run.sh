#!/usr/bin/env bash
# kcat scenarios against a broker: metadata, produce keyed records (each codec), consume them
# back. Usage: compat/kcat/run.sh HOST:PORT. One PASS/FAIL line per scenario.
set -uo pipefail
BS="$1"
T="kcat-$$-$RANDOM"
fails=0
pass() { echo "PASS kcat $1"; }
fail() { echo "FAIL kcat $1 ($2)"; fails=$((fails + 1)); }

if timeout 20 kcat -b "$BS" -L -J >/tmp/kcat-meta.$$ 2>&1 && grep -q '"brokers"' /tmp/kcat-meta.$$; then
    pass metadata
else
    fail metadata "$(head -c 300 /tmp/kcat-meta.$$)"
fi

expected=""
for codec in none gzip snappy lz4 zstd; do
    lines=$(for i in $(seq 1 200); do echo "key-$codec-$i:value-$codec-$i-$(printf '%0.sx' $(seq 1 $((i % 30))))"; done)
    if printf '%s\n' "$lines" | timeout 30 kcat -b "$BS" -P -t "$T" -K: -z "$codec" -H "codec=$codec" 2>/tmp/kcat-err.$$; then
        pass "produce-$codec"
        expected+="$lines"$'\n'
    else
        fail "produce-$codec" "$(head -c 300 /tmp/kcat-err.$$)"
    fi
done

got=$(timeout 30 kcat -b "$BS" -C -t "$T" -o beginning -e -q -f '%k:%s\n' 2>/tmp/kcat-err.$$)
if [ "$(printf '%s' "$expected" | sort)" = "$(printf '%s\n' "$got" | sort)" ]; then
    pass consume-roundtrip
else
    fail consume-roundtrip "got $(printf '%s\n' "$got" | wc -l) lines, want $(printf '%s' "$expected" | wc -l); $(head -c 200 /tmp/kcat-err.$$)"
fi

hdr=$(timeout 30 kcat -b "$BS" -C -t "$T" -o beginning -c 1 -q -f '%h' 2>/dev/null)
if [ "$hdr" = "codec=none" ]; then pass headers; else fail headers "got '$hdr'"; fi

# Balanced consumer group: read everything, commit, then resume after new records only.
G="kcat-group-$$"
first=$(timeout 30 kcat -b "$BS" -G "$G" "$T" -X auto.offset.reset=earliest -X enable.auto.commit=true -X auto.commit.interval.ms=100 -c 1000 -q -f '%s\n' 2>/tmp/kcat-err.$$ | wc -l)
if [ "$first" = 1000 ]; then pass group-consume; else fail group-consume "got $first of 1000; $(head -c 200 /tmp/kcat-err.$$)"; fi
printf 'late-1\nlate-2\n' | timeout 30 kcat -b "$BS" -P -t "$T" -p 0
resumed=$(timeout 30 kcat -b "$BS" -G "$G" "$T" -X auto.offset.reset=earliest -c 2 -q -f '%s\n' 2>/dev/null | sort | tr '\n' ' ')
if [ "$resumed" = "late-1 late-2 " ]; then pass group-resume; else fail group-resume "got '$resumed'"; fi

rm -f /tmp/kcat-meta.$$ /tmp/kcat-err.$$
exit $((fails > 0))
