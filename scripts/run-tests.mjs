#!/usr/bin/env node
// Runs the compiled test files (dist/test/**.test.js) with node's own test runner.
// Usage: node scripts/run-tests.mjs [unit|integration] [name-filter]
// Files run two at a time (the machine has 2 cores).
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
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
const mark = `DROVER_TEST_RUN=${process.pid}-${Date.now()}`;
// NODE_EXTRA_CA_CERTS (set on the machines this runs on) makes every Node start read a CA bundle,
// ~40 ms here, and the suite starts thousands of Node processes. Nothing in it talks TLS to a server whose
// certificate it does not trust explicitly (its HTTPS tests make their own), so the tests run without it.
const env = { ...process.env, DROVER_TEST_RUN: mark.slice(mark.indexOf('=') + 1) };
delete env.NODE_EXTRA_CA_CERTS;
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env });
// Every test tears down what it started; a process of this run still alive afterwards is a leak (a daemon a
// test forgot to stop). List it, end it, and fail the run, so a leak is found where it starts.
const leftovers = await runLeftovers(mark);
if (leftovers.length > 0) {
  console.error(`run-tests: ${leftovers.length} process(es) started by this run outlived it:\n${leftovers.map((p) => `  ${p.pid} ${p.cmd}`).join('\n')}`);
  for (const p of leftovers) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // ESRCH: gone meanwhile
    }
  }
  process.exit(1);
}
process.exit(r.status ?? 1);

/** Live (not zombie) processes whose environment carries this run's mark, after a short grace. */
async function runLeftovers(tag) {
  const scan = () => {
    const out = [];
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue;
        const environ = `${readFileSync(`/proc/${name}/environ`, 'utf8')}\0`;
        if (!environ.includes(`${tag}\0`)) continue;
        // a supervised program says which program it is
        const program = /\0SUPERVISOR_PROCESS_NAME=([^\0]*)\0/.exec(`\0${environ}`)?.[1];
        const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ').trim().slice(0, 120);
        // the parent and working directory say which test started it (tests work in their own temp dirs)
        const ppid = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
        let cwd = '?';
        try {
          cwd = readlinkSync(`/proc/${name}/cwd`);
        } catch {
          // not readable
        }
        out.push({ pid: Number(name), cmd: `${cmd}  (ppid ${ppid}, cwd ${cwd}${program === undefined ? '' : `, program ${program}`})` });
      } catch {
        // gone while we looked, or not readable: not one of ours
      }
    }
    return out;
  };
  // a test's last teardown may still be on its way (a guard's one-second grace)
  for (let i = 0; i < 30; i++) {
    if (scan().length === 0) return [];
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return scan();
}
