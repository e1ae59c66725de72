// Bundles two entries of the CLI, compiled by tsc, into CommonJS files beside them in dist/src/cli/, which
// bin/drover.js (itself CommonJS) loads without starting Node's ES module loader:
//   status-main.js   → status.bundle.cjs        `drover status` and what it imports (src/cli/status-main.ts)
//   compile-cache.js → compile-cache.bundle.cjs  turns Node's compile cache on before anything else loads
//   ../os/realtime-signals.js → realtime-signals.bundle.cjs  `up` and `serve` hold SIGRTMIN+3/+4 from their
//                      first line, as they hold the other master signals (bin/drover.js)
// Run by `npm run build` after tsc. Each module's `import.meta.url` becomes the URL of its own compiled file
// in dist/, worked out at run time from the bundle's own place (so the package can move), and whatever a
// module finds relative to itself (version.ts's package.json, the typed-config evaluator config/typed.ts
// starts) is found as when it runs unbundled.
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../dist/src/cli/', import.meta.url));

/** Replaces `import.meta.url` in each bundled module with that module's own file URL. */
const ownImportMetaUrl = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      return { contents: text.replaceAll('import.meta.url', `__drover_module_url(${JSON.stringify(relative(dir, args.path))})`), loader: 'js' };
    });
  },
};

for (const [entry, out] of [
  ['status-main.js', 'status.bundle.cjs'],
  ['compile-cache.js', 'compile-cache.bundle.cjs'],
  ['../os/realtime-signals.js', 'realtime-signals.bundle.cjs'],
]) {
  await build({
    entryPoints: [dir + entry],
    outfile: dir + out,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    // neither path uses a runtime package; should one creep in, it is required, not copied in
    packages: 'external',
    plugins: [ownImportMetaUrl],
    // a function declaration is hoisted: defined for the whole file, and 'use strict' stays its first line
    footer: { js: "function __drover_module_url(rel) { return require('node:url').pathToFileURL(require('node:path').join(__dirname, rel)).href; }" },
    logLevel: 'warning',
  });
}
