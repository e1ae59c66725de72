#!/usr/bin/env node
// Runs the compiled test files (dist/test/**.test.js) with node's own test runner.
// Usage: node scripts/run-tests.mjs [unit|integration] [name-filter]
// Files run two at a time (the machine has 2 cores).
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const [only, filter] = process.argv.slice(2);

function collect(dir) {
  const out = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out; // a suite with no compiled files yet
  }
  for (const name of entries.sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

const files = (only ? [only] : ['unit', 'integration'])
  .flatMap((suite) => collect(join(root, 'dist', 'test', suite)))
  .filter((f) => !filter || f.includes(filter));
if (files.length === 0) {
  console.error('run-tests: no test files matched');
  process.exit(1);
}
console.log(`drover tests: ${files.length} files on node ${process.version}`);
// One runner invocation so the closing summary counts every test.
const args = ['--test', '--test-concurrency=2', '--test-reporter=spec', ...files.map((f) => relative(root, f))];
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
