#!/usr/bin/env python3
"""Full tracing on real programs: each program plain, under `heapwise run` and under heaptrack,
interleaved, several rounds, medians. Prints per program: the slowdowns (wall time against the
plain run), the traces' sizes, how long `heapwise report --format json` and `heaptrack_print`
take on them and their peak memory, and how long `heapwise run`'s end-of-run summary took after
the program ended. The report is timed twice: as a user gets it after `heapwise run` (from the
analysis the run saved beside the trace, TRACE.analysis, whose size is listed too), and from the
trace alone (`--replay`); the two outputs must be byte for byte the same.

Programs (all on these machines): CPython 3.11 with PYTHONMALLOC=malloc building and
round-tripping 150,000 dicts as JSON (bench/real/json_roundtrip.py), cc1plus compiling a
header-heavy C++ file (bench/real/headers.cpp), sqlite3 filling and indexing a 200,000-row table
in memory (bench/real/sqlite.sql), and perl filling and walking a 300,000-key hash
(bench/real/hash.pl).

    bench/real.py                       # every program, 3 rounds
    bench/real.py --rounds 5 --only python cc1plus

Results go to stdout and to bench/out/real.md. Benchmarks are never run in CI.
"""

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "bench" / "real"
OUT = ROOT / "bench" / "out" / "real"

CC1PLUS = "/usr/lib/gcc/x86_64-linux-gnu/12/cc1plus"
PROGRAMS = {
    "python": (["/usr/bin/python3.11", str(REAL / "json_roundtrip.py")], {"PYTHONMALLOC": "malloc"}),
    "cc1plus": ([CC1PLUS, "-quiet", "-imultiarch", "x86_64-linux-gnu", "-D_GNU_SOURCE", str(REAL / "headers.cpp"),
                 "-dumpbase", "headers.cpp", "-mtune=generic", "-march=x86-64", "-O2", "-o", "/dev/null"], {}),
    "sqlite": (["sqlite3", ":memory:", "-init", str(REAL / "sqlite.sql"), ".quit"], {}),
    "perl": (["perl", str(REAL / "hash.pl")], {}),
}


def timed(cmd, env=None, check=True, stdout=None):
    """Wall seconds and peak RSS (KB) of the command (`/usr/bin/time`), and its output. With `stdout`
    (a path), its standard output goes to that file instead of a pipe: a report's 234 MB of JSON
    read through a pipe by this script doubled the report's time (cc1plus: 1.35 s to a file, 2.66 s
    to the pipe), which is the pipe's and Python's, not the report's."""
    log = OUT / "time.txt"
    start = time.perf_counter()
    if stdout is None:
        out = subprocess.run(["/usr/bin/time", "-o", str(log), "-f", "%M"] + cmd, env=env, capture_output=True,
                             text=True)
    else:
        with open(stdout, "w") as sink:
            out = subprocess.run(["/usr/bin/time", "-o", str(log), "-f", "%M"] + cmd, env=env, stdout=sink,
                                 stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if check and out.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {out.stderr[-2000:]}")
    rss = int(log.read_text().split()[-1])
    return wall, rss, out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=list(PROGRAMS))
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "heapwise", "-p", "heapwise-preload"],
                       cwd=ROOT, check=True)
    heapwise = ROOT / "target" / "release" / "heapwise"
    have_heaptrack = shutil.which("heaptrack") and shutil.which("heaptrack_print")
    OUT.mkdir(parents=True, exist_ok=True)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("HEAPWISE_") and k != "LD_PRELOAD"}
    results = {name: {"plain": [], "heapwise": [], "heaptrack": [], "summary": [], "report": [], "report_rss": [],
                      "replay": [], "replay_rss": [], "saved_size": [],
                      "print": [], "print_rss": [], "hw_size": [], "ht_size": [], "events": 0}
               for name in args.only}
    for round_ in range(args.rounds):
        jobs = [(name, mode) for name in args.only for mode in ("plain", "heapwise", "heaptrack")]
        random.shuffle(jobs)
        for name, mode in jobs:
            cmd, extra = PROGRAMS[name]
            env = {**base_env, **extra}
            r = results[name]
            if mode == "plain":
                r["plain"].append(timed(cmd, env)[0])
            elif mode == "heapwise":
                trace = OUT / f"{name}.hwt"
                for old in OUT.glob(f"{name}.hwt*"):
                    old.unlink()
                wall, _, out = timed([str(heapwise), "run", "--no-tui", "-o", str(trace), "--"] + cmd, env)
                # "... exited with code 0 after 3.21 s": the program's own time.
                ran = re.search(r"after ([0-9.]+) (ms|s|min)", out.stderr)
                seconds = float(ran.group(1)) * {"ms": 1e-3, "s": 1.0, "min": 60.0}[ran.group(2)] if ran else wall
                r["heapwise"].append(seconds)
                r["summary"].append(max(wall - seconds, 0.0))
                r["hw_size"].append(trace.stat().st_size)
                report = OUT / f"{name}.json"
                wall, rss, out = timed([str(heapwise), "report", "--format", "json", str(trace)], stdout=report)
                r["report"].append(wall)
                r["report_rss"].append(rss)
                saved = Path(str(trace) + ".analysis")
                r["saved_size"].append(saved.stat().st_size if saved.exists() else 0)
                replayed = OUT / f"{name}.replay.json"
                wall, rss, out = timed([str(heapwise), "report", "--replay", "--format", "json", str(trace)],
                                       stdout=replayed)
                r["replay"].append(wall)
                r["replay_rss"].append(rss)
                if replayed.read_bytes() != report.read_bytes():
                    sys.exit(f"{name}: the report from the saved analysis differs from the trace's")
                replayed.unlink()
                summary = json.loads(report.read_text())["summary"]
                r["events"] = summary["allocations"] + summary["frees"]
            elif have_heaptrack:
                stem = OUT / f"heaptrack.{name}"
                for old in OUT.glob(f"heaptrack.{name}*"):
                    old.unlink()
                # heaptrack's script can end with a SIGPIPE status (141)
                # after writing its data: the data decides.
                wall, _, out = timed(["heaptrack", "-o", str(stem)] + cmd, env, check=False)
                data = next(OUT.glob(f"heaptrack.{name}*.zst"), None)
                if data is None or "Heaptrack finished" not in out.stdout + out.stderr:
                    print(f"{name}: heaptrack failed this round: {out.stderr[-200:]}", file=sys.stderr)
                    continue
                r["heaptrack"].append(wall)
                r["ht_size"].append(data.stat().st_size)
                wall, rss, _ = timed(["heaptrack_print", str(data)], stdout=OUT / f"heaptrack.{name}.txt")
                r["print"].append(wall)
                r["print_rss"].append(rss)

    lines = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    med = statistics.median
    say("# Full tracing on real programs\n")
    say(f"`{' '.join(sys.argv)}`: {args.rounds} interleaved rounds, medians. Machine: {os.cpu_count()} cores.\n")
    say("| program | events | plain | heapwise | heaptrack | trace | heaptrack's | trace ratio | report | "
        "heaptrack_print | speed ratio | report memory | print memory | run's summary | saved analysis | "
        "report from the trace alone | its memory |")
    say("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.only:
        r = results[name]
        plain = med(r["plain"])
        hw = med(r["heapwise"])
        line = f"| {name} | {r['events'] / 1e6:.1f} M | {plain:.2f} s | {hw / plain:.2f}× |"
        if r["heaptrack"]:
            ht = med(r["heaptrack"])
            line += (f" {ht / plain:.2f}× | {med(r['hw_size']) / 1e6:.2f} MB | {med(r['ht_size']) / 1e6:.2f} MB | "
                     f"{med(r['hw_size']) / med(r['ht_size']):.2f}× | {med(r['report']):.2f} s | {med(r['print']):.2f} s | "
                     f"{med(r['print']) / med(r['report']):.2f}× | {med(r['report_rss']) / 1024:.0f} MB | "
                     f"{med(r['print_rss']) / 1024:.0f} MB |")
        else:
            line += f" — | {med(r['hw_size']) / 1e6:.2f} MB | — | — | {med(r['report']):.2f} s | — | — | " \
                    f"{med(r['report_rss']) / 1024:.0f} MB | — |"
        line += f" {med(r['summary']):.2f} s ({med(r['summary']) / hw * 100:.0f} %) |"
        line += (f" {med(r['saved_size']) / 1e6:.2f} MB | {med(r['replay']):.2f} s | "
                 f"{med(r['replay_rss']) / 1024:.0f} MB |")
        say(line)
    say("\n(speed ratio: heaptrack_print's time over `heapwise report`'s — above 1, heapwise is faster; "
        "run's summary: `heapwise run`'s time after the program ended, and its share of the traced run; "
        "report: from the analysis `heapwise run` saved beside the trace; report from the trace alone: "
        "`heapwise report --replay`.)")
    (OUT.parent / "real.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
