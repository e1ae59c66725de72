#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (run `npm run build` first). Where Node has a compile cache
// (≥ 22.1), it is turned on before the CLI's modules load, so that it covers them (src/cli/compile-cache.ts);
// elsewhere nothing more is loaded.
if (process.getBuiltinModule?.('node:module')?.enableCompileCache) {
  (await import('../dist/src/cli/compile-cache.js')).enableCompileCache(process.env);
}
await import('../dist/src/cli/main.js');
