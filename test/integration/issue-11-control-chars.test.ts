// Issue 11, finding 16 of the security review: process and group names could hold newline, tab, ESC, BEL
// (a forged line in drover.log, escapes in `status`), and program output reached the terminal raw through
// `drover tail` and `drover logs` (`\r\033[2K` erased the `name |` prefix). Names with control characters
// are now a config error at FILE:LINE; tail and logs show control characters as visible text when stdout
// is a terminal (--raw gives the bytes).
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Daemon, show } from '../helpers/daemon.js';
import { makeTmpDir, TIMEOUT_SCALE } from '../helpers/drover.js';
import { droverBin } from '../helpers/paths.js';

const TIMEOUT_MS = 15_000 * TIMEOUT_SCALE;
const dir = makeTmpDir('drover-issue11-names-');
after(() => rmSync(dir, { recursive: true, force: true }));

function check(name: string, text: string, env: Record<string, string> = {}): { file: string; r: SpawnSyncReturns<string> } {
  const caseDir = join(dir, name);
  mkdirSync(caseDir, { recursive: true });
  const file = join(caseDir, 'drover.ini');
  writeFileSync(file, text);
  const r = spawnSync(process.execPath, [droverBin, 'check', '-c', file], { cwd: caseDir, encoding: 'utf8', timeout: TIMEOUT_MS, env: { ...process.env, ...env } });
  return { file, r };
}

function describe(r: SpawnSyncReturns<string>): string {
  return `exit ${String(r.status)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

const P = '[supervisord]\n\n';
const NAME_CASES: readonly { name: string; text: string; line: number; key: string | null; codePoint: string; env?: Record<string, string> }[] = [
  // the review's forged drover.log line: a continuation line puts a newline (and a tab) into the name
  { name: 'newline-by-continuation', text: `${P}[program:app]\ncommand=/bin/true\nprocess_name = a\n\t2026-12-03T09.00.00.000Z\tINFO\tforged\tline\n`, line: 5, key: 'process_name', codePoint: 'U+000A' },
  { name: 'tab', text: `${P}[program:app]\ncommand=/bin/true\nprocess_name = a\tb\n`, line: 5, key: 'process_name', codePoint: 'U+0009' },
  { name: 'esc-in-section-header', text: `${P}[program:a\u001b[31mred]\ncommand=/bin/true\n`, line: 3, key: null, codePoint: 'U+001B' },
  { name: 'bel-in-group-header', text: `${P}[group:g\u0007]\nprograms=app\n\n[program:app]\ncommand=/bin/true\n`, line: 3, key: null, codePoint: 'U+0007' },
  { name: 'del', text: `${P}[program:app]\ncommand=/bin/true\nprocess_name = a\u007fb\n`, line: 5, key: 'process_name', codePoint: 'U+007F' },
  { name: 'c1-csi', text: `${P}[program:app]\ncommand=/bin/true\nprocess_name = a\u009b31mb\n`, line: 5, key: 'process_name', codePoint: 'U+009B' },
  { name: 'newline-from-environment', text: `${P}[program:app]\ncommand=/bin/true\nprocess_name = %(ENV_DROVER_T_NAME)s\n`, line: 5, key: 'process_name', codePoint: 'U+000A', env: { DROVER_T_NAME: 'a\nb' } },
];

for (const c of NAME_CASES) {
  test(`a name with a control character is a config error at FILE:LINE: ${c.name}`, () => {
    const { file, r } = check(c.name, c.text, c.env);
    assert.equal(r.status, 2, `expected exit 2\n${describe(r)}`);
    const line = r.stderr.split('\n').find((l) => l.startsWith(`${file}:${c.line}:`));
    assert.ok(line, `no error line for ${file}:${c.line}\n${describe(r)}`);
    if (c.key !== null) assert.ok(line.includes(` ${c.key}: `), describe(r));
    assert.ok(line.includes(`control character ${c.codePoint}`), `the message names ${c.codePoint}\n${describe(r)}`);
    assert.match(line, /drover refuses them/, describe(r));
  });
}

test('names without control characters still load (unicode letters included)', () => {
  const { r } = check('fine', `${P}[program:app]\ncommand=/bin/true\nprocess_name = café-1_x.y\n`);
  assert.equal(r.status, 0, describe(r));
});

// --- program output through tail and logs ---

/** What the program prints: cursor and line-erasing escapes, BEL, CR, DEL and a C1 CSI, then a plain line. */
const EVIL = 'evil\\r\\033[2K\\007forged\\177\\302\\23331m done';

let d: Daemon;

before(async () => {
  d = new Daemon(`[program:p]
command = /bin/sh -c "printf '${EVIL}\\nplain\\ttabbed\\r\\n'; exec sleep 1000000"
startsecs = 0
stdout_logfile = %(here)s/p.log
`);
  await d.up();
  for (let i = 0; i < 500; i++) {
    const r = await d.cli(['tail', 'p']);
    if (r.stdout.includes('plain')) return;
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error(`p's output never reached its log\n${d.daemonStderr()}`);
});

after(async () => {
  assert.deepEqual(await d.teardown(), [], 'nothing survives teardown');
});

/** Runs the CLI with a terminal as its stdout (util-linux `script` gives it a pty); returns what it printed. */
function onTerminal(args: readonly string[]): string {
  const cmd = [process.execPath, droverBin, ...args, '-c', d.file].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: d.dir, encoding: 'utf8', timeout: TIMEOUT_MS, env: { ...process.env, NO_COLOR: '1' } });
  assert.equal(r.status, 0, `${cmd}\n${describe(r)}`);
  // the pty turns each \n into \r\n
  return r.stdout.replace(/\r\n/g, '\n');
}

const CONTROLS = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/;

for (const args of [['tail', 'p'], ['logs', 'p']]) {
  test(`drover ${args.join(' ')} on a terminal shows control characters as visible text`, () => {
    const out = onTerminal(args);
    const lines = out.split('\n').filter((l) => l !== '');
    const evil = lines.find((l) => l.includes('evil'));
    assert.ok(evil, JSON.stringify(out));
    assert.ok(!CONTROLS.test(evil), `no control character reaches the terminal: ${JSON.stringify(evil)}`);
    assert.ok(evil.endsWith('evil^M^[[2K^Gforged^?M-^[31m done'), JSON.stringify(evil));
    if (args[0] === 'logs') assert.ok(evil.startsWith('p:p | evil'), `the name prefix stays: ${JSON.stringify(evil)}`);
    // tabs stay, and a CR that ends a line (CRLF output) is dropped, not shown
    assert.ok(lines.some((l) => l.endsWith('plain\ttabbed')), JSON.stringify(out));
  });

  test(`drover ${args.join(' ')} --raw on a terminal, and without a terminal, prints the bytes as they are`, async () => {
    const raw = onTerminal([...args, '--raw']);
    // (DEL and the C1 character do not come back through `script`'s pty, so only the C0 ones are checked)
    assert.ok(raw.includes('evil\r\u001b[2K\u0007forged'), JSON.stringify(raw));
    const piped = await d.cli(args);
    assert.equal(piped.code, 0, show(args, piped));
    assert.ok(piped.stdout.includes('evil\r\u001b[2K\u0007forged\u007f\u009b31m done'), JSON.stringify(piped.stdout));
  });
}

test('drover logs --json escapes every control character, C1 and DEL included (lossless)', async () => {
  const r = await d.cli(['logs', 'p', '--json']);
  assert.equal(r.code, 0, show(['logs', 'p', '--json'], r));
  assert.ok(!CONTROLS.test(r.stdout.replace(/\n/g, '')), JSON.stringify(r.stdout));
  const line = r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { line: string })
    .find((o) => o.line.startsWith('evil'));
  assert.equal(line?.line, 'evil\r\u001b[2K\u0007forged\u007f\u009b31m done');
});
