// A miniature request handler with known leaks, for heapwise's leak tests.
//
// usage: node --expose-gc server.js MODE OUT_DIR REQUESTS LATER_REQUESTS
//
// MODE "leaky": every request
//   - registers a listener on a long-lived EventEmitter and never removes it;
//     the listener's closure captures the request's RequestContext;
//   - stores a CacheEntry in a module-level Map that is never evicted;
//   - makes three Temporary objects and drops them.
// MODE "clean": the same work, but the listener is removed and the cache
//   entry deleted when the request ends.
//
// Snapshots: baseline.heapsnapshot (after a warm-up), then REQUESTS requests,
// target.heapsnapshot, then LATER_REQUESTS more requests, final.heapsnapshot.
// What leaked by memlab's definition (new after baseline, in target, alive in
// final) is exactly the REQUESTS requests' RequestContext and CacheEntry
// objects in "leaky" mode, and nothing of these classes in "clean" mode.
'use strict';
const v8 = require('v8');
const path = require('path');
const { EventEmitter } = require('events');

const [mode, outDir, requestsArg, laterArg] = process.argv.slice(2);
if (!['leaky', 'clean'].includes(mode) || !outDir) {
  console.error('usage: server.js leaky|clean OUT_DIR REQUESTS LATER_REQUESTS');
  process.exit(2);
}
const requests = Number(requestsArg);
const later = Number(laterArg);

class RequestContext {
  constructor(id) {
    this.id = id;
    this.startedAt = id * 1000;
  }
}
class CacheEntry {
  constructor(id) {
    this.id = id;
    this.hits = 0;
  }
}
class Temporary {
  constructor(id) {
    this.id = id;
  }
}

const bus = new EventEmitter();
bus.setMaxListeners(0);
const cache = new Map();
let checksum = 0;

function handle(id) {
  const ctx = new RequestContext(id);
  const onShutdown = () => ctx.id;
  bus.on('shutdown', onShutdown);
  cache.set(id, new CacheEntry(id));
  for (let i = 0; i < 3; i++) {
    const t = new Temporary(id * 3 + i);
    checksum += t.id;
  }
  if (mode === 'clean') {
    bus.removeListener('shutdown', onShutdown);
    cache.delete(id);
  }
}

function snapshot(name) {
  global.gc();
  v8.writeHeapSnapshot(path.join(outDir, `${name}.heapsnapshot`));
}

// Warm-up: the listener array, the Map's table and the code exist before the baseline.
for (let i = 0; i < 20; i++) handle(-1 - i);
snapshot('baseline');
for (let i = 0; i < requests; i++) handle(i);
snapshot('target');
for (let i = 0; i < later; i++) handle(requests + i);
snapshot('final');
// Keep the module scope (bus, cache) reachable until after the last snapshot.
process.stdout.write(JSON.stringify({ mode, requests, later, listeners: bus.listenerCount('shutdown'), cached: cache.size, checksum }) + '\n');
