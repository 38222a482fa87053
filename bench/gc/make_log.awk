# Writes a synthetic GC log of LINES lines in FORMAT (node, jvm or go) to
# standard output: a service whose heap after GC rises slowly, with a
# major collection every 50 lines.
#
# usage: awk -v FORMAT=node -v LINES=1000000 -f bench/gc/make_log.awk > gc.log
BEGIN {
  srand(7)
  t = 0.02
  if (FORMAT == "jvm") print "[0.003s][info][gc] Using G1"
  for (i = 1; i <= LINES - (FORMAT == "jvm"); i++) {
    t += 0.05 + rand() * 0.02
    live = 40 + i / 20000 + rand() * 2
    major = (i % 50 == 0)
    pause = 0.3 + rand() * 2 + (major ? 5 : 0)
    if (FORMAT == "node") {
      name = major ? "Mark-Compact" : "Scavenge"
      before = live + (major ? 30 : 8)
      printf "[4242:0x5a1b2c0]  %7.0f ms: %s %.1f (%.1f) -> %.1f (%.1f) MB, %.2f / 0.00 ms  (average mu = 0.991, current mu = 0.988) allocation failure; \n", t * 1000, name, before, before + 20, live, before + 20, pause
    } else if (FORMAT == "jvm") {
      kind = major ? "Pause Young (Mixed) (G1 Evacuation Pause)" : "Pause Young (Normal) (G1 Evacuation Pause)"
      printf "[%.3fs][info][gc] GC(%d) %s %dM->%dM(1024M) %.3fms\n", t, i - 1, kind, live + 60, live, pause
    } else {
      printf "gc %d @%.3fs 2%%: 0.021+%.1f+%.3f ms clock, 0.085+0.40/1.5/2.9+0.048 ms cpu, %d->%d->%d MB, %d MB goal, 0 MB stacks, 0 MB globals, 4 P\n", i, t, pause * 3, pause / 10, live * 2, live * 2 + 1, live, live * 2
    }
  }
}
