#!/usr/bin/env bash
# Compiles and runs the exactly-once loop (Eos.java). Usage: compat/java/eos.sh HOST:PORT N [MAX_POLL [TIMEOUT_S]]
set -euo pipefail
cd "$(dirname "$0")"
LIB=../.cache/java-lib
CP=$(ls "$LIB"/*.jar | tr '\n' ':')
OUT=../.cache/java-eos-classes
mkdir -p "$OUT"
javac -nowarn -d "$OUT" -cp "$CP" Eos.java
exec java -cp "$CP$OUT" Eos "$@"
