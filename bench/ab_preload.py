#!/usr/bin/env python3
"""Two builds of the preload side by side on bench/alloc_bench.c: interleaved rounds (the order
alternates each round), medians of the wall time and of the whole process's CPU time.

    git worktree add /tmp/before REV && (cd /tmp/before && cargo build --release -p heapwise-preload)
    bench/ab_preload.py /tmp/before/target/release/libheapwise_preload.so target/release/libheapwise_preload.so

Run bench/native.py once first (it builds bench/out/native/alloc_bench). Never run in CI.
"""

import argparse
import os
import resource
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "out" / "native" / "alloc_bench"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", help="the first preload (.so)")
    parser.add_argument("after", help="the second preload (.so)")
    parser.add_argument("--pairs", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    if not BENCH.exists():
        raise SystemExit(f"{BENCH} is missing: run bench/native.py once first")
    libs = [("before", args.before), ("after", args.after)]
    results = {(name, t): [] for name, _ in libs for t in args.threads}
    out = ROOT / "bench" / "out" / "ab"
    out.mkdir(parents=True, exist_ok=True)
    for round_ in range(args.rounds):
        for t in args.threads:
            for name, lib in libs if round_ % 2 == 0 else libs[::-1]:
                trace = out / f"{name}-{t}.hwt"
                trace.unlink(missing_ok=True)
                env = dict(os.environ, LD_PRELOAD=str(Path(lib).resolve()), HEAPWISE_OUTPUT=str(trace),
                           HEAPWISE_PARENT=str(os.getpid()))
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                subprocess.run([BENCH, str(t), str(args.pairs)], env=env, check=True, stdout=subprocess.DEVNULL)
                wall = time.perf_counter() - start
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                results[(name, t)].append((wall, cpu))
    print(f"{args.pairs:,} pairs per thread, {args.rounds} interleaved rounds, medians\n")
    print("| threads | preload | wall | CPU |")
    print("|---|---|---|---|")
    for t in args.threads:
        for name, lib in libs:
            walls = [r[0] for r in results[(name, t)]]
            cpus = [r[1] for r in results[(name, t)]]
            print(f"| {t} | {name} ({lib}) | {statistics.median(walls):.3f} s | {statistics.median(cpus):.3f} s |")


if __name__ == "__main__":
    main()
