#!/usr/bin/env python3
"""What each hook costs, in instructions (callgrind counts instructions, so the figure does not
move with the machine's load): bench/alloc_bench.c (one thread, PAIRS malloc/free pairs) plain,
under a bare forwarding shim (bench/hooks/bare_forwarder.c: the floor of any interposer), and
under heapwise's preload tracing every allocation, sampling one per 512 KiB, and sampling but
paused by its control file (`off`). Prints the whole program's instructions and the extra
instructions per malloc/free pair against the plain run, in all and in the program's own threads
(the tracer's writer thread wakes every 50 ms of wall time, so its share moves with the host's
load under callgrind; the program's threads do not).

    bench/hooks.py                  # 200,000 pairs
    bench/hooks.py --pairs 500000
    bench/hooks.py --timed 9        # also the CPU time of 10 M pairs, 9 interleaved rounds
    bench/hooks.py --python 10000   # also CPython (PYTHONMALLOC=malloc), marginal cost
    bench/hooks.py --python 10000 --timed 15   # and CPython's CPU time with 40,000 records

With `--python N`, CPython runs bench/real/json_records.py with N and with 2N records, plain, under
the bare forwarder and sampled (512 KiB); the marginal instructions (2N's less N's) cancel the
interpreter's start-up, and PYTHONHASHSEED=0 keeps the runs identical.

Results go to stdout and to bench/out/hooks.md. Benchmarks are never run in CI.
"""

import argparse
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "hooks"


def instructions(cmd, env):
    """Instructions the whole program executed (callgrind's total, every thread), and those of the
    program's own threads (all but the tracer's writer, the thread that ran `writer_main`). The
    second does not move with the host's load: the writer wakes every 50 ms of wall time, which
    callgrind stretches about fifty-fold, so its share of the total grows when the host is busy."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(["valgrind", "--tool=callgrind", "--separate-threads=yes",
                        f"--callgrind-out-file={out}"] + cmd, env=env, capture_output=True, check=True)
        total = own = 0
        for part in Path(tmp).glob("callgrind.out*"):
            text = part.read_text()
            totals = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
            count = int(totals.group(1)) if totals else 0
            total += count
            if "writer_main" not in text:
                own += count
        return total, own


def timed_table(say, cmd, modes, env, rounds):
    """Runs `cmd` under every mode, `rounds` rounds in a shuffled order each, and prints the median
    CPU time (user and system, every thread) of each mode against the first's."""
    cpu = {name: [] for name, _ in modes}
    for _ in range(rounds):
        order = list(modes)
        random.shuffle(order)
        for name, extra in order:
            for old in OUT.glob("*.hwt*"):
                old.unlink()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(cmd, env={**env_base(), **env, **extra}, capture_output=True, check=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    first = statistics.median(cpu[modes[0][0]])
    say("| mode | CPU | × plain |")
    say("|---|---|---|")
    for name, _ in modes:
        c = statistics.median(cpu[name])
        say(f"| {name} | {c:.3f} s | {c / first:.3f} |")


def env_base():
    """This environment without heapwise's settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("HEAPWISE_") and k != "LD_PRELOAD"}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=200_000)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--timed", type=int, default=0, metavar="ROUNDS",
                        help="also time 10 M pairs natively, ROUNDS interleaved rounds")
    parser.add_argument("--python", type=int, default=0, metavar="N",
                        help="also CPython's JSON of N and 2N records, plain, bare and sampled")
    args = parser.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "heapwise-preload"], cwd=ROOT, check=True)
    OUT.mkdir(parents=True, exist_ok=True)
    bench = OUT / "alloc_bench"
    subprocess.run(["gcc", "-O2", "-g", "-pthread", "-o", bench, ROOT / "bench" / "alloc_bench.c"], check=True)
    bare = OUT / "bare_forwarder.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", bare, ROOT / "bench" / "hooks" / "bare_forwarder.c"],
                   check=True)
    preload = ROOT / "target" / "release" / "libheapwise_preload.so"
    cmd = [str(bench), "1", str(args.pairs)]
    control = OUT / "paused.control"
    control.write_text("off\n")
    base = env_base()
    modes = [
        ("plain glibc", {}),
        ("bare forwarder", {"LD_PRELOAD": str(bare)}),
        ("heapwise, every allocation", {"LD_PRELOAD": str(preload), "HEAPWISE_OUTPUT": str(OUT / "full.hwt")}),
        ("heapwise, sampled 512 KiB", {"LD_PRELOAD": str(preload), "HEAPWISE_OUTPUT": str(OUT / "sampled.hwt"),
                                       "HEAPWISE_SAMPLE": "512KiB"}),
        ("heapwise, sampled but paused", {"LD_PRELOAD": str(preload), "HEAPWISE_OUTPUT": str(OUT / "paused.hwt"),
                                          "HEAPWISE_SAMPLE": "512KiB", "HEAPWISE_CONTROL": str(control)}),
    ]
    lines = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    say("# Hook cost in instructions\n")
    say(f"`{' '.join(sys.argv)}`: `alloc_bench 1 {args.pairs}` under `valgrind --tool=callgrind`.\n")
    say("| mode | instructions | × plain | extra per malloc/free pair | the program's threads: extra per pair |")
    say("|---|---|---|---|---|")
    plain = None
    for name, extra in modes:
        for old in OUT.glob("*.hwt*"):
            old.unlink()
        count, own = instructions(cmd, {**base, **extra})
        plain = plain or (count, own)
        say(f"| {name} | {count:,} | {count / plain[0]:.3f} | {(count - plain[0]) / args.pairs:.1f} | "
            f"{(own - plain[1]) / args.pairs:.1f} |")
    if args.timed:
        timed_cmd = [str(bench), "1", "10000000"]
        say(f"\nTimed: `alloc_bench 1 10000000`, {args.timed} interleaved rounds, median CPU time "
            "(the process's threads together):\n")
        timed_table(say, timed_cmd, modes, {}, args.timed)
    if args.python:
        python = ["/usr/bin/python3.11", str(ROOT / "bench" / "real" / "json_records.py")]
        py_env = {**base, "PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0"}
        say(f"\nCPython: `json_records.py` with {args.python:,} and {2 * args.python:,} records, "
            "`PYTHONMALLOC=malloc`, under callgrind; the marginal instructions (the larger run's less "
            "the smaller's):\n")
        say("| mode | instructions, N | instructions, 2N | marginal | × plain | the program's threads: marginal "
            "| × plain |")
        say("|---|---|---|---|---|---|---|")
        plain_marginal = None
        for name, extra in modes[:2] + modes[3:4]:
            counts = []
            for n in (args.python, 2 * args.python):
                for old in OUT.glob("*.hwt*"):
                    old.unlink()
                counts.append(instructions(python + [str(n)], {**py_env, **extra}))
            marginal = (counts[1][0] - counts[0][0], counts[1][1] - counts[0][1])
            plain_marginal = plain_marginal or marginal
            say(f"| {name} | {counts[0][0]:,} | {counts[1][0]:,} | {marginal[0]:,} | "
                f"{marginal[0] / plain_marginal[0]:.4f} | {marginal[1]:,} | {marginal[1] / plain_marginal[1]:.4f} |")
        if args.timed:
            records = 4 * args.python
            say(f"\nTimed: CPython's `json_records.py` with {records:,} records, {args.timed} interleaved "
                "rounds, median CPU time (start-up included):\n")
            timed_table(say, python + [str(records)], modes[:2] + modes[3:], py_env, args.timed)
    (OUT.parent / "hooks.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
