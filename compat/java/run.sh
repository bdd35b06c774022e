#!/usr/bin/env bash
# Compiles and runs the Java scenarios. Usage: compat/java/run.sh HOST:PORT [CLASS]
# CLASS: Scenarios (the single-node matrix, default) or Cluster (the cluster tier).
set -euo pipefail
cd "$(dirname "$0")"
LIB=../.cache/java-lib
CP=$(ls "$LIB"/*.jar | tr '\n' ':')
OUT=../.cache/java-classes
CLASS=${2:-Scenarios}
mkdir -p "$OUT"
javac -nowarn -d "$OUT" -cp "$CP" Harness.java Secured.java "$CLASS.java"
exec java -cp "$CP$OUT" "$CLASS" "$1"
