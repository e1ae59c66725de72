// Unix socket paths over 107 bytes (sun_path): Node 20 and 22 cut them short without an error, so drover
// would have listened at another path, outside the directory it was given, and left that socket behind.
// drover refuses them as config errors (exit 2, file and line, for `check` as for `up`): a named path, and
// the default control socket under a deep config directory or runtime_dir. No socket file appears.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fixture, makeTmpDir, runCli, writeConfig } from '../helpers/drover.js';

/** Every socket file under `dir`, however deep. */
function socketsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isSocket()) out.push(p);
    else if (st.isDirectory()) out.push(...socketsUnder(p));
  }
  return out;
}

test('a [unix_http_server] file over 107 bytes: up and check exit 2 naming file and line; no socket is created', async () => {
  const dir = makeTmpDir();
  const long = join(dir, 'd'.repeat(120 - dir.length), 'drover.sock');
  mkdirSync(join(long, '..'));
  const file = writeConfig(dir, `[unix_http_server]\nfile = ${long}\n\n[program:p]\ncommand = sleep 1000\n`);
  for (const verb of [['up', '-c', file], ['check', '-c', file]]) {
    const r = await runCli(verb, { cwd: dir });
    assert.equal(r.code, 2, `${verb.join(' ')}\n${r.output}`);
    assert.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2`), r.output);
    assert.match(r.stderr, /file.*at most 107 bytes, and this one is \d+/s, r.output);
  }
  assert.deepEqual(socketsUnder(dir), []);
});

test('the default control socket under a deep config directory: up and check exit 2 and say why; no socket is created', async () => {
  const root = makeTmpDir();
  // <deep>/.drover/drover.sock is 120 bytes
  const deep = join(root, 'p'.repeat(120 - root.length - '/.drover/drover.sock'.length - 1));
  mkdirSync(deep);
  const file = writeConfig(deep, `[program:p]\ncommand = sleep 1000\n`);
  for (const verb of [['up', '-c', file], ['check', '-c', file]]) {
    const r = await runCli(verb, { cwd: deep });
    assert.equal(r.code, 2, `${verb.join(' ')}\n${r.output}`);
    assert.match(r.stderr, /runtime_dir.*drover\.sock, in the \.drover directory beside the config file: a unix socket path can be at most 107 bytes, and this one is 120/s, r.output);
  }
  // a runtime_dir that makes it too long is named at its line
  const shallow = makeTmpDir();
  const named = writeConfig(shallow, `[supervisord]\nruntime_dir = ${join(deep, 'run')}\n\n[program:p]\ncommand = sleep 1000\n`);
  const r = await runCli(['check', '-c', named], { cwd: shallow });
  assert.equal(r.code, 2, r.output);
  assert.match(r.stderr, new RegExp(`${named.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2.*runtime_dir`, 's'), r.output);
  assert.match(r.stderr, new RegExp(`and this one is ${Buffer.byteLength(join(deep, 'run', 'drover.sock'))}`), r.output);
  assert.deepEqual(socketsUnder(root), []);
  assert.deepEqual(socketsUnder(shallow), []);
});

test('drover serve -b with a bad address or a unix path over 107 bytes: exit 2, the -b value named, nothing created', async () => {
  const dir = makeTmpDir();
  const long = `unix:${join(dir, 'v'.repeat(120 - dir.length))}.sock`;
  const cases: [string, RegExp][] = [
    [long, /^drover serve: -b unix:\S+: a unix socket path can be at most 107 bytes, and this one is 126 \(expected /],
    ['nonsense', /^drover serve: -b nonsense: not a socket address \(expected HOST:PORT/],
    ['127.0.0.1:99999', /^drover serve: -b 127\.0\.0\.1:99999: port out of range/],
  ];
  for (const [bind, message] of cases) {
    const r = await runCli(['serve', fixture('worker-app.mjs'), '-b', bind, '--runtime-dir', join(dir, 'rt')], { cwd: dir });
    assert.equal(r.code, 2, `${bind}\n${r.output}`);
    assert.match(r.stderr, message, r.output);
    assert.doesNotMatch(r.stderr, /serve\.ini/, r.output);
  }
  assert.deepEqual(readdirSync(dir), []);
});
