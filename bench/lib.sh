# What the bench/*/run.sh scripts share. Source it first:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
#   bench_out gc      # out=bench/out/gc, created
#   find_heapwise     # bin=$HEAPWISE_BIN, or a release build made now
#
# Works from any directory: paths are found from this file, not from the
# current directory (HEAPWISE_BIN, when given, is used as it is).

# The repository's root.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# bench_out NAME: out=bench/out/NAME (ignored by git), created.
bench_out() {
  out="$root/bench/out/$1"
  mkdir -p "$out"
}

# find_heapwise: bin=$HEAPWISE_BIN, or heapwise built in release mode now.
find_heapwise() {
  if [ -n "${HEAPWISE_BIN:-}" ]; then
    bin="$HEAPWISE_BIN"
  else
    echo "== building heapwise (release)"
    (cd "$root" && cargo build --release -p heapwise --quiet)
    bin="${CARGO_TARGET_DIR:-$root/target}/release/heapwise"
  fi
}

# measure LABEL COMMAND...: runs COMMAND under `/usr/bin/time -v` (its output
# in $out/stdout-LABEL.txt, the timing in $out/time-LABEL.txt) and prints one
# line of wall time and peak RSS, laid out by $measure_format (printf: label,
# wall, MB).
measure_format='%-8s wall %-8s peak RSS %5d MB\n'
measure() {
  local label="$1"
  shift
  local log="$out/time-$label.txt"
  if /usr/bin/time -v "$@" >"$out/stdout-$label.txt" 2>"$log"; then
    local wall rss
    wall=$(grep "Elapsed (wall clock)" "$log" | awk '{print $NF}')
    rss=$(grep "Maximum resident set size" "$log" | awk '{print $NF}')
    # shellcheck disable=SC2059 # the format is the point
    printf "$measure_format" "$label" "$wall" $((rss / 1024))
  else
    echo "$label failed; see $log"
  fi
}
