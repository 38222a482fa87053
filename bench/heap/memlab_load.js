// Loads a snapshot with memlab's own API (parse, dominators, retained sizes),
// the work `memlab analyze` does before any analysis, for the heap benchmark.
//
// usage: node --max-old-space-size=16000 memlab_load.js MEMLAB_NODE_MODULES SNAPSHOT
'use strict';
const path = require('path');

const [modules, snapshot] = process.argv.slice(2);
const { getFullHeapFromFile } = require(path.join(modules, '@memlab/heap-analysis'));

(async () => {
  const started = Date.now();
  const heap = await getFullHeapFromFile(snapshot);
  let nodes = 0;
  let largest = 0;
  heap.nodes.forEach((node) => {
    nodes++;
    if (node.retainedSize > largest && node.id !== 0) largest = node.retainedSize;
  });
  const seconds = (Date.now() - started) / 1000;
  console.log(JSON.stringify({ nodes, largest_retained: largest, seconds }));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
