// `drover status` on its own, the command people run most and want fastest. The build bundles this entry
// and everything it imports into one CommonJS file, dist/src/cli/status.bundle.cjs (scripts/bundle-status.mjs),
// which bin/drover.js loads for `status`: one file read and compiled instead of ~27 ES modules resolved,
// linked and evaluated, and no ESM facades of Node's builtins. On this 2-core VM that is ~28 ms of a
// ~110 ms call (docs/decisions.md, "`drover status` runs from one bundled file"). The command is the same code as through
// main.ts, with the same context and exit.
import { status } from './commands/status.js';
import { runAndExit } from './run.js';

// argv: node, drover.js, "status", then the command's own arguments
runAndExit('status', status, process.argv.slice(3));
