// Builds a large heap and writes one snapshot of it, for the heap benchmark.
//
// usage: node --max-old-space-size=8192 make_snapshot.js OUT_FILE OBJECTS
//
// OBJECTS Item objects in a linked structure (each with a number, a unique
// string, a shared string, a link to the previous item and, every 16th, an
// array of 8 links), grouped under Maps of 1,000 — a few million heap
// objects and a snapshot of several hundred megabytes.
'use strict';
const v8 = require('v8');

const [out, objectsArg] = process.argv.slice(2);
const objects = Number(objectsArg);
if (!out || !(objects > 0)) {
  console.error('usage: make_snapshot.js OUT_FILE OBJECTS');
  process.exit(2);
}

class Item {
  constructor(id, prev) {
    this.id = id;
    this.name = `item-${id}`;
    this.kind = id % 3 === 0 ? 'fizz' : 'buzz';
    this.prev = prev;
    this.links = id % 16 === 0 ? new Array(8).fill(prev) : null;
  }
}

const groups = [];
let prev = null;
let group = new Map();
for (let i = 0; i < objects; i++) {
  prev = new Item(i, prev && i % 1000 !== 0 ? prev : null);
  group.set(i, prev);
  if (group.size === 1000) {
    groups.push(group);
    group = new Map();
  }
}
groups.push(group);
const started = Date.now();
v8.writeHeapSnapshot(out);
const seconds = (Date.now() - started) / 1000;
console.error(`wrote ${out} for ${objects} items in ${seconds.toFixed(1)} s (${groups.length} groups)`);
