#!/usr/bin/env bash
# The CPU that `heapwise watch` itself uses at the default 1 s interval.
#
# Each case watches a process that holds its memory still, headless, for
# SECONDS (default 60), under /usr/bin/time; the figure is
# (user + system CPU) / wall time, as a percentage of one core. The cases run
# at the same time (each one's CPU time is its own).
#
#   hold-256m         one process holding 256 MiB of anonymous memory (typical)
#   hold-256m-listen  the same with --listen: the verdict is re-judged live and
#                     the Prometheus page rendered after every sample
#   hold-1800m        1.8 GiB resident: smaps_rollup (PSS) walks 7x more pages
#   tree-4x64m        --children over a parent and 3 children, 64 MiB each
#
# usage: bench/watch/run.sh [SECONDS]
#        HEAPWISE_BIN=path/to/heapwise bench/watch/run.sh   (skip the build)
# Files go to bench/out/watch/ (ignored by git). Run by hand; not part of CI.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
seconds="${1:-60}"
bench_out watch
find_heapwise
gcc -O2 -o "$out/shape" "$root/crates/cli/tests/watch_programs/shape.c" -lm

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT
start_shape() { # label, shape args...
  local label="$1"
  shift
  SHAPE_SECONDS=$((seconds + 60)) "$out/shape" "$@" >"$out/shape-$label.out" 2>&1 &
  pids+=($!)
}
start_shape hold256 hold 256
hold256=$!
start_shape hold1800 hold 1800
hold1800=$!
start_shape tree tree 3
tree=$!
sleep 1 # let them touch their memory

measure_cpu() { # label, watch arguments...
  local label="$1"
  shift
  /usr/bin/time -f "%U %S %e" -o "$out/time-$label.txt" \
    "$bin" watch --no-tui --interval 1s --duration "${seconds}s" --format json \
    -o "$out/report-$label.json" "$@" 2>"$out/stderr-$label.txt"
}

echo "== watching for ${seconds}s at 1 s intervals"
watchers=()
measure_cpu hold-256m --pid "$hold256" & watchers+=($!)
measure_cpu hold-256m-listen --pid "$hold256" --listen 127.0.0.1:0 & watchers+=($!)
measure_cpu hold-1800m --pid "$hold1800" & watchers+=($!)
measure_cpu tree-4x64m --pid "$tree" --children & watchers+=($!)
wait "${watchers[@]}"

printf '%-18s %8s %8s %8s %9s %s\n' case user_s sys_s wall_s "%core" "samples / PSS reads / slowest PSS read"
for label in hold-256m hold-256m-listen hold-1800m tree-4x64m; do
  read -r user sys wall <"$out/time-$label.txt"
  detail=$(python3 -c "
import json; r = json.load(open('$out/report-$label.json'))
print(len(r['samples']), '/', r['pss']['reads'], '/', '%.2f ms' % (r['pss']['slowest_read_ms'] or 0))")
  awk -v l="$label" -v u="$user" -v s="$sys" -v w="$wall" -v d="$detail" \
    'BEGIN { printf "%-18s %8.2f %8.2f %8.1f %8.3f%% %s\n", l, u, s, w, 100 * (u + s) / w, d }'
done
