#!/usr/bin/env bash
# Compiles and runs the Java scenarios. Usage: compat/java/run.sh HOST:PORT
set -euo pipefail
cd "$(dirname "$0")"
LIB=../.cache/java-lib
CP=$(ls "$LIB"/*.jar | tr '\n' ':')
OUT=../.cache/java-classes
mkdir -p "$OUT"
javac -nowarn -d "$OUT" -cp "$CP" Scenarios.java
exec java -cp "$CP$OUT" Scenarios "$1"
