#!/usr/bin/env python3
"""Native tracing benchmark: heapwise against the uninstrumented program and heaptrack.

Runs bench/alloc_bench.c (PAIRS malloc/free pairs per thread, sizes 8..135 bytes, three call
levels deep, each block freed 16 allocations later) plain, under heapwise's preload and under
heaptrack, interleaved, for several rounds, with 1 and 2 threads; also sampled
(`heapwise run --sample 512KiB`: HEAPWISE_SAMPLE=524288). Prints the median wall time of each, the
slowdown against the plain run, the sampled run's CPU time against the plain run's, the trace size
per event, and how fast `heapwise report` reads its trace compared with `heaptrack_print` reading
heaptrack's.

    bench/native.py                      # 10 M pairs per thread, 5 rounds (docs: --rounds 7)
    bench/native.py --pairs 2000000 --rounds 3 --threads 1

Results go to stdout and to bench/out/native.md. Benchmarks are never run in CI.
"""

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "native"
# `heapwise run --sample 512KiB`.
SAMPLE_BYTES = 512 * 1024


def run(cmd, env=None, cwd=None):
    """Wall seconds, the CPU seconds of alloc_bench's worker threads (their mean), the CPU seconds
    of everything else the command ran (the tracer's own threads and processes), and how long the
    workers waited for a core (their wall time minus their CPU time, mean)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(map(str, cmd))}\n{result.stderr.decode(errors='replace')}")
    def values(name):
        return [float(v) for line in result.stdout.decode().splitlines()
                if line.startswith(name + " ") for v in line.split()[1:]]
    workers, walls = values("thread_cpu_s"), values("thread_wall_s")
    total = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    waited = statistics.mean(w - c for w, c in zip(walls, workers))
    return elapsed, statistics.mean(workers), total - sum(workers), waited


def timed_with_rss(cmd):
    """Wall seconds and peak RSS (KiB) of a command, through /usr/bin/time."""
    result = subprocess.run(["/usr/bin/time", "-f", "%e %M"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{result.stderr.decode(errors='replace')}")
    wall, rss = result.stderr.decode().strip().splitlines()[-1].split()
    return float(wall), int(rss)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=10_000_000, help="malloc/free pairs per thread")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-build", action="store_true", help="use the existing release build")
    args = parser.parse_args()

    for tool in ("heaptrack", "heaptrack_print", "gcc"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed (apt-get install heaptrack gcc)")
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "heapwise", "-p", "heapwise-preload"], cwd=ROOT, check=True)
    heapwise = ROOT / "target" / "release" / "heapwise"
    preload = ROOT / "target" / "release" / "libheapwise_preload.so"
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    bench = OUT / "alloc_bench"
    subprocess.run(["gcc", "-O2", "-g", "-pthread", "-o", bench, ROOT / "bench" / "alloc_bench.c"], check=True)

    lines = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    say(f"# Native tracing benchmark\n")
    say(f"{args.pairs:,} malloc/free pairs per thread, {args.rounds} interleaved rounds, medians. "
        f"Machine: {os.cpu_count()} cores; `{' '.join(sys.argv)}`.\n")
    say("| threads | plain | heapwise | heaptrack | heapwise slowdown | heaptrack slowdown | heapwise / heaptrack | "
        "heapwise without spill file | spill file's cost | heapwise --sample 512KiB | its CPU / plain |")
    say("|---|---|---|---|---|---|---|---|---|---|---|")
    sizes = {}
    cpu_by_threads = {}
    for threads in args.threads:
        # "volatile": the same preload with its buffers in private memory
        # (HEAPWISE_SPILL_DIR=none), to show what crash safety costs.
        # "sampled": the same preload sampling (HEAPWISE_SAMPLE), as `heapwise run --sample 512KiB`.
        times = {"plain": [], "heapwise": [], "heaptrack": [], "volatile": [], "sampled": []}
        cpu = {tool: [] for tool in times}
        for round_ in range(args.rounds):
            order = list(times)
            random.shuffle(order)
            for tool in order:
                base = [str(bench), str(threads), str(args.pairs)]
                if tool == "plain":
                    wall, per_thread, other, waited = run(base)
                elif tool in ("heapwise", "volatile", "sampled"):
                    name = {"heapwise": "hw", "volatile": "vol", "sampled": "smp"}[tool]
                    trace = OUT / f"{name}-{threads}-{round_}.hwt"
                    env = dict(os.environ, LD_PRELOAD=str(preload), HEAPWISE_OUTPUT=str(trace), HEAPWISE_PARENT=str(os.getpid()))
                    env.pop("HEAPWISE_SAMPLE", None)
                    if tool == "volatile":
                        env["HEAPWISE_SPILL_DIR"] = "none"
                    if tool == "sampled":
                        env["HEAPWISE_SAMPLE"] = str(SAMPLE_BYTES)
                    wall, per_thread, other, waited = run(base, env=env)
                    sizes[(tool, threads)] = trace.stat().st_size
                else:
                    prefix = OUT / f"ht-{threads}-{round_}"
                    wall, per_thread, other, waited = run(["heaptrack", "-o", str(prefix)] + base)
                    sizes[("heaptrack", threads)] = Path(f"{prefix}.zst").stat().st_size
                times[tool].append(wall)
                cpu[tool].append((per_thread, other, waited))
        med = {tool: statistics.median(values) for tool, values in times.items()}
        # Whole-process CPU time: the workers' own and everything else's.
        cpu_total = {tool: statistics.median(threads * w + o for w, o, _ in values) for tool, values in cpu.items()}
        say(f"| {threads} | {med['plain']:.3f} s | {med['heapwise']:.3f} s | {med['heaptrack']:.3f} s | "
            f"{med['heapwise'] / med['plain']:.1f}× | {med['heaptrack'] / med['plain']:.1f}× | "
            f"{med['heapwise'] / med['heaptrack']:.2f} | {med['volatile']:.3f} s | "
            f"{(med['heapwise'] / med['volatile'] - 1) * 100:+.1f} % | {med['sampled']:.3f} s | "
            f"{cpu_total['sampled'] / cpu_total['plain']:.2f}× |")
        cpu_by_threads[threads] = {tool: tuple(statistics.median(v[i] for v in values) for i in range(3))
                                   for tool, values in cpu.items()}

    say("\nCPU time, medians: per program thread (each worker's own clock), of everything else "
        "(the tracer's threads and processes), and how long each worker waited for a core or a lock "
        "(its wall time minus its CPU time):\n")
    say("| threads | plain per thread | heapwise per thread | heapwise other | heapwise waited | "
        "heaptrack per thread | heaptrack other | heaptrack waited | sampled per thread | sampled other |")
    say("|---|---|---|---|---|---|---|---|---|---|")
    for threads, c in cpu_by_threads.items():
        say(f"| {threads} | {c['plain'][0]:.3f} s | {c['heapwise'][0]:.3f} s | {c['heapwise'][1]:.3f} s | "
            f"{c['heapwise'][2]:.3f} s | {c['heaptrack'][0]:.3f} s | {c['heaptrack'][1]:.3f} s | "
            f"{c['heaptrack'][2]:.3f} s | {c['sampled'][0]:.3f} s | {c['sampled'][1]:.3f} s |")

    say("\n| threads | events | heapwise trace | bytes/event | heaptrack trace | bytes/event | ratio |")
    say("|---|---|---|---|---|---|---|")
    for threads in args.threads:
        events = 2 * args.pairs * threads
        hw, ht = sizes[("heapwise", threads)], sizes[("heaptrack", threads)]
        say(f"| {threads} | {events:,} | {hw / 1e6:.1f} MB | {hw / events:.2f} | {ht / 1e6:.1f} MB | {ht / events:.2f} | {hw / ht:.2f} |")

    say("\nAnalysis of the first round's traces (JSON report against heaptrack_print), median of 5 "
        "interleaved runs:\n")
    say("| threads | events | reader | wall | events/s | peak RSS |")
    say("|---|---|---|---|---|---|")
    ratios = []
    for threads in args.threads:
        events = 2 * args.pairs * threads
        commands = {
            "heapwise report": [str(heapwise), "report", "--format", "json", str(OUT / f"hw-{threads}-0.hwt")],
            "heaptrack_print": ["heaptrack_print", str(OUT / f"ht-{threads}-0.zst")],
        }
        reads = {tool: [] for tool in commands}
        rss = {tool: 0 for tool in commands}
        for _ in range(5):
            for tool, command in commands.items():
                wall, peak = timed_with_rss(command)
                reads[tool].append(wall)
                rss[tool] = max(rss[tool], peak)
        for tool, values in reads.items():
            wall = statistics.median(values)
            say(f"| {threads} | {events:,} | {tool} | {wall:.2f} s | {events / wall / 1e6:.1f} M | {rss[tool] / 1024:.0f} MiB |")
        ratios.append((threads, statistics.median(reads["heaptrack_print"]) / statistics.median(reads["heapwise report"])))
    say("")
    for threads, ratio in ratios:
        say(f"{threads} thread(s): `heapwise report` is {ratio:.1f}× as fast as `heaptrack_print`.")
    (OUT.parent / "native.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
