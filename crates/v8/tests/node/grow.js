// A long-running process whose heap grows ("grow") or stays flat ("steady"),
// for `heapwise heap watch` tests (`node --inspect=127.0.0.1:0 grow.js MODE`).
//
// Every 50 ms it makes 50 Chunk objects (each with a 100-element array).
// "grow" keeps them in a module-level array forever; "steady" drops them.
'use strict';

const mode = process.argv[2];
if (!['grow', 'steady'].includes(mode)) {
  console.error('usage: grow.js grow|steady');
  process.exit(2);
}

class Chunk {
  constructor(id) {
    this.id = id;
    this.values = new Array(100).fill(id);
  }
}

const kept = [];
let made = 0;
setInterval(() => {
  for (let i = 0; i < 50; i++) {
    const chunk = new Chunk(made++);
    if (mode === 'grow') kept.push(chunk);
  }
}, 50);
process.stdout.write('ready\n');
