#!/usr/bin/env bash
# Times `heapwise gc` (parse + analysis + JSON) on GC logs of a million lines
# in three formats (Node --trace-gc, JVM -Xlog:gc, Go gctrace), with peak
# memory.
#
# usage: bench/gc/run.sh [LINES]       (default 1000000)
#        HEAPWISE_BIN=path/to/heapwise bench/gc/run.sh   (skip the build)
# Files go to bench/out/gc/ (ignored by git). Run by hand; not part of CI.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
lines="${1:-1000000}"
out="$root/bench/out/gc"
mkdir -p "$out"

if [ -n "${HEAPWISE_BIN:-}" ]; then
  bin="$HEAPWISE_BIN"
else
  echo "== building heapwise (release)"
  (cd "$root" && cargo build --release -p heapwise --quiet)
  bin="${CARGO_TARGET_DIR:-$root/target}/release/heapwise"
fi

measure() { # label, command...
  local label="$1"
  shift
  local log="$out/time-$label.txt"
  if /usr/bin/time -v "$@" >"$out/stdout-$label.txt" 2>"$log"; then
    local wall rss
    wall=$(grep "Elapsed (wall clock)" "$log" | awk '{print $NF}')
    rss=$(grep "Maximum resident set size" "$log" | awk '{print $NF}')
    printf '%-8s wall %-8s peak RSS %5d MB\n' "$label" "$wall" $((rss / 1024))
  else
    echo "$label failed; see $log"
  fi
}

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
