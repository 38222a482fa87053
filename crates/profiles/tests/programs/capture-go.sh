#!/usr/bin/env bash
# Takes a series of heap profiles of leaky.go: COUNT profiles, one every
# INTERVAL seconds, at MemProfileRate RATE, into DIR (heap-NN.pb.gz, and
# truth-NN.json right after each: what the program had leaked by then).
#   bash capture-go.sh DIR RATE COUNT INTERVAL
set -euo pipefail
dir=$1 rate=$2 count=$3 interval=$4
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir"
bin=$(mktemp -d)/leaky
go build -o "$bin" "$here/leaky.go"
"$bin" -rate "$rate" -addr 127.0.0.1:6060 &
pid=$!
trap 'kill $pid' EXIT
until curl -sf http://127.0.0.1:6060/truth >/dev/null; do sleep 0.1; done
for i in $(seq -w 1 "$count"); do
	# gc=1: a collection first, so the profile is of this moment (Go's
	# heap profile is otherwise as of the last collection).
	curl -sf -o "$dir/heap-$i.pb.gz" "http://127.0.0.1:6060/debug/pprof/heap?gc=1"
	curl -sf -o "$dir/truth-$i.json" http://127.0.0.1:6060/truth
	[ "$i" = "$count" ] || sleep "$interval"
done
rm -f "$bin"
