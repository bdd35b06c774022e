#!/usr/bin/env bash
# Compiles and runs Elect.java. Usage: compat/java/elect.sh HOST:PORT PREFERRED|UNCLEAN TOPIC PARTITION
set -euo pipefail
cd "$(dirname "$0")"
LIB=../.cache/java-lib
CP=$(ls "$LIB"/*.jar | tr '\n' ':')
OUT=../.cache/java-elect-classes
mkdir -p "$OUT"
[ "$OUT/Elect.class" -nt Elect.java ] || javac -nowarn -d "$OUT" -cp "$CP" Elect.java
exec java -cp "$CP$OUT" Elect "$@"
