// `drover status` runs from the one-file bundle the build makes (src/cli/status-main.ts,
// scripts/bundle-status.mjs): the launcher opens the bundle and none of the CLI's separate modules (seen by
// strace), and the bundle answers exactly as the same command through main.js does — its help, a control
// socket that is not there, a bad option — output and exit code alike. Every other status test runs the
// bundle too, through the launcher.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTmpDir } from '../helpers/drover.js';
import { droverBin, repoRoot } from '../helpers/paths.js';

const MAIN = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

function run(args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 20_000, env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the launcher runs status from the bundle, opening none of the CLI\'s modules', () => {
  const dir = makeTmpDir('status-bundle');
  const trace = join(dir, 'trace');
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=openat', '-o', trace, process.execPath, droverBin, 'status', '-s', `unix://${join(dir, 'none.sock')}`], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.error, undefined, String(r.error));
  const opened = readFileSync(trace, 'utf8')
    .split('\n')
    .map((l) => /openat\([^"]*"([^"]+)"/.exec(l)?.[1])
    .filter((p): p is string => p !== undefined && p.includes('/dist/src/'));
  assert.ok(opened.some((p) => p.endsWith('/dist/src/cli/status.bundle.cjs')), `the bundle is opened: ${opened.join(' ')}`);
  const modules = opened.filter((p) => p.endsWith('.js'));
  assert.deepEqual(modules, [], 'no separate module of the CLI is opened');
});

test('the bundle answers as status through main.js does: help, no daemon, a bad option', () => {
  const dir = makeTmpDir('status-bundle');
  for (const args of [['--help'], ['-s', `unix://${join(dir, 'none.sock')}`], ['-s', `unix://${join(dir, 'none.sock')}`, '--json'], ['--no-such-option']]) {
    const bundled = run([droverBin, 'status', ...args]);
    const direct = run([MAIN, 'status', ...args]);
    assert.deepEqual(bundled, direct, `drover status ${args.join(' ')}`);
    assert.notEqual(bundled.stdout + bundled.stderr, '', `drover status ${args.join(' ')} says something`);
  }
});

test('status loads only the builtins it uses: no child_process while it reads a config\'s control sections', () => {
  const dir = makeTmpDir('status-bundle');
  // a config with [unix_http_server], so the lean reading runs (it imports the user lookup, which needs
  // child_process only to look someone up); the socket is not there, so status ends with "not running"
  const conf = join(dir, 'drover.conf');
  writeFileSync(conf, `[unix_http_server]\nfile = ${join(dir, 'none.sock')}\n\n[program:a]\ncommand = sleep 1\nuser = nobody\n`);
  const list = join(dir, 'loaded.cjs');
  writeFileSync(list, `process.on('exit', () => require('node:fs').writeSync(2, '\\nLOADED ' + process.moduleLoadList.join(',') + '\\n'));\n`);
  const r = spawnSync(process.execPath, ['--require', list, droverBin, 'status', '-c', conf], { encoding: 'utf8', timeout: 20_000 });
  assert.match(r.stderr, /no drover is running at unix:/, r.stderr);
  const loaded = /LOADED (.*)/.exec(r.stderr)?.[1]?.split(',') ?? [];
  assert.ok(loaded.includes('NativeModule net'), `the list is read: ${loaded.join(' ')}`);
  assert.deepEqual(loaded.filter((m) => /NativeModule (child_process|dgram)$/.test(m)), [], 'child_process and dgram are not loaded');
});

test('options before the command, as supervisorctl takes them: `drover -c FILE status` is `drover status -c FILE`', () => {
  const dir = makeTmpDir('status-bundle');
  const conf = join(dir, 'drover.conf');
  writeFileSync(conf, `[unix_http_server]\nfile = ${join(dir, 'none.sock')}\n\n[program:a]\ncommand = sleep 1\n`);
  // status runs from the bundle, pid through main.js: both see the moved options
  for (const [before, after] of [
    [['-c', conf, 'status'], ['status', '-c', conf]],
    [['-c', conf, '--json', 'status'], ['status', '-c', conf, '--json']],
    [[`--configuration=${conf}`, 'pid'], ['pid', `--configuration=${conf}`]],
    [['-s', `unix://${join(dir, 'none.sock')}`, 'pid'], ['pid', '-s', `unix://${join(dir, 'none.sock')}`]],
  ]) {
    const moved = run([droverBin, ...before!]);
    assert.deepEqual(moved, run([droverBin, ...after!]), `drover ${before!.join(' ')}`);
    assert.equal(moved.code, 7, `drover ${before!.join(' ')}: nothing runs there (exit 7)\n${moved.stdout}${moved.stderr}`);
  }
  const none = run([droverBin, '-c', conf]);
  assert.equal(none.code, 2, none.stderr);
  assert.match(none.stderr, /no command given, only options/);
});
