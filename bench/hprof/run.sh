#!/usr/bin/env bash
# Benchmark of `heapwise heap summary` on a large HPROF dump (docs/performance.md).
# Usage: bench/hprof/run.sh [ITEMS]   (default 2,300,000 items: a dump of about 1 GB)
# Writes the dump once to bench/out/hprof/ (ignored by git), then times heapwise with
# /usr/bin/time -v (wall time and peak RSS).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
items="${1:-2300000}"
out="$root/bench/out/hprof"
mkdir -p "$out"
bin="${HEAPWISE_BIN:-$root/target/release/heapwise}"
if [ ! -x "$bin" ]; then
  (cd "$root" && cargo build --release -p heapwise)
fi
dump="$out/heap-$items.hprof"
if [ ! -f "$dump" ]; then
  javac -d "$out" "$here/MakeHeap.java"
  fifo="$out/stdin"
  rm -f "$fifo"; mkfifo "$fifo"
  java -Xshare:off -Xmx6g -cp "$out" MakeHeap "$items" < "$fifo" > "$out/ready.txt" &
  exec 3>"$fifo"
  until grep -q ready "$out/ready.txt" 2>/dev/null; do sleep 0.5; done
  pid="$(awk '/ready/{print $2}' "$out/ready.txt")"
  jcmd "$pid" GC.heap_dump "$dump" > /dev/null
  exec 3>&-
  wait || true
  rm -f "$fifo"
fi
ls -l "$dump"
for run in 1 2 3; do
  /usr/bin/time -v "$bin" heap summary --format json -o "$out/summary.json" "$dump" 2> "$out/time.txt"
  awk -F': ' '/Elapsed \(wall clock\)/{w=$2} /Maximum resident set size/{r=$2} END{printf "run '"$run"': wall %s, peak RSS %.0f MB\n", w, r/1024}' "$out/time.txt"
done
