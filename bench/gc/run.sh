#!/usr/bin/env bash
# Times `heapwise gc` (parse + analysis + JSON) on GC logs of a million lines
# in three formats (Node --trace-gc, JVM -Xlog:gc, Go gctrace), with peak
# memory.
#
# usage: bench/gc/run.sh [LINES]       (default 1000000)
#        HEAPWISE_BIN=path/to/heapwise bench/gc/run.sh   (skip the build)
# Files go to bench/out/gc/ (ignored by git). Run by hand; not part of CI.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
lines="${1:-1000000}"
bench_out gc
find_heapwise

for format in node jvm go; do
  log="$out/$format-$lines.log"
  if [ ! -f "$log" ]; then
    awk -v FORMAT="$format" -v LINES="$lines" -f "$root/bench/gc/make_log.awk" >"$log"
  fi
  size=$(stat -c %s "$log")
  echo "== $format: $log ($(wc -l <"$log") lines, $((size / 1000000)) MB)"
  for run in 1 2 3; do
    measure "$format$run" "$bin" gc --format json -o "$out/report-$format.json" "$log"
  done
  grep -o '"collections": [0-9]*' "$out/report-$format.json" | head -1
done
