// `drover unit` prints units that systemd's own parser accepts without a warning (`systemd-analyze verify`
// works without a running systemd: it loads the file into a private manager), as a system and a user unit,
// with paths that need quoting; a broken unit is caught the same way (negative control).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { renderSystemdUnit, stopBudgetSecs } from '../../src/daemon/systemd-unit.js';
import { makeTmpDir, runCli, writeConfig } from '../helpers/drover.js';
import { droverBin } from '../helpers/paths.js';

const ANALYZE = '/usr/bin/systemd-analyze';
const skip = !existsSync(ANALYZE) && 'systemd-analyze is not installed (scripts/install-test-deps.sh installs systemd)';

let dir: string;
before(() => {
  dir = makeTmpDir('drover-unit-');
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `systemd-analyze verify` on `text` saved as NAME.service: its exit code and everything it printed. */
function verify(text: string, opts: { user?: boolean; name?: string } = {}): { code: number | null; output: string } {
  const file = join(dir, `${opts.name ?? 'drover'}.service`);
  writeFileSync(file, text);
  // a user manager wants a runtime directory, which a machine without a login session lacks
  const xdg = join(dir, 'xdg-runtime');
  mkdirSync(xdg, { recursive: true, mode: 0o700 });
  const r = spawnSync(ANALYZE, ['verify', '--man=no', ...(opts.user ? ['--user'] : []), file], {
    encoding: 'utf8',
    env: { ...process.env, XDG_RUNTIME_DIR: xdg, SYSTEMD_LOG_COLOR: '0' },
    timeout: 30_000,
  });
  // parse problems are warnings ("…, ignoring") with exit status 0: a clean unit prints nothing at all
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

const CONFIG = `[supervisord]
minfds = 4096

[program:web]
command = /bin/sleep 1000
priority = 100
stopwaitsecs = 20

[program:worker]
command = /bin/sleep 1000
priority = 200
stopwaitsecs = 7
`;

test('the system unit for a config verifies cleanly', { skip }, async () => {
  const conf = writeConfig(dir, CONFIG);
  const r = await runCli(['unit', '-c', conf]);
  assert.equal(r.code, 0, r.output);
  assert.match(r.stdout, /^Type=notify$/m);
  assert.match(r.stdout, new RegExp(`^ExecStart=${process.execPath} ${droverBin} up -c ${conf}$`, 'm'));
  assert.match(r.stdout, /^LimitNOFILE=4096:524288$/m);
  assert.match(r.stdout, /^TimeoutStopSec=37$/m, '20 s + 7 s for two levels, and the margin');
  assert.deepEqual(verify(r.stdout), { code: 0, output: '' });
});

test('the user unit with a watchdog verifies cleanly as a user unit', { skip }, async () => {
  const conf = writeConfig(dir, CONFIG);
  const r = await runCli(['unit', '-c', conf, '--user', '--watchdog', '30', '--name', 'my-app']);
  assert.equal(r.code, 0, r.output);
  assert.match(r.stdout, /^WantedBy=default\.target$/m);
  assert.match(r.stdout, /^WatchdogSec=30$/m);
  assert.deepEqual(verify(r.stdout, { user: true, name: 'my-app' }), { code: 0, output: '' });
});

test('paths with spaces, % and $ reach systemd intact', { skip }, () => {
  // systemd checks that the executable exists: a node reached through such a path proves the quoting
  const odd = join(dir, 'my node%1$x');
  mkdirSync(odd, { recursive: true });
  const node = join(odd, 'node');
  if (!existsSync(node)) symlinkSync(process.execPath, node);
  const text = renderSystemdUnit({
    name: 'odd',
    user: false,
    nodePath: node,
    droverPath: droverBin,
    configPath: join(odd, 'super visord.conf'),
    workingDirectory: odd,
    minfds: 1024,
    stopTimeoutSecs: stopBudgetSecs({ processes: [] }),
    watchdogSecs: null,
    version: 'test',
  });
  assert.deepEqual(verify(text, { name: 'odd' }), { code: 0, output: '' });
  // negative control: the same path written without quoting and escaping is refused ("%1" is no specifier)
  const naive = text.replace(/^ExecStart=.*$/m, `ExecStart=${node} ${droverBin} up`);
  const v = verify(naive, { name: 'odd' });
  assert.notEqual(v.code, 0);
  assert.match(v.output, /Failed to resolve unit specifiers in node%1\$x\/node/);
  // and with % escaped but no quotes, the space splits the path: that executable does not exist
  const unquoted = text.replace(/^ExecStart=.*$/m, `ExecStart=${node.replace(/%/g, '%%')} ${droverBin} up`);
  assert.match(verify(unquoted, { name: 'odd' }).output, /Command .*\/my is not executable/);
});

test('negative control: verify reports a broken unit', { skip }, async () => {
  const r = await runCli(['unit', '-c', writeConfig(dir, CONFIG)]);
  const broken = r.stdout.replace('KillMode=mixed', 'KillMode=mix').replace('Type=notify', 'Type=notify-when-ready');
  const v = verify(broken);
  assert.match(v.output, /Failed to parse service type, ignoring: notify-when-ready/);
  assert.match(v.output, /Failed to parse kill mode specification, ignoring: mix/);
});

test('a bad config, name or watchdog is a usage error (exit 2) and prints no unit', async () => {
  const bad = writeConfig(dir, '[program:x]\ncommand = /bin/true\nstopwaitsecs = soon\n', 'bad.conf');
  const r1 = await runCli(['unit', '-c', bad]);
  assert.equal(r1.code, 2, r1.output);
  assert.match(r1.stderr, /bad\.conf:3: .*stopwaitsecs/);
  assert.equal(r1.stdout, '');
  const conf = writeConfig(dir, CONFIG);
  const r2 = await runCli(['unit', '-c', conf, '--name', 'a b']);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /--name must be a unit name .*got "a b"/);
  const r3 = await runCli(['unit', '-c', conf, '--watchdog', '0']);
  assert.equal(r3.code, 2);
  assert.match(r3.stderr, /--watchdog must be a whole number of seconds from 1, got "0"/);
  const r4 = await runCli(['unit', '-c', join(dir, 'missing.conf')]);
  assert.equal(r4.code, 2, r4.output);
  assert.equal(r4.stdout, '');
});

// Review F3: a user manager runs drover as its own user, who cannot switch to another: a program with
// another `user =` would end fatal, READY=1 would never come, and systemd would restart drover in a loop
test('--user warns on stderr, once per program, for each `user =` that is not the invoking user; the unit is still printed (exit 0)', async () => {
  const me = process.getuid?.() ?? 0;
  const conf = writeConfig(
    dir,
    `[program:web]
command = /bin/sleep 1000
user = nobody
numprocs = 2
process_name = %(program_name)s_%(process_num)s

[program:mine]
command = /bin/sleep 1000
user = ${me}

[program:plain]
command = /bin/sleep 1000
`,
    'users.conf',
  );
  const r = await runCli(['unit', '-c', conf, '--user']);
  assert.equal(r.code, 0, r.output);
  assert.match(r.stdout, /^WantedBy=default\.target$/m);
  const warnings = r.stderr.split('\n').filter((l) => l.startsWith('drover unit: warning: '));
  assert.equal(warnings.length, 1, r.output);
  assert.match(warnings[0] ?? '', new RegExp(`program "web" has user = nobody, but a user manager runs drover as its own user \\(you: ${userInfo().username}\\), who cannot switch users: .*READY=1 would never come.*Print a system unit \\(without --user\\)`));
  // --json keeps its one object on stdout; the warning stays on stderr
  const j = await runCli(['unit', '-c', conf, '--user', '--json']);
  assert.equal(j.code, 0, j.output);
  assert.equal((JSON.parse(j.stdout) as { ok: boolean }).ok, true);
  assert.match(j.stderr, /warning: program "web" has user = nobody/);
  // a system unit's drover runs as root and switches users itself: nothing to warn about
  const sys = await runCli(['unit', '-c', conf]);
  assert.equal(sys.code, 0, sys.output);
  assert.equal(sys.stderr, '');
});

test('--user run by a uid with no passwd entry (a container\'s arbitrary uid): the unit is printed, the warning names the uid', () => {
  const dir = makeTmpDir();
  spawnSync('chmod', ['755', dir]);
  const file = writeConfig(dir, '[program:web]\ncommand = /bin/sleep 1000\nuser = nobody\n');
  spawnSync('chmod', ['644', file]);
  // 54321: no passwd entry on a test machine (os.userInfo() throws ENOENT for it)
  const r = spawnSync('setpriv', ['--reuid=54321', '--regid=54321', '--clear-groups', process.execPath, droverBin, 'unit', '--user', '-c', file], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
  const said = `exit ${String(r.status)}\n--- stderr:\n${r.stderr}`;
  assert.equal(r.status, 0, said);
  assert.match(r.stdout, /^ExecStart=/m, said);
  assert.match(r.stderr, /^drover unit: warning: program "web" has user = nobody, but a user manager runs drover as its own user \(you: 54321\)/m, said);
  assert.doesNotMatch(r.stderr, /internal error/, said);
});
