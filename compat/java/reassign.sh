#!/usr/bin/env bash
# Compiles and runs Reassign.java. Usage: compat/java/reassign.sh HOST:PORT TOPIC PARTITION BROKER[,BROKER...]
set -euo pipefail
cd "$(dirname "$0")"
LIB=../.cache/java-lib
CP=$(ls "$LIB"/*.jar | tr '\n' ':')
OUT=../.cache/java-reassign-classes
mkdir -p "$OUT"
[ "$OUT/Reassign.class" -nt Reassign.java ] || javac -nowarn -d "$OUT" -cp "$CP" Reassign.java
exec java -cp "$CP$OUT" Reassign "$@"
