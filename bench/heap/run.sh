#!/usr/bin/env bash
# Times `heapwise heap summary` (parse + dominators + retained sizes) and its
# peak memory on a ~500 MB snapshot of a few million objects, beside memlab's
# snapshot loader on the same file when npm can install it.
#
# usage: bench/heap/run.sh [ITEMS]      (default 2200000 items ≈ 500 MB)
#        HEAPWISE_BIN=path/to/heapwise bench/heap/run.sh   (skip the build)
# Files go to bench/out/heap/ (ignored by git). Run by hand; not part of CI.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
items="${1:-2200000}"
bench_out heap
snapshot="$out/bench-$items.heapsnapshot"

if [ ! -f "$snapshot" ]; then
  echo "== generating $snapshot"
  node --max-old-space-size=12000 "$root/bench/heap/make_snapshot.js" "$snapshot" "$items"
fi
size=$(stat -c %s "$snapshot")
counts=$(head -c 2000 "$snapshot" | grep -o '"node_count":[0-9]*,"edge_count":[0-9]*' || true)
echo "== snapshot: $snapshot ($((size / 1000000)) MB) $counts"

find_heapwise
measure_format='%-10s wall %-10s peak RSS %6d MB\n'

for run in 1 2 3; do
  measure "heapwise$run" "$bin" heap summary --format json -o "$out/summary.json" "$snapshot"
done

memlab_dir="$out/memlab"
if [ ! -x "$memlab_dir/node_modules/.bin/memlab" ]; then
  echo "== installing memlab into $memlab_dir"
  mkdir -p "$memlab_dir"
  # --ignore-scripts: puppeteer would download a browser, which snapshot analysis does not need.
  (cd "$memlab_dir" && npm install --silent --no-audit --no-fund --ignore-scripts memlab >/dev/null 2>&1) || echo "memlab did not install"
fi
if [ -d "$memlab_dir/node_modules/@memlab/heap-analysis" ]; then
  # memlab's own loader (parse, dominators, retained sizes): the work every
  # `memlab analyze` plugin does first. (The memlab CLI itself hung at start-up
  # on this offline machine, even for `memlab version`.)
  measure memlab node --max-old-space-size=16000 "$root/bench/heap/memlab_load.js" \
    "$memlab_dir/node_modules" "$snapshot"
fi
