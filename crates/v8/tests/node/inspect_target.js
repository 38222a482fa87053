// A long-running process for live-capture tests (`node --inspect=127.0.0.1:0`).
//
// It reads commands from stdin, one per line, and answers "done" on stdout:
//   leak N     makes N Leaked objects and keeps them in a module-level array
//   churn N    makes N Churned objects and drops them
//   exit       exits
'use strict';
const readline = require('readline');

class Leaked {
  constructor(id) {
    this.id = id;
  }
}
class Churned {
  constructor(id) {
    this.id = id;
  }
}

const kept = [];
let churned = 0;
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [command, arg] = line.trim().split(/\s+/);
  const n = Number(arg || 0);
  if (command === 'leak') {
    for (let i = 0; i < n; i++) kept.push(new Leaked(kept.length));
  } else if (command === 'churn') {
    for (let i = 0; i < n; i++) churned += new Churned(i).id;
  } else if (command === 'exit') {
    process.exit(0);
  }
  process.stdout.write('done\n');
});
process.stdout.write('ready\n');
