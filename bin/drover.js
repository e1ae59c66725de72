#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (run `npm run build` first). This file is CommonJS
// (bin/package.json), so that `drover status` runs from the one-file bundle the build makes of it
// (src/cli/status-main.ts) without starting Node's ES module loader; every other command, and status
// where there is no bundle, goes through main.js. Where Node has a compile cache (≥ 22.1), it is turned
// on first, so that it covers whatever loads next (src/cli/compile-cache.ts).
'use strict';

if (require('node:module').enableCompileCache) {
  require('../dist/src/cli/compile-cache.bundle.cjs').enableCompileCache(process.env);
}
if (!(process.argv[2] === 'status' && statusBundle())) {
  // a failure to load is an unhandled rejection: Node prints it and exits 1
  import('../dist/src/cli/main.js');
}

/** Runs the status bundle; false when the build made none. */
function statusBundle() {
  try {
    require('../dist/src/cli/status.bundle.cjs');
    return true;
  } catch (err) {
    // only the bundle itself missing; anything it fails on is its own error
    if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).split('\n')[0].includes('status.bundle.cjs')) return false;
    throw err;
  }
}
