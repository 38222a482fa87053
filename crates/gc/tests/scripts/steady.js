// A Node.js program that does not leak: it allocates exactly like leak.js
// but keeps only a bounded window of recent objects (a cache with
// eviction). Usage: node steady.js TICKS
const ticks = Number(process.argv[2] || 3000);
const window = new Array(100);
let next = 0;
for (let t = 0; t < ticks; t++) {
  for (let i = 0; i < 2000; i++) {
    const temp = { id: i, text: 'request ' + i, tags: [i, i + 1, i + 2] };
    if (i % 50 === 0) {
      window[next] = temp;
      next = (next + 1) % window.length;
    }
  }
}
console.log(`window of ${window.length} objects`);
