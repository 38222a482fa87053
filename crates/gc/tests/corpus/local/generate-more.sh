#!/usr/bin/env bash
# Writes the second set of corpus/local/ logs (see generate.sh for the first,
# which this script leaves alone): OpenJDK 25 (Temurin, where it lies in
# /usr/lib/jvm/temurin-25-jdk-amd64) and OpenJDK 17 with more collectors,
# tags and decorators, Node.js 20 and Go 1.19 with more flags, and long runs
# (thousands of collections) kept gzip-compressed. They are real logs of real
# runs; the numbers differ from run to run, so the committed files are one
# such run each and this script says how they were made. Needs the de_DE and
# fr_FR locales for the decimal-comma logs.
#
#   bash crates/gc/tests/corpus/local/generate-more.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tests=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
javac --release 17 -d . "$tests/java/GcLoad.java"
java25=/usr/lib/jvm/temurin-25-jdk-amd64/bin/java

run() { # JAVA LOCALE FILE-NAME-IN-LOCAL DECORATORS TAGS GC-OPTIONS... -- GcLoad ARGS
    local java=$1 locale=$2 name=$3 decorators=$4 tags=$5
    shift 5
    rm -f "$here/$name"
    LC_ALL=$locale "$java" -Xmx64m -XX:-UsePerfData "-Xlog:$tags:file=$here/$name$decorators" "$@" > /dev/null
}

# OpenJDK 25.
if [ -x "$java25" ]; then
    run "$java25" C.UTF-8 jdk25-g1-gc.log "" gc -XX:+UseG1GC -Xmn8m -cp . GcLoad leak 800
    run "$java25" C.UTF-8 jdk25-g1-gcstar.log "" 'gc*' -XX:+UseG1GC -Xmn8m -cp . GcLoad steady 300
    run "$java25" C.UTF-8 jdk25-parallel-gcstar.log ":uptime,level,tags" 'gc*' -XX:+UseParallelGC -Xmn8m -cp . GcLoad leak 400
    run "$java25" C.UTF-8 jdk25-serial-gc-utctime.log ":utctime,uptimemillis" gc -XX:+UseSerialGC -Xmn8m -cp . GcLoad steady 800
    run "$java25" C.UTF-8 jdk25-zgc-gcstar.log "" 'gc*' -XX:+UseZGC -cp . GcLoad steady 800
    run "$java25" C.UTF-8 jdk25-zgc-gc.log "" gc -XX:+UseZGC -cp . GcLoad leak 800
    run "$java25" C.UTF-8 jdk25-shenandoah-gcstar.log "" 'gc*' -XX:+UseShenandoahGC -cp . GcLoad leak 800
    run "$java25" C.UTF-8 jdk25-shenandoah-generational-gc.log "" gc -XX:+UseShenandoahGC -XX:ShenandoahGCMode=generational -cp . GcLoad steady 800
    run "$java25" de_DE.UTF-8 jdk25-g1-gc-phases-de.log "" gc,gc+phases=debug -XX:+UseG1GC -Xmn8m -cp . GcLoad steady 100
    run "$java25" C.UTF-8 jdk25-g1-gc-heap-exit.log "" gc,gc+heap+exit -XX:+UseG1GC -Xmn8m -cp . GcLoad leak 400
    run "$java25" C.UTF-8 jdk25-g1-gc-cpu.log "" gc,gc+cpu -XX:+UseG1GC -Xmn8m -cp . GcLoad steady 400
    run "$java25" C.UTF-8 jdk25-serial-gcstar.log "" 'gc*' -XX:+UseSerialGC -Xmn8m -cp . GcLoad leak 300
    run "$java25" C.UTF-8 jdk25-parallel-gc-pid-tid.log ":uptimenanos,pid,tid" gc -XX:+UseParallelGC -Xmn8m -cp . GcLoad steady 400
    # -verbose:gc, which JDK 9 and later turn into -Xlog:gc on standard output.
    "$java25" -Xmx64m -XX:+UseG1GC -Xmn8m -verbose:gc -cp . GcLoad leak 400 > "$here/jdk25-g1-verbosegc.log"
    rm -f "$here/long-jdk25-parallel-gc.log"
    run "$java25" C.UTF-8 long-jdk25-parallel-gc.log "" gc -XX:+UseParallelGC -Xmn2m -cp . GcLoad steady 20000
fi

# OpenJDK 17 (the machine's java).
run java C.UTF-8 jdk17-g1-gc-phases.log "" gc,gc+phases=debug -XX:+UseG1GC -Xmn8m -cp . GcLoad leak 100
run java C.UTF-8 jdk17-serial-gc-timemillis.log ":timemillis,uptimemillis,pid" gc -XX:+UseSerialGC -Xmn8m -cp . GcLoad steady 800
run java C.UTF-8 jdk17-parallel-gc-heap-exit.log "" gc,gc+heap+exit -XX:+UseParallelGC -Xmn8m -cp . GcLoad leak 400
run java fr_FR.UTF-8 jdk17-shenandoah-gcstar-fr.log "" 'gc*' -XX:+UseShenandoahGC -cp . GcLoad steady 800
run java C.UTF-8 jdk17-zgc-gc.log "" gc -XX:+UseZGC -cp . GcLoad leak 800
run java C.UTF-8 jdk17-g1-gc-age-trace.log "" gc,gc+age=trace -XX:+UseG1GC -Xmn8m -cp . GcLoad leak 400
run java C.UTF-8 jdk17-g1-gc-no-decorators.log ":none" gc -XX:+UseG1GC -Xmn8m -cp . GcLoad leak 400
run java C.UTF-8 jdk17-parallel-gc-hostname.log ":uptimenanos,hostname,level" gc -XX:+UseParallelGC -Xmn8m -cp . GcLoad steady 400
# -Xlog:gc to standard output, the program's own output after it.
java -Xmx64m -XX:+UseG1GC -Xmn8m -Xlog:gc -cp . GcLoad leak 600 > "$here/jdk17-g1-gc-stdout.log"
# A service started twice with different collectors, both runs in one file.
: > "$here/jdk17-two-collectors.log"
java -Xmx64m -XX:+UseSerialGC -Xmn8m -Xlog:gc -cp . GcLoad steady 400 >> "$here/jdk17-two-collectors.log"
java -Xmx64m -XX:+UseParallelGC -Xmn8m -Xlog:gc -cp . GcLoad leak 400 >> "$here/jdk17-two-collectors.log"
run java C.UTF-8 long-jdk17-g1-gcstar.log "" 'gc*' -XX:+UseG1GC -Xmn2m -cp . GcLoad steady 3000
run java C.UTF-8 long-jdk17-serial-gc.log ":uptime,level,tags" gc -XX:+UseSerialGC -Xmn2m -cp . GcLoad steady 8000

# Node.js.
node --trace-gc-verbose "$tests/scripts/leak.js" 600 > "$here/node-trace-gc-verbose.log"
node --trace-gc --trace-gc-ignore-scavenger "$tests/scripts/leak.js" 4000 > "$here/node-trace-gc-ignore-scavenger.log"
node --trace-gc --expose-gc -e 'for (let i = 0; i < 20; i++) { const a = []; for (let j = 0; j < 20000; j++) a.push({ j }); gc(); }' > "$here/node-trace-gc-forced.log"
# An out-of-memory crash: the trace, then V8's <--- Last few GCs ---> block.
node --trace-gc --max-old-space-size=24 "$tests/scripts/leak.js" 100000 > "$here/node-oom-trace-gc.log" 2>&1 || true
# Two worker isolates beside the main one.
cat > workers.js <<'JS'
const { Worker, isMainThread } = require('worker_threads');
const kept = [];
for (let t = 0; t < 400; t++) {
  for (let i = 0; i < 2000; i++) {
    const o = { i, s: 'x' + i };
    if (i % 50 === 0) kept.push(o);
  }
}
if (isMainThread) {
  new Worker(__filename);
  new Worker(__filename);
}
JS
node --trace-gc workers.js > "$here/node-trace-gc-workers.log"
node --trace-gc-nvp --trace-gc-verbose "$tests/scripts/steady.js" 400 > "$here/node-trace-gc-nvp-verbose.log"
node --trace-gc --max-semi-space-size=1 "$tests/scripts/steady.js" 30000 > "$here/long-node-trace-gc-semi1.log"
node --trace-gc-nvp --max-semi-space-size=1 "$tests/scripts/leak.js" 12000 > "$here/long-node-trace-gc-nvp.log"

# Go (golang-go from Debian).
if command -v go > /dev/null; then
    cp "$here/gcload.go" .
    GOCACHE="$work/cache" go build -o gcload gcload.go
    GOMAXPROCS=1 GODEBUG=gctrace=1 ./gcload leak 2> "$here/go-gctrace-gomaxprocs1.log" > /dev/null
    GODEBUG=gctrace=1,scavtrace=1 ./gcload steady 2> "$here/go-gctrace-scavtrace.log" > /dev/null
    GODEBUG=gctrace=1,gcpacertrace=1 ./gcload leak 2> "$here/go-gctrace-gcpacertrace.log" > /dev/null
    GOGC=50 GODEBUG=gctrace=1 ./gcload leak 2> "$here/go-gctrace-gogc50.log" > /dev/null
    GOGC=off GOMEMLIMIT=48MiB GODEBUG=gctrace=1 ./gcload steady 2> "$here/go-gctrace-gomemlimit.log" > /dev/null
    GOMAXPROCS=2 GODEBUG=gctrace=1 ./gcload leak 800 2> "$here/go-gctrace-gomaxprocs2.log" > /dev/null
    GOGC=10 GODEBUG=gctrace=1 ./gcload steady 20000 2> "$here/long-go-gctrace-gogc10.log" > /dev/null
fi
gzip -9 -n -f "$here"/long-*.log
# heapwise reads .gz transparently: the long logs are kept only compressed.
