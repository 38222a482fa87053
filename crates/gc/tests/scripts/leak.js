// A Node.js program that leaks: every tick keeps one in fifty of the
// objects it allocates in a module-level array that is never trimmed.
// Usage: node leak.js TICKS. The work is fixed, not the time, so a loaded
// machine gets the same number of collections, only later.
const ticks = Number(process.argv[2] || 3000);
const kept = [];
for (let t = 0; t < ticks; t++) {
  for (let i = 0; i < 2000; i++) {
    const temp = { id: i, text: 'request ' + i, tags: [i, i + 1, i + 2] };
    if (i % 50 === 0) kept.push(temp);
  }
}
console.log(`kept ${kept.length} objects`);
