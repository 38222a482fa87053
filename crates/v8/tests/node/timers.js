// Timers that are never cleared keep what their callbacks captured, for the
// `closure` cause.
//
// usage: node --expose-gc timers.js OUT_DIR SESSIONS LATER_SESSIONS
//
// Each session starts an interval whose callback captures its Session object
// and never clears it. Snapshots: baseline (after a warm-up), SESSIONS
// sessions, target, LATER_SESSIONS sessions, final. Exactly SESSIONS Session
// objects leak by memlab's definition.
'use strict';
const v8 = require('v8');
const path = require('path');

const [outDir, sessionsArg, laterArg] = process.argv.slice(2);
const sessions = Number(sessionsArg);
const later = Number(laterArg);

class Session {
  constructor(id) {
    this.id = id;
    this.lastSeen = 0;
  }
}

function start(id) {
  const session = new Session(id);
  const timer = setInterval(() => {
    session.lastSeen = Date.now();
  }, 1e9);
  timer.unref();
}

function snapshot(name) {
  global.gc();
  v8.writeHeapSnapshot(path.join(outDir, `${name}.heapsnapshot`));
}

for (let i = 0; i < 5; i++) start(-1 - i);
snapshot('baseline');
for (let i = 0; i < sessions; i++) start(i);
snapshot('target');
for (let i = 0; i < later; i++) start(sessions + i);
snapshot('final');
