#!/usr/bin/env bash
# Compiles and runs the Java scenarios. Usage: compat/java/run.sh HOST:PORT [CLASS]
# CLASS: Scenarios (the single-node matrix, default) or Cluster (the cluster tier).
# COMPAT_JAVA=4: the same sources on kafka-clients 4.x (compat/.cache/java4-lib), reported as
# the matrix column java4; otherwise kafka-clients 3.9 (compat/.cache/java-lib), column java.
set -euo pipefail
cd "$(dirname "$0")"
if [ "${COMPAT_JAVA:-3}" = 4 ]; then
    LIB=../.cache/java4-lib OUT=../.cache/java4-classes NAME=java4
else
    LIB=../.cache/java-lib OUT=../.cache/java-classes NAME=java
fi
CP=$(ls "$LIB"/*.jar | tr '\n' ':')
CLASS=${2:-Scenarios}
mkdir -p "$OUT"
javac -nowarn -d "$OUT" -cp "$CP" Harness.java Secured.java "$CLASS.java"
exec java -Dcompat.client="$NAME" -cp "$CP$OUT" "$CLASS" "$1"
