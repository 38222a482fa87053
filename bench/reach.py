#!/usr/bin/env python3
"""The reachability scan at exit on a large heap: bench/reach_bench.c builds BLOCKS blocks of
16-192 bytes (10,000,000 by default: about 1 GiB), in chains of 100 linked through their first
word with a back pointer in their second (every 100th chain lost), or, with `dense`, with every
word a pointer to a block; it exits under `heapwise run`, which replays the trace, stops the
program, copies its writable memory and scans it. Prints, per round, from the report's
`reachability_scan` and `summary.reachability`: how long the program was held stopped (copy,
scan, detach), the scan alone, how long it waited at exit in all (the trace's replay first),
the bytes copied and scanned, the four totals, and heapwise's own peak memory (VmHWM, polled).
With --check N it also runs valgrind on a heap of N blocks: its four totals must be heapwise's.

    bench/reach.py                              # 10,000,000 blocks, chains then dense, 3 rounds
    bench/reach.py --blocks 1000000 --rounds 5
    bench/reach.py --check 20000                # and valgrind's totals on 20,000 blocks

Results go to stdout and to bench/out/reach.md. Benchmarks are never run in CI.
"""

import argparse
import json
import os
import statistics
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "reach"
KINDS = ["definitely_lost", "indirectly_lost", "possibly_lost", "still_reachable"]


def build():
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "heapwise", "-p", "heapwise-preload"],
                   cwd=ROOT, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    OUT.mkdir(parents=True, exist_ok=True)
    bench = OUT / "reach_bench"
    subprocess.run(["gcc", "-O2", "-g", "-o", str(bench), str(ROOT / "bench" / "reach_bench.c")], check=True)
    return target / "release" / "heapwise", bench


def peak_memory(pid, done, seen):
    """Polls VmHWM of `pid` (heapwise itself) until `done`."""
    while not done.is_set():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    seen[0] = max(seen[0], int(line.split()[1]) * 1024)
        except (FileNotFoundError, ProcessLookupError):
            pass
        time.sleep(0.02)


def traced(heapwise, bench, blocks, mode):
    trace = OUT / f"reach-{mode}.hwt"
    started = time.monotonic()
    proc = subprocess.Popen([str(heapwise), "run", "--no-tui", "-o", str(trace), "--", str(bench), str(blocks), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done, seen = threading.Event(), [0]
    poller = threading.Thread(target=peak_memory, args=(proc.pid, done, seen))
    poller.start()
    out, err = proc.communicate()
    done.set()
    poller.join()
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"heapwise run failed ({proc.returncode}): {err}")
    report = json.loads(subprocess.run([str(heapwise), "report", "--format", "json", str(trace)],
                                       capture_output=True, text=True, check=True).stdout)
    trace.unlink()
    return out.strip(), wall, seen[0], report


def valgrind_totals(bench, blocks, mode):
    err = subprocess.run(["valgrind", "--leak-check=summary", "--run-libc-freeres=no", "--run-cxx-freeres=no",
                          str(bench), str(blocks), mode], capture_output=True, text=True).stderr
    totals = []
    for label in ["definitely lost:", "indirectly lost:", "possibly lost:", "still reachable:"]:
        line = next(l for l in err.splitlines() if label in l)
        numbers = [int(w.replace(",", "")) for w in line.split(label)[1].split() if w.replace(",", "").isdigit()]
        totals.append((numbers[0], numbers[1]))
    return totals


def heapwise_totals(report):
    r = report["summary"]["reachability"]
    return [(r[k]["bytes"], r[k]["blocks"]) for k in KINDS]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=["chains", "dense"])
    parser.add_argument("--check", type=int, default=0, metavar="N",
                        help="also compare with valgrind on a heap of N blocks")
    args = parser.parse_args()
    heapwise, bench = build()
    lines = [f"# Reachability scan at exit, {args.blocks:,} blocks, {args.rounds} rounds", ""]
    header = ("| mode | heap | copied | roots scanned | blocks scanned | held | scan | waited | heapwise peak |"
              " definitely | indirectly | possibly | still reachable |")
    lines += [header, "|" + "---|" * 13]
    for mode in args.modes:
        rounds = []
        for _ in range(args.rounds):
            said, wall, peak, report = traced(heapwise, bench, args.blocks, mode)
            scan = report["reachability_scan"]
            assert scan["scanned"], scan
            rounds.append((scan, peak, heapwise_totals(report), report["summary"]))
            print(f"{mode}: {said}; held {scan['held_s']:.3f} s, scan {scan['scan_s']:.3f} s, "
                  f"waited {scan['waited_s']:.3f} s, run {wall:.1f} s", flush=True)
        median = lambda key: statistics.median(r[0][key] for r in rounds)
        scan, peak, totals, summary = rounds[0]
        gib = lambda b: f"{b / 2**30:.2f} GiB"
        kinds = " | ".join(f"{b:,} B in {n:,}" for b, n in totals)
        lines.append(f"| {mode} | {gib(summary['leaked_bytes'])} in {summary['leaked_allocations']:,} blocks | "
                     f"{gib(scan['copied_bytes'])} | {gib(scan['root_bytes'])} | {gib(scan['block_bytes'])} | "
                     f"{median('held_s'):.2f} s | {median('scan_s'):.2f} s | {median('waited_s'):.2f} s | "
                     f"{gib(max(r[1] for r in rounds))} | {kinds} |")
    if args.check:
        lines += ["", f"valgrind on {args.check:,} blocks (`--run-libc-freeres=no --run-cxx-freeres=no`):", ""]
        for mode in args.modes:
            _, _, _, report = traced(heapwise, bench, args.check, mode)
            ours, theirs = heapwise_totals(report), valgrind_totals(bench, args.check, mode)
            lines.append(f"- {mode}: heapwise {ours}, valgrind {theirs}: {'equal' if ours == theirs else 'DIFFERENT'}")
    text = "\n".join(lines) + "\n"
    print(text)
    (OUT.parent / "reach.md").write_text(text)


if __name__ == "__main__":
    main()
