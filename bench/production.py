#!/usr/bin/env python3
"""Production-mode benchmark: bench/server_bench.c (THREADS workers serving requests, a 64-byte
leak every 32nd request, a cache that fills and then plateaus) plain, under `heapwise run`
(every allocation), under `heapwise run --sample` (one allocation per 512 KiB, by default), and
attached: a plain run that `heapwise attach --sample` traces in the middle of it and then
leaves. Interleaved rounds, medians. Prints requests per second against the plain run's, the
trace's size, and how the sampled report's leak compares with the program's own truth.

    bench/production.py                    # 2 threads, 40 s runs, 3 rounds (about 9 minutes)
    bench/production.py --seconds 30 --rounds 5 --sample 512KiB
    bench/production.py --precision 150    # and 3 sampled runs of 150 s, for the estimates' precision

Results go to stdout and to bench/out/production.md. Benchmarks are never run in CI.
"""

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "production"


def parse(stdout):
    windows, facts = {}, {}
    for line in stdout.splitlines():
        parts = line.split()
        if parts[0] == "window":
            windows[int(parts[1])] = int(parts[2])
        elif len(parts) == 2:
            facts[parts[0]] = float(parts[1])
    return windows, facts


def rate(windows, first, last):
    """Requests per second over windows [first, last)."""
    values = [windows.get(t, 0) for t in range(first, last)]
    return sum(values) / max(len(values), 1)


def leak_of(report):
    """The sampled report's growing stack for leak_here, if found."""
    for growth in report.get("growth", []):
        frames = growth.get("frames") or []
        if frames and frames[0].get("function") == "leak_here":
            return growth
    return None


def precision_table(say, runs, what):
    """The sampled reports of `runs` against the program's own figures, with the report's own
    standard error of its leaked bytes (how far off chance alone puts them)."""
    say(f"\nSampled report against the program's own figures, {what}:\n")
    say("| round | leak found | pattern | rate (est.) | rate (truth) | error | leaked (est.) | leaked (truth) | error | "
        "in standard errors | other stacks called leaks |")
    say("|---|---|---|---|---|---|---|---|---|---|---|")
    for i, e in enumerate(runs):
        report, fact = e.get("report"), e["facts"]
        if not report:
            continue
        leak = leak_of(report)
        truth_rate = fact.get("leak_rate_bytes_per_s", 0)
        truth_leaked = fact.get("leaked_bytes", 0) + fact.get("cache_bytes", 0)
        est = report["summary"]["leaked_bytes"]
        se = (report.get("sampling") or {}).get("leaked_bytes_standard_error") or 0
        z = f"{(est - truth_leaked) / se:+.1f}" if se else ""
        others = sum(1 for g in report.get("growth", []) if g.get("leak") and g is not leak)
        if leak:
            r = leak.get("slope_bytes_per_s") or 0
            say(f"| {i} | {'yes' if leak['leak'] else 'no'} | {leak['pattern']} | {r:,.0f} B/s | {truth_rate:,.0f} B/s | "
                f"{(r / truth_rate - 1) * 100:+.1f} % | {est:,} | {truth_leaked:,.0f} | {(est / truth_leaked - 1) * 100:+.1f} % | "
                f"{z} | {others} |")
        else:
            say(f"| {i} | no stack | | | {truth_rate:,.0f} B/s | | {est:,} | {truth_leaked:,.0f} | | {z} | {others} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sample", default="512KiB")
    parser.add_argument("--precision", type=int, default=0, metavar="SECONDS",
                        help="also sampled runs this long, for the estimates' precision (0: none)")
    parser.add_argument("--precision-rounds", type=int, default=3)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "heapwise", "-p", "heapwise-preload"], cwd=ROOT, check=True)
    heapwise = ROOT / "target" / "release" / "heapwise"
    OUT.mkdir(parents=True, exist_ok=True)
    bench = OUT / "server_bench"
    subprocess.run(["gcc", "-O2", "-g", "-pthread", "-o", bench, ROOT / "bench" / "server_bench.c"], check=True)
    base = [str(bench), str(args.threads), str(args.seconds)]
    warm, end = 1, args.seconds - 1
    attach_from, attach_for = args.seconds // 4, args.seconds // 2

    results = {m: [] for m in ("plain", "full", "sampled", "attached")}
    facts = {}
    for round_ in range(args.rounds):
        order = list(results)
        random.shuffle(order)
        for mode in order:
            trace = OUT / f"{mode}-{round_}.hwt"
            for old in OUT.glob(f"{mode}-{round_}*.hwt"):
                old.unlink()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            if mode == "plain":
                out = subprocess.run(base, capture_output=True, text=True, check=True).stdout
            elif mode in ("full", "sampled"):
                cmd = [str(heapwise), "run", "--no-tui", "-o", str(trace)]
                if mode == "sampled":
                    cmd += ["--sample", args.sample]
                out = subprocess.run(cmd + ["--"] + base, capture_output=True, text=True, check=True).stdout
            else:
                child = subprocess.Popen(base, stdout=subprocess.PIPE, text=True)
                time.sleep(attach_from)
                subprocess.run([str(heapwise), "attach", "--no-tui", "--pid", str(child.pid), "--sample", args.sample,
                                "--duration", f"{attach_for}s", "-o", str(trace)], capture_output=True, check=True)
                out = child.communicate()[0]
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            windows, fact = parse(out)
            entry = {"rate": rate(windows, warm, end), "windows": windows, "facts": fact,
                     "per_cpu_s": fact.get("requests", 0) / cpu if cpu > 0 else 0}
            if mode != "plain" and trace.exists():
                entry["trace_bytes"] = trace.stat().st_size
                if mode in ("sampled", "full"):
                    report = json.loads(subprocess.run([str(heapwise), "report", "--format", "json", str(trace)],
                                                       capture_output=True, text=True, check=True).stdout)
                    entry["report"] = report
            results[mode].append(entry)

    precision = []
    for round_ in range(args.precision_rounds if args.precision else 0):
        trace = OUT / f"precision-{round_}.hwt"
        for old in OUT.glob(f"precision-{round_}*.hwt"):
            old.unlink()
        cmd = [str(heapwise), "run", "--no-tui", "-o", str(trace), "--sample", args.sample, "--",
               str(bench), str(args.threads), str(args.precision)]
        _, fact = parse(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
        report = json.loads(subprocess.run([str(heapwise), "report", "--format", "json", str(trace)],
                                           capture_output=True, text=True, check=True).stdout)
        precision.append({"facts": fact, "report": report})

    lines = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    plain = statistics.median(e["rate"] for e in results["plain"])
    say("# Production-mode benchmark\n")
    say(f"`{' '.join(sys.argv)}`: {args.threads} threads, {args.seconds} s runs (seconds {warm}–{end} counted), "
        f"{args.rounds} interleaved rounds, medians. Machine: {os.cpu_count()} cores.\n")
    plain_cpu = statistics.median(e["per_cpu_s"] for e in results["plain"])
    say("| mode | requests/s | of plain | requests per CPU second | of plain | trace |")
    say("|---|---|---|---|---|---|")
    for mode in ("plain", "full", "sampled"):
        r = statistics.median(e["rate"] for e in results[mode])
        c = statistics.median(e["per_cpu_s"] for e in results[mode])
        size = statistics.median(e.get("trace_bytes", 0) for e in results[mode])
        say(f"| {mode} | {r:,.0f} | {r / plain * 100:.1f} % | {c:,.0f} | {c / plain_cpu * 100:.1f} % | {size / 1e6:.1f} MB |"
            if mode != "plain" else f"| plain | {r:,.0f} | 100 % | {c:,.0f} | 100 % | — |")
    say("\n(Requests per CPU second — the program's and the tracer's CPU time together — move less than "
        "requests per second when other work shares the cores.)")
    # Attached: the same run before, during and after the attach.
    before = statistics.median(rate(e["windows"], warm, attach_from) for e in results["attached"])
    during = statistics.median(rate(e["windows"], attach_from + 1, attach_from + attach_for) for e in results["attached"])
    after = statistics.median(rate(e["windows"], attach_from + attach_for + 1, end) for e in results["attached"])
    say(f"\nAttached (`heapwise attach --sample {args.sample}` from second {attach_from} for {attach_for} s): "
        f"before {before:,.0f}/s, while attached {during:,.0f}/s ({during / before * 100:.1f} %), "
        f"after the detach {after:,.0f}/s ({after / before * 100:.1f} %).")
    # The same seconds of the plain runs: how much a run's rate moves from one stretch to the next
    # with nothing attached (the noise the attached figures are read against).
    def phases(e):
        first = rate(e["windows"], warm, attach_from)
        return (rate(e["windows"], attach_from + 1, attach_from + attach_for) / first,
                rate(e["windows"], attach_from + attach_for + 1, end) / first)
    ratios = [phases(e) for e in results["attached"]]
    controls = [phases(e) for e in results["plain"]]
    say("Per round, while attached and after, of the same run's rate before: "
        + ", ".join(f"{d * 100:.1f} % / {a * 100:.1f} %" for d, a in ratios)
        + ". The plain runs over the same seconds: "
        + ", ".join(f"{d * 100:.1f} % / {a * 100:.1f} %" for d, a in controls) + ".")
    plain_during = statistics.median(rate(e["windows"], attach_from + 1, attach_from + attach_for) for e in results["plain"])
    plain_after = statistics.median(rate(e["windows"], attach_from + attach_for + 1, end) for e in results["plain"])
    say(f"Against the plain runs' same seconds (medians): while attached {during / plain_during * 100:.1f} %, "
        f"after the detach {after / plain_after * 100:.1f} %.")
    # The sampled report against the truth.
    precision_table(say, results["sampled"], f"{args.seconds} s runs")
    if precision:
        precision_table(say, precision, f"{args.precision} s runs (`--precision`)")
    (OUT.parent / "production.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
