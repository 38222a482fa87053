// Known creations and releases between two snapshots, for `heapwise heap diff`.
//
// usage: node --expose-gc diff.js OUT_DIR KEPT RELEASED CREATED
//
// before.heapsnapshot holds KEPT + RELEASED Gadget objects; then RELEASED of
// them are dropped and CREATED Widget objects made and kept; after.heapsnapshot.
// Expected: Gadget deleted = RELEASED, new = 0; Widget new = CREATED, deleted = 0.
'use strict';
const v8 = require('v8');
const path = require('path');

const [outDir, keptArg, releasedArg, createdArg] = process.argv.slice(2);
const kept = Number(keptArg);
const released = Number(releasedArg);
const created = Number(createdArg);

class Gadget {
  constructor(id) {
    this.id = id;
  }
}
class Widget {
  constructor(id) {
    this.id = id;
    this.label = null;
  }
}

const gadgets = [];
for (let i = 0; i < kept + released; i++) gadgets.push(new Gadget(i));
const widgets = [];
widgets.push(null); // the array and its backing store exist before the first snapshot

function snapshot(name) {
  global.gc();
  v8.writeHeapSnapshot(path.join(outDir, `${name}.heapsnapshot`));
}

snapshot('before');
gadgets.splice(kept, released);
for (let i = 0; i < created; i++) widgets.push(new Widget(i));
snapshot('after');
process.stdout.write(JSON.stringify({ gadgets: gadgets.length, widgets: widgets.length - 1 }) + '\n');
