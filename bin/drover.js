#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (run `npm run build` first). This file is CommonJS
// (bin/package.json), so that `drover status` runs from the one-file bundle the build makes of it
// (src/cli/status-main.ts) without starting Node's ES module loader; every other command, and status
// where there is no bundle, goes through main.js. Compiled code is kept on disk where it can be
// (src/cli/compile-cache.ts): where Node has a compile cache (≥ 22.1) it is turned on first, so that it
// covers whatever loads next; elsewhere (Node 20) the status bundle runs from V8's code cache.
'use strict';

// First of all: until a listener exists, SIGUSR1 makes Node open its inspector, an unauthenticated TCP port
// through which any local user could run code as drover's user (root, often). This listener holds it
// for the whole start-up (other commands just ignore it). `up` and `serve` hold every master signal from
// here on as well: a TERM from `docker stop` or systemd while drover loads is kept, not lost (as PID 1 a
// signal without a handler is dropped) nor fatal. The master's signal relay (src/daemon/signals.ts) takes
// over and delivers what came meanwhile, in order. So are PWR and systemd's halt and poweroff (SIGRTMIN+3
// and +4), which Node has no names for: libuv listens for those through koffi (src/os/realtime-signals.ts).
moveLeadingOptions(process.argv);
const early = { queued: [], listeners: [] };
globalThis[Symbol.for('drover.early-signals')] = early;
const master = process.argv[2] === 'up' || process.argv[2] === 'serve';
for (const sig of master ? ['USR1', 'TERM', 'INT', 'QUIT', 'HUP', 'USR2', 'TTIN', 'TTOU', 'WINCH', 'PWR'] : ['USR1']) {
  const listener = () => early.queued.push(sig);
  process.on(`SIG${sig}`, listener);
  early.listeners.push([sig, listener]);
}
if (master) holdRealtimeSignals();

const nodeCache = require('node:module').enableCompileCache !== undefined;
if (nodeCache) require('../dist/src/cli/compile-cache.bundle.cjs').enableCompileCache(process.env);
if (!(process.argv[2] === 'status' && statusBundle())) {
  // a failure to load is an unhandled rejection: Node prints it and exits 1
  import('../dist/src/cli/main.js');
}

/**
 * Holds SIGRTMIN+3 and +4 as the listeners above hold the others. Without koffi (or the bundle) nothing is
 * held: `up` then refuses to run and says why.
 */
function holdRealtimeSignals() {
  const rtmin = 34; // glibc's and musl's SIGRTMIN
  try {
    const { listenForSignals } = require('../dist/src/cli/realtime-signals.bundle.cjs');
    // the relay takes this listening over (src/daemon/signals.ts) and points onRealtime at itself
    early.onRealtime = (n) => early.queued.push(`RTMIN+${n - rtmin}`);
    early.realtime = listenForSignals([rtmin + 3, rtmin + 4], (n) => early.onRealtime(n));
  } catch {
    // reported by `up` (the native layer cannot load), which the relay finds without early.realtime
  }
}

/** Runs the status bundle; false when the build made none. */
function statusBundle() {
  const file = require('node:path').join(__dirname, '../dist/src/cli/status.bundle.cjs');
  if (!require('node:fs').existsSync(file)) return false;
  if (nodeCache) require(file);
  else require('../dist/src/cli/compile-cache.bundle.cjs').runStatusBundle(file, process.env, process.argv.slice(3));
  return true;
}

/**
 * supervisorctl takes its options before the command (`supervisorctl -c FILE status`): the options that find
 * the running drover (docs/cli.md), given before the command, move behind it, where every command reads them.
 * Anything else before the command is left where it is (an unknown command).
 */
function moveLeadingOptions(argv) {
  const withValue = ['-c', '--configuration', '-s', '--server-url', '-u', '--username', '-p', '--password'];
  let i = 2;
  for (;;) {
    const a = argv[i];
    if (withValue.includes(a) && i + 1 < argv.length) i += 2;
    else if (a === '--json' || /^--(configuration|server-url|username|password)=/.test(a ?? '')) i += 1;
    else break;
  }
  if (i === 2 || i >= argv.length) return;
  argv.splice(3, 0, ...argv.splice(2, i - 2));
}
