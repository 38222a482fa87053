// An express 4 app with two per-request leaks, for heapwise's `roots` tests:
// every GET /leak adds a 'shutdown' listener to a module-level EventEmitter
// (its closure holds req and res, and through them the socket) and puts an
// entry in a module-level Map. GET /ok leaks nothing.
//
// Commands on stdin, each answered with "done listeners=N audit=N":
//   leak N   - N requests to /leak, one connection each
//   ok N     - N requests to /ok
//   gc       - nothing (capture --gc collects)
// express is found through NODE_PATH (the tests install it from npm).
'use strict';
const express = require('express');
const http = require('http');
const { EventEmitter } = require('events');
const readline = require('readline');

const bus = new EventEmitter();
bus.setMaxListeners(0);
const audit = new Map();
let served = 0;

const app = express();
app.get('/leak', (req, res) => {
  served += 1;
  bus.on('shutdown', () => {
    res.end(`shutting down ${req.url}`);
  });
  audit.set(served, { url: req.url, at: Date.now(), agent: req.headers['user-agent'] });
  res.send('leaked');
});
app.get('/ok', (req, res) => res.send('fine'));

function get(port, path) {
  return new Promise((resolve, reject) => {
    const agent = new http.Agent({ keepAlive: false });
    http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', resolve);
    }).on('error', reject);
  });
}

const server = app.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', async (line) => {
    const [command, count] = line.trim().split(/\s+/);
    const n = Number(count || 0);
    for (let i = 0; i < n; i++) {
      if (command === 'leak') await get(port, '/leak');
      if (command === 'ok') await get(port, '/ok');
    }
    // Let closed sockets finish closing before the answer.
    await new Promise((resolve) => setTimeout(resolve, 50));
    process.stdout.write(`done listeners=${bus.listenerCount('shutdown')} audit=${audit.size}\n`);
  });
  process.stdout.write('ready\n');
});
