// LogFile against a real file: after something else empties the file (logrotate's copytruncate), the size
// limit counts from what is in the file, not from what drover wrote before; a rotation that fails leaves
// the file growing, and is tried again later.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LogFile } from '../../../src/logs/log-file.js';

test('copytruncate: a file emptied behind drover is not rotated early (its real size counts)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'drover-logfile-'));
  const path = join(dir, 'w.log');
  const file = new LogFile(path, { maxBytes: 4096, backups: 3, rotate: null, gzip: false });
  try {
    const line = Buffer.from(`${'x'.repeat(99)}\n`);
    for (let i = 0; i < 30; i++) file.write(line);
    await file.flush();
    assert.equal(statSync(path).size, 3000);
    truncateSync(path, 0); // what copytruncate does after its copy
    for (let i = 0; i < 20; i++) file.write(line);
    await file.flush();
    // 2000 bytes in the file: below the 4096 limit, so nothing was rotated
    assert.equal(existsSync(`${path}.1`), false, 'rotated although the file held only 2000 bytes');
    assert.equal(statSync(path).size, 2000);
    // and the limit still applies from there: 2100 more bytes pass 4096
    for (let i = 0; i < 21; i++) file.write(line);
    await file.flush();
    assert.equal(existsSync(`${path}.1`), true, 'the limit still rotates');
  } finally {
    await file.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a rotation that fails does not hang drover: the file grows on, one report, and rotation is tried again later', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'drover-logfile-'));
  const path = join(dir, 'r.log');
  // with backups = 2 the oldest backup is removed first: an immutable file there refuses it (EPERM, even to
  // root; a directory there no longer stops a rotation, it is skipped). Before the fix the pump found the
  // file still over its limit, rotated again at once, and looped synchronously for ever (100 % CPU, the
  // control socket dead, memory growing with the error reports): so the LogFile runs in a child that the
  // test can time out
  writeFileSync(`${path}.1`, 'old\n');
  writeFileSync(`${path}.2`, 'stuck\n');
  if (spawnSync('chattr', ['+i', `${path}.2`]).status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return t.skip('needs root and chattr +i on the temp directory');
  }
  const url = new URL('../../../src/logs/log-file.js', import.meta.url).href;
  const body = `
    import { LogFile } from ${JSON.stringify(url)};
    import { execFileSync } from 'node:child_process';
    import { existsSync, readFileSync, statSync } from 'node:fs';
    let clock = 1_000_000;
    const errors = [];
    const file = new LogFile(${JSON.stringify(path)}, { maxBytes: 100, backups: 2, rotate: null, gzip: false, now: () => clock, onError: (m) => errors.push(m) });
    const line = Buffer.from('x'.repeat(19) + '\\n');
    for (let i = 0; i < 40; i++) file.write(line);
    await file.flush();
    const grown = statSync(${JSON.stringify(path)}).size;
    const reports = errors.length;
    // the obstacle goes; a minute later the next write past the limit rotates
    execFileSync('chattr', ['-i', ${JSON.stringify(`${path}.2`)}]);
    clock += 61_000;
    for (let i = 0; i < 5; i++) file.write(line);
    await file.flush();
    await file.close();
    process.stdout.write(JSON.stringify({ grown, reports, errors, rotated: readFileSync(${JSON.stringify(`${path}.1`)}, 'utf8').length, live: statSync(${JSON.stringify(path)}).size, old: readFileSync(${JSON.stringify(`${path}.2`)}, 'utf8') }));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', body], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  try {
    assert.equal(signal, null, `the LogFile hung after a failed rotation (killed after 10 s)\nstdout: ${out}\nstderr: ${err}`);
    assert.equal(code, 0, err);
    const r = JSON.parse(out) as { grown: number; reports: number; errors: string[]; rotated: number; live: number; old: string };
    assert.equal(r.grown, 800, 'every line is in the live file, past its limit');
    assert.equal(r.reports, 1, `one report of the failure: ${JSON.stringify(r.errors)}`);
    assert.match(r.errors[0]!, /rotating .*r\.log: EPERM.*next try in 60 s/);
    // the retry: r.log (800 bytes) became r.log.1, the old r.log.1 became r.log.2, 100 bytes are live
    assert.equal(r.rotated, 800);
    assert.equal(r.old, 'old\n');
    assert.equal(r.live, 100);
  } finally {
    spawnSync('chattr', ['-i', `${path}.2`]); // when the child did not get as far
    rmSync(dir, { recursive: true, force: true });
  }
});

test('clear (clearProcessLogs) leaves a device used as the log in place: never a regular file in its stead', { skip: process.getuid?.() !== 0 && 'mknod needs root' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'drover-logfile-'));
  // a private null device, as /dev/null is one: supervisord removes it and starts a regular file there
  const path = join(dir, 'null');
  assert.equal(spawnSync('mknod', [path, 'c', '1', '3']).status, 0, 'mknod');
  const file = new LogFile(path, { maxBytes: 4096, backups: 3, rotate: null, gzip: false });
  try {
    file.write(Buffer.from('before\n'));
    await file.flush();
    file.clear();
    file.write(Buffer.from('after\n'));
    await file.flush();
    assert.equal(statSync(path).isCharacterDevice(), true, 'the device was replaced by a regular file');
    assert.deepEqual(readdirSync(dir), ['null']);
  } finally {
    await file.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
