#!/usr/bin/env bash
# Writes the logs of corpus/local/ with the runtimes of this machine kind:
# OpenJDK 17 (unified logging, several collectors, decorators and locales),
# Node.js (--trace-gc, --trace-gc-nvp) and Go (GODEBUG=gctrace=1, golang-go
# from Debian). They are real logs of real runs; the numbers differ from run
# to run, so the committed files are one such run each and this script says
# how they were made. Needs the de_DE and fr_FR locales (apt-get install
# locales; locale-gen) for the decimal-comma logs.
#
#   bash crates/gc/tests/corpus/local/generate.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tests=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
javac -d . "$tests/java/GcLoad.java"
# The JVM moves an existing log to NAME.0 when it starts: start clean.
rm -f "$here"/unified-*.log "$here"/unified-*.log.[0-9]*

jvm() { # NAME LOCALE JAVA-OPTIONS... -- GcLoad ARGS
    local name=$1 locale=$2
    shift 2
    LC_ALL=$locale java -Xmx64m -XX:-UsePerfData "$@" > /dev/null
}

# Unified logging, one file per run.
jvm g1-gc-de de_DE.UTF-8 -XX:+UseG1GC -Xmn8m "-Xlog:gc:file=$here/unified-g1-gc-de.log" -cp . GcLoad leak 1500
jvm g1-gcstar-fr fr_FR.UTF-8 -XX:+UseG1GC -Xmn8m "-Xlog:gc*:file=$here/unified-g1-gcstar-fr.log:time,uptime,level,tags" -cp . GcLoad steady 300
jvm parallel-gcstar C.UTF-8 -XX:+UseParallelGC -Xmn8m "-Xlog:gc*:file=$here/unified-parallel-gcstar.log:uptimemillis,pid,tid,level,tags" -cp . GcLoad leak 400
jvm serial-gc C.UTF-8 -XX:+UseSerialGC -Xmn8m "-Xlog:gc:file=$here/unified-serial-gc.log:uptimenanos" -cp . GcLoad steady 1500
jvm shenandoah-gc C.UTF-8 -XX:+UseShenandoahGC "-Xlog:gc:file=$here/unified-shenandoah-gc.log" -cp . GcLoad leak 1500
jvm zgc-gcstar de_DE.UTF-8 -XX:+UseZGC "-Xlog:gc*:file=$here/unified-zgc-gcstar-de.log" -cp . GcLoad steady 1500
jvm g1-safepoint C.UTF-8 -XX:+UseG1GC -Xmn8m "-Xlog:gc,safepoint:file=$here/unified-g1-gc-safepoint.log:utctime,level,tags" -cp . GcLoad leak 800

# Two runs of one service appended to one file (java ... >> app.log).
: > "$here/unified-two-runs.log"
for mode in leak steady; do
    java -Xmx64m -Xmn8m -XX:+UseG1GC -Xlog:gc -cp . GcLoad $mode 600 >> "$here/unified-two-runs.log"
done

# A rotated set: gc.log, gc.log.0, gc.log.1 (the JVM's own rotation).
mkdir -p "$here/rotated-unified"
rm -f "$here/rotated-unified/"gc.log*
jvm rotated C.UTF-8 -XX:+UseParallelGC -Xmn8m "-Xlog:gc:file=$here/rotated-unified/gc.log::filecount=3,filesize=16k" -cp . GcLoad steady 6000

# Node.js.
node --trace-gc "$tests/scripts/leak.js" 3000 > "$here/node-trace-gc-leak.log"
node --trace-gc "$tests/scripts/steady.js" 3000 > "$here/node-trace-gc-steady.log"
node --trace-gc-nvp "$tests/scripts/steady.js" 1500 > "$here/node-trace-gc-nvp-steady.log"
: > "$here/node-two-runs.log"
for script in leak steady; do
    node --trace-gc "$tests/scripts/$script.js" 1500 >> "$here/node-two-runs.log"
done

# Go (golang-go from Debian).
if command -v go > /dev/null; then
    cp "$here/gcload.go" .
    GOCACHE="$work/cache" go build -o gcload gcload.go
    GODEBUG=gctrace=1 ./gcload leak 2> "$here/go-gctrace-leak.log" > /dev/null
    GODEBUG=gctrace=1 ./gcload steady 2> "$here/go-gctrace-steady.log" > /dev/null
fi
gzip -9 -n -f "$here/unified-g1-gc-de.log"
# heapwise reads .gz transparently: this one is kept only compressed.
