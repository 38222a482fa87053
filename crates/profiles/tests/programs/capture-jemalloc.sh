#!/usr/bin/env bash
# Runs leaky.c under Debian's libjemalloc2 with its heap profiler on and
# keeps its dumps, renamed dump-NN.heap in the order jemalloc numbered
# them, in DIR (with truth.txt: what the program printed, and
# jeprof-NN.txt: `jeprof --text --show_bytes` of every dump).
#   bash capture-jemalloc.sh DIR
set -euo pipefail
dir=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
mkdir -p "$dir"
gcc -O1 -g -fno-omit-frame-pointer -o "$work/leaky" "$here/leaky.c"
LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 \
MALLOC_CONF=prof:true,lg_prof_sample:14,lg_prof_interval:23,prof_prefix:$work/jeprof \
	"$work/leaky" 9000 >"$dir/truth.txt"
n=0
for f in $(cd "$work" && ls jeprof.*.i*.heap | sort -t. -k3,3n); do
	n=$((n + 1))
	nn=$(printf %02d $n)
	cp "$work/$f" "$dir/dump-$nn.heap"
	jeprof --text --show_bytes "$work/leaky" "$work/$f" >"$dir/jeprof-$nn.txt" 2>/dev/null
done
rm -rf "$work"
