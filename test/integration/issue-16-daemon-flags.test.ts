// Issue 16 (memory): the master runs with the daemon's V8 flags (1 MB semi-spaces; the interpreter only unless
// it runs drover workers, whose task queue needs the compilers), and keeps WebAssembly, which fetch() needs.
// A foreground `drover up` replaces itself with a Node that has them — the same pid, the same stdio, nothing
// of the switch in the programs' environment — and a daemon child is spawned with them.
// DROVER_V8_FLAGS replaces them ('' for none); a word that is not a flag is a usage error (exit 2).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { noInspectorFlags } from '../../src/os/node-features.js';
import { Daemon, show } from '../helpers/daemon.js';
import { CliRun, fixture, makeTmpDir, runCli, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';

const node = process.execPath;
const DEFAULT_FLAGS = /flags (.* )?--max-semi-space-size=1 --no-opt --no-maglev --no-sparkplug$/m;

function config(dir: string): string {
  return writeConfig(dir, `[program:env]\ncommand = ${node} ${fixture('print-env.mjs')}\nstartsecs = 0\nautorestart = false\n`);
}

/** Runs `drover up` in the foreground until its program has printed its environment; returns what it saw. */
async function foreground(env: Record<string, string | undefined>): Promise<{ run: CliRun; flagsLine: string; programEnv: Record<string, string> }> {
  const dir = makeTmpDir();
  const run = new CliRun(['up', '-c', config(dir)], { cwd: dir, env });
  try {
    const up = await run.waitForLine(/drover up: pid (\d+)/);
    assert.equal(Number(up[1]), run.pid, `the master kept the pid the CLI started with\n${run.describe()}`);
    const flagsLine = (await run.waitForLine(/INFO node v[\d.]+, (.*)/))[1] as string;
    const m = await run.waitForLine(/env \| ENV (.*)/);
    return { run, flagsLine, programEnv: (JSON.parse(m[1] as string) as { env: Record<string, string> }).env };
  } catch (err) {
    await teardown(run);
    throw err;
  }
}

test('a foreground master takes the daemon V8 flags in place: same pid, its output still here, nothing in the programs\' environment', async () => {
  const { run, flagsLine, programEnv } = await foreground({ DROVER_V8_FLAGS: undefined });
  try {
    assert.match(flagsLine, DEFAULT_FLAGS, run.describe());
    assert.deepEqual(Object.keys(programEnv).filter((k) => k.startsWith('DROVER_V8')), []);
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());
  } finally {
    await teardown(run);
  }
});

test('DROVER_V8_FLAGS replaces the flags, or drops them when empty', async () => {
  // --disable-sigusr1 is not a V8 flag: the master has it wherever Node does (docs/security.md)
  const usr1 = noInspectorFlags().map((f) => `${f} `).join('');
  const cases = [
    ['--max-semi-space-size=2', new RegExp(`^flags ${usr1}--max-semi-space-size=2$`)],
    ['', usr1 === '' ? /^no flags$/ : new RegExp(`^flags ${usr1.trim()}$`)],
  ] as const;
  for (const [value, expected] of cases) {
    const { run, flagsLine } = await foreground({ DROVER_V8_FLAGS: value });
    try {
      assert.match(flagsLine, expected, `DROVER_V8_FLAGS=${JSON.stringify(value)}\n${run.describe()}`);
    } finally {
      await teardown(run);
    }
  }
});

test('a DROVER_V8_FLAGS word that is not a flag is a usage error', async () => {
  const dir = makeTmpDir();
  const r = await runCli(['up', '-c', config(dir)], { cwd: dir, env: { DROVER_V8_FLAGS: '--max-semi-space-size=1 lite' } });
  assert.equal(r.code, 2, r.output);
  assert.match(r.stderr, /DROVER_V8_FLAGS: "lite" is not a flag/);
});

test('a daemon child is started with the flags', async () => {
  const d = new Daemon(`[program:env]\ncommand = ${node} ${fixture('print-env.mjs')}\nstartsecs = 0\nautorestart = false\n`);
  try {
    const r = await d.up();
    assert.equal(r.code, 0, show(['up'], r));
    const log = (): string => readFileSync(join(d.dir, '.drover', 'drover.log'), 'utf8');
    await waitForCondition(() => /INFO node v[\d.]+, flags/.test(log()), 'the flags line', { describe: () => d.daemonStderr() });
    assert.match(log(), DEFAULT_FLAGS);
  } finally {
    assert.deepEqual(await d.teardown(), []);
  }
});

test('a master that runs drover workers keeps the optimizing compiler: 1 MB semi-spaces only', async () => {
  const dir = makeTmpDir();
  const run = new CliRun(['serve', fixture('worker-app.mjs'), '-w', '1', '-b', `unix:${join(dir, 'app.sock')}`, '--runtime-dir', join(dir, 'rt')], { cwd: dir, env: { DROVER_V8_FLAGS: undefined } });
  try {
    const up = await run.waitForLine(/drover up: pid (\d+)/);
    assert.equal(Number(up[1]), run.pid, run.describe());
    const line = (await run.waitForLine(/INFO node v[\d.]+, (.*)/))[1] as string;
    assert.equal(line, `flags ${[...noInspectorFlags(), '--max-semi-space-size=1'].join(' ')}`, run.describe());
  } finally {
    await teardown(run, [], dir);
  }
});

test('the master keeps WebAssembly and fetch(): a hook that imports node:http and fetches works, and the master lives on', async () => {
  // Lite mode (and --jitless) remove WebAssembly; Node 20 and 22 then kill the process when undici loads
  // (a fetch(), or on Node 22 the ESM import of node:http), and Node 24's fetch() fails. Hooks run in the master.
  const server = createServer((_req, res) => res.end('pong'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const dir = makeTmpDir();
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import http from 'node:http';
export async function when_ready() {
  const r = await fetch(${JSON.stringify(url)});
  console.log('HOOK fetch ' + r.status + ' ' + (await r.text()) + ' wasm ' + typeof WebAssembly + ' http ' + typeof http.request);
}
`,
  );
  const run = await startUp(writeConfig(dir, `[supervisord]\nhooks = hooks.mjs\n\n[program:sleeper]\ncommand = sleep 1000\nstartsecs = 0\n`), { DROVER_V8_FLAGS: undefined });
  try {
    assert.match((await run.waitForLine(/INFO node v[\d.]+, (.*)/))[1] as string, /^flags (--disable-sigusr1 )?--max-semi-space-size=1/, run.describe());
    await run.waitForLine(/HOOK fetch 200 pong wasm object http function/);
    // still supervising: a status request is answered after the fetch
    const r = await runCli(['status', '-c', join(dir, 'supervisord.conf')], { cwd: dir });
    assert.equal(r.code, 0, `${r.output}\n${run.describe()}`);
    assert.match(r.stdout, /sleeper\s+running/);
    run.signal('SIGTERM');
    assert.equal((await run.waitForExit(15_000)).code, 0, run.describe());
  } finally {
    server.close();
    await teardown(run, [], dir);
  }
});
