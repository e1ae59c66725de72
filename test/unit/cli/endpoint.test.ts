// The CLI finds a running drover from its config without resolving the programs (issue 16): its quick test and
// its lean reading of the control sections (config/control-socket.ts) must give exactly the endpoint the full
// loader gives, on every config the loader accepts. Reads files only; nothing is spawned.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { findEndpoint } from '../../../src/cli/endpoint.js';
import { readControlSections, type TypedSectionsReader } from '../../../src/config/control-socket.js';
import { readTypedConfig } from '../../../src/config/typed.js';
import { ConfigProblems, loadConfig } from '../../../src/config/load.js';
import { parseServerUrl, type Endpoint } from '../../../src/control/client.js';
import { controlSocketPath } from '../../../src/daemon/paths.js';
import { ConfigError, UsageError } from '../../../src/errors.js';
import { fixturesDir } from '../../helpers/paths.js';

const root = mkdtempSync(join(tmpdir(), 'drover-endpoint-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

const HOSTNAME = 'box';
const baseEnv = { DROVER_TEST_HOME: '/srv/app', DROVER_TEST_PORT: '8080', HOME: process.env['HOME'] ?? '/root' };

/**
 * What the CLI found before issue 16, with the whole Config: [supervisorctl] serverurl, else its control
 * socket; [supervisorctl]'s credentials, else, at its own socket, [unix_http_server]'s.
 */
function fullEndpoint(file: string, env: Record<string, string>): Endpoint {
  const config = loadConfig(file, { env }); // the CLI's host name, as findEndpoint uses
  const ctl = config.supervisorctl;
  const own = `unix://${controlSocketPath(config)}`;
  const target = ctl?.serverurl ?? own;
  const unix = target === own ? config.unixHttpServer : null;
  const creds =
    (ctl?.username ? { username: ctl.username, password: ctl.password ?? '' } : null) ??
    (unix?.username ? { username: unix.username, password: unix.password ?? '' } : null);
  const endpoint = parseServerUrl(target, creds);
  // the config's own socket is asked with the config's name (x-drover-config: E_OTHER_CONFIG)
  return target === own ? { ...endpoint, configFile: file } : endpoint;
}

/** Compares the CLI's endpoint and the lean sections with the full loader's on one config file. */
async function assertSameAsLoader(file: string, env: Record<string, string> = baseEnv): Promise<void> {
  const expected = fullEndpoint(file, env);
  const { endpoint } = await findEndpoint({ configuration: file }, env, dirname(file));
  assert.deepEqual(endpoint, expected, `findEndpoint differs from the full loader on ${file}`);
  // the lean reader also when the quick test would have answered
  const full = loadConfig(file, { env, hostname: HOSTNAME });
  const lean = readControlSections(file, { env, hostname: HOSTNAME });
  assert.equal(lean.supervisord.runtimeDir, full.supervisord.runtimeDir, `runtime_dir of ${file}`);
  assert.deepEqual(
    lean.unixHttpServer,
    full.unixHttpServer && { file: full.unixHttpServer.file, username: full.unixHttpServer.username, password: full.unixHttpServer.password },
    `[unix_http_server] of ${file}`,
  );
  assert.deepEqual(
    lean.supervisorctl,
    full.supervisorctl && { serverurl: full.supervisorctl.serverurl, username: full.supervisorctl.username, password: full.supervisorctl.password },
    `[supervisorctl] of ${file}`,
  );
}

/** Writes a config of several files under a fresh directory; returns the main file's path. */
function writeCase(name: string, files: Record<string, string>): string {
  const dir = join(root, name);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return join(dir, Object.keys(files)[0] as string);
}

const PROGRAM = '[program:p]\ncommand=/bin/sleep 1\n';

test('the differential configs (supervisor 4.2 fixtures) give the full loader\'s endpoint', async () => {
  const dir = join(fixturesDir, 'configs', 'diff');
  const files = readdirSync(dir).filter((f) => f.endsWith('.conf'));
  assert.ok(files.length >= 20);
  for (const f of files) await assertSameAsLoader(join(dir, f));
});

const CASES: Record<string, { files: Record<string, string>; env?: Record<string, string> }> = {
  'no control section': { files: { 'drover.conf': PROGRAM } },
  'a keyword in a comment only': { files: { 'drover.conf': `; supervisorctl and [include] are mentioned here\n${PROGRAM}` } },
  'unix_http_server file with %(here)s': { files: { 'drover.conf': `[unix_http_server]\nfile=%(here)s/ctl.sock\n${PROGRAM}` } },
  'unix_http_server relative file': { files: { 'drover.conf': `[unix_http_server]\nfile = run/ctl.sock ; inline comment\n${PROGRAM}`, 'run/keep': '' } },
  'unix_http_server file under ~': { files: { 'drover.conf': `[unix_http_server]\nfile=~/ctl.sock\n${PROGRAM}` } },
  'unix_http_server credentials': { files: { 'drover.conf': `[unix_http_server]\nfile=/tmp/x.sock\nusername=u\npassword={SHA}abc\n${PROGRAM}` } },
  'supervisorctl credentials win over the server\'s': {
    files: { 'drover.conf': `[unix_http_server]\nfile=/tmp/x.sock\nusername=u\npassword=p\n[supervisorctl]\nusername=c\npassword=q\nserverurl=unix:///elsewhere.sock\n${PROGRAM}` },
  },
  'supervisorctl serverurl over TCP': { files: { 'drover.conf': `[supervisorctl]\nserverurl=http://127.0.0.1:9001\nusername=c\npassword=q\n${PROGRAM}` } },
  'supervisorctl serverurl AUTO is the own socket': { files: { 'drover.conf': `[unix_http_server]\nfile=/tmp/x.sock\n[supervisorctl]\nserverurl = auto\n${PROGRAM}` } },
  'supervisorctl relative unix serverurl': { files: { 'drover.conf': `[supervisorctl]\nserverurl=unix://run/%(ENV_DROVER_TEST_PORT)s.sock\n${PROGRAM}` } },
  'serverurl at the own socket keeps the server\'s credentials': {
    files: { 'drover.conf': `[unix_http_server]\nfile=%(here)s/s.sock\nusername=u\npassword=p\n[supervisorctl]\nserverurl=unix://%(here)s/s.sock\n${PROGRAM}` },
  },
  'serverurl elsewhere does not take the server\'s credentials': {
    files: { 'drover.conf': `[unix_http_server]\nfile=/tmp/x.sock\nusername=u\npassword=p\n[supervisorctl]\nserverurl=http://127.0.0.1:9001\n${PROGRAM}` },
  },
  'supervisorctl username without password': { files: { 'drover.conf': `[supervisorctl]\nusername=c\n${PROGRAM}` } },
  'runtime_dir from the environment': { files: { 'drover.conf': `[supervisord]\nruntime_dir=%(ENV_RT)s/run\n${PROGRAM}` }, env: { RT: '/var/tmp/rt' } },
  '[drover] runtime_dir wins over [supervisord]': { files: { 'drover.conf': `[supervisord]\nruntime_dir=/a\n[drover]\nruntime_dir=/b\n${PROGRAM}` } },
  'runtime_dir under ~': { files: { 'drover.conf': `[drover]\nruntime_dir=~/rt\n${PROGRAM}` } },
  'relative runtime_dir': { files: { 'drover.conf': `[drover]\nruntime_dir=rel/rt\n${PROGRAM}` } },
  'empty runtime_dir is the default': { files: { 'drover.conf': `[drover]\nruntime_dir=\n${PROGRAM}` } },
  '[DEFAULT] runtime_dir reaches [supervisord]': { files: { 'drover.conf': `[DEFAULT]\nruntime_dir=/from/default\n[supervisord]\n${PROGRAM}` } },
  '[DEFAULT] runtime_dir without [supervisord] is ignored': { files: { 'drover.conf': `[DEFAULT]\nruntime_dir=/from/default\n${PROGRAM}` } },
  '[DEFAULT] credentials reach both sections': {
    files: { 'drover.conf': `[DEFAULT]\nusername=d\npassword=dp\n[unix_http_server]\nfile=/tmp/d.sock\n[supervisorctl]\n${PROGRAM}` },
  },
  '[supervisord] environment names reach the socket path': {
    files: { 'drover.conf': `[supervisord]\nenvironment=SOCKDIR="/tmp",A=1\n[unix_http_server]\nfile=%(ENV_SOCKDIR)s/%(ENV_A)s.sock\n${PROGRAM}` },
  },
  'environment expanded twice': {
    files: { 'drover.conf': `[supervisord]\nenvironment=D="%%(here)s/x",H="%%(host_node_name)s"\n[unix_http_server]\nfile=%(ENV_D)s/%(ENV_H)s.sock\n${PROGRAM}`, 'x/keep': '' },
  },
  'environment overrides the process environment': {
    files: { 'drover.conf': `[supervisord]\nenvironment=RT="/tmp"\nruntime_dir=%(ENV_RT)s\n[unix_http_server]\nfile=%(ENV_RT)s/s.sock\n${PROGRAM}` },
    env: { RT: '/process' },
  },
  'included file holds [unix_http_server] with its own %(here)s': {
    files: { 'main.conf': `[include]\nfiles = conf.d/*.conf\n${PROGRAM}`, 'conf.d/a.conf': '[unix_http_server]\nfile=%(here)s/a.sock\n' },
  },
  'later included file overrides an earlier one': {
    files: {
      'main.conf': `[include]\nfiles = conf.d/*.conf other/*.ini\n${PROGRAM}`,
      'conf.d/b.conf': '[unix_http_server]\nfile=/tmp/b.sock\nusername=b\npassword=b\n',
      'conf.d/a.conf': '[unix_http_server]\nfile=/tmp/a.sock\n',
      'other/z.ini': '[supervisorctl]\nusername=z\npassword=zz\n[supervisord]\nruntime_dir=%(here)s/rt\n',
    },
  },
  'include path from the environment and host name': {
    files: { 'main.conf': `[include]\nfiles=%(ENV_CONFD)s/%(host_node_name)s-*.conf\n${PROGRAM}`, 'cd/box-1.conf': '[drover]\nruntime_dir=%(here)s/../run\n', [`cd/${hostname()}-1.conf`]: '[drover]\nruntime_dir=/this/host\n' },
    env: { CONFD: '{dir}/cd' },
  },
  'nested [include] in an included file is ignored': {
    files: {
      'main.conf': `[include]\nfiles=inc/one.conf\n${PROGRAM}`,
      'inc/one.conf': '[include]\nfiles=two.conf\n[program:q]\ncommand=/bin/true\n',
      'inc/two.conf': '[unix_http_server]\nfile=/tmp/never.sock\n',
      'two.conf': '[unix_http_server]\nfile=/tmp/never-either.sock\n',
    },
  },
  'include that matches nothing': { files: { 'main.conf': `[include]\nfiles=nothing/*.conf\n[unix_http_server]\nfile=/tmp/n.sock\n${PROGRAM}` } },
  'main file %(here)s with an include (expand_here)': {
    files: { 'main.conf': `[include]\nfiles=sub/*.conf\n[supervisord]\nruntime_dir=%(here)s/run\n${PROGRAM}`, 'sub/x.conf': '[program:x]\ncommand=/bin/true\n' },
  },
  'a unix_http_server-prefixed section name': { files: { 'drover.conf': `[unix_http_server_extra]\nfile=/tmp/prefixed.sock\n${PROGRAM}` } },
  'continuation lines and key case': { files: { 'drover.conf': `[unix_http_server]\nFILE = /tmp/cont\n  inued.sock\n${PROGRAM}` } },
};

for (const [name, c] of Object.entries(CASES)) {
  test(`same endpoint as the full loader: ${name}`, async () => {
    const main = writeCase(name.replace(/[^a-z0-9]+/gi, '-'), c.files);
    const env: Record<string, string> = { ...baseEnv };
    for (const [k, v] of Object.entries(c.env ?? {})) env[k] = v.replace('{dir}', dirname(main));
    await assertSameAsLoader(main, env);
  });
}

test('a config of 1000 programs and includes: same endpoint, found without resolving the programs', async () => {
  const programs = Array.from({ length: 1000 }, (_, i) => `[program:p${i}]\ncommand=/bin/sleep ${i}\n`).join('');
  const main = writeCase('big', {
    'supervisord.conf': `[include]\nfiles=conf.d/*.conf\n[supervisord]\nenvironment=S="%(here)s/s"\n${programs}`,
    'conf.d/ctl.conf': '[unix_http_server]\nfile=%(ENV_S)s.sock\nusername=a\npassword=b\n',
  });
  await assertSameAsLoader(main);
});

test('a problem in a control key is reported as the full loader reports it', async () => {
  const cases: Record<string, Record<string, string>> = {
    'no file': { 'drover.conf': `[unix_http_server]\nusername=u\npassword=p\n${PROGRAM}` },
    'username alone': { 'drover.conf': `[unix_http_server]\nfile=/tmp/s.sock\nusername=u\n${PROGRAM}` },
    'unknown name in runtime_dir': { 'drover.conf': `[drover]\nruntime_dir=%(ENV_DROVER_NO_SUCH_VAR)s\n${PROGRAM}` },
    'environment name in runtime_dir': { 'drover.conf': `[drover]\nenvironment=X=1\nruntime_dir=%(ENV_X)s\n${PROGRAM}` },
    'bad environment': { 'drover.conf': `[drover]\nenvironment=A="unbalanced\n[unix_http_server]\nfile=/tmp/s.sock\n${PROGRAM}` },
    'unknown name in a unix server password': { 'drover.conf': `[unix_http_server]\nfile=/tmp/s.sock\nusername=u\npassword=%(ENV_DROVER_NO_SUCH_VAR)s\n${PROGRAM}` },
    'bad expansion in a password': { 'drover.conf': `[supervisorctl]\nusername=u\npassword=100%\n${PROGRAM}` },
    'include without files': { 'drover.conf': `[include]\n${PROGRAM}` },
    'unknown name in include files': { 'drover.conf': `[include]\nfiles=%(ENV_DROVER_NO_SUCH_VAR)s/*.conf\n${PROGRAM}` },
    'syntax error in an included file': { 'drover.conf': `[include]\nfiles=x.conf\n${PROGRAM}`, 'x.conf': 'no section header here\n' },
    'socket path too long': { 'drover.conf': `[unix_http_server]\nfile=/tmp/${'s'.repeat(110)}.sock\n${PROGRAM}` },
  };
  for (const [name, files] of Object.entries(cases)) {
    const main = writeCase(`bad-${name.replace(/[^a-z0-9]+/gi, '-')}`, files);
    const full = catchProblems(() => loadConfig(main, { env: baseEnv, hostname: HOSTNAME }));
    const lean = catchProblems(() => readControlSections(main, { env: baseEnv, hostname: HOSTNAME }));
    assert.ok(full.length > 0 && lean.length > 0, `${name}: both refuse (full ${full.length}, lean ${lean.length})`);
    for (const p of lean) assert.ok(full.includes(p), `${name}: the lean reading reports ${p}, which the full loader does not: ${full.join(' | ')}`);
    await assert.rejects(findEndpoint({ configuration: main }, baseEnv, root), ConfigError, name);
  }
  const missing = join(root, 'missing.conf');
  assert.deepEqual(catchProblems(() => readControlSections(missing, { env: baseEnv })), catchProblems(() => loadConfig(missing, { env: baseEnv })));
});

test('a problem outside the control keys does not stop the CLI from finding drover (as supervisorctl)', async () => {
  const main = writeCase('lenient', { 'drover.conf': '[unix_http_server]\nfile=/tmp/lenient.sock\n[program:bad]\nnumprocs=2\n' });
  assert.throws(() => loadConfig(main, { env: baseEnv }), ConfigProblems);
  const { endpoint } = await findEndpoint({ configuration: main }, baseEnv, root);
  assert.equal(endpoint.socketPath, '/tmp/lenient.sock');
});

test('a typed config: its control sections are read as its INI twin\'s, and problems elsewhere are dropped with their sections', () => {
  const main = writeCase('typed-lenient', { 'drover.config.mjs': '' });
  // the module's value as the evaluator would give it (no child Node here): a bad program value, a bad
  // chmod (not a key the lookup uses) and an unknown top-level key, none of them the lookup's business
  const value = {
    supervisord: { runtime_dir: '%(here)s/run' },
    unix_http_server: { file: '%(here)s/ctl.sock', chmod: 'x', username: 'u', password: 'p' },
    programs: { c: { command: 'sleep 1', numprocs: 'two' }, d: { command: { '\u0000': 'a function' } } },
    prgrams: {},
  };
  const read: TypedSectionsReader = (doc, file) => readTypedConfig(doc, value, file);
  const twin = writeCase('typed-lenient-ini', { 'drover.conf': '[supervisord]\nruntime_dir=%(here)s/run\n[unix_http_server]\nfile=%(here)s/ctl.sock\nusername=u\npassword=p\n' });
  const typed = readControlSections(main, { env: baseEnv, hostname: HOSTNAME }, read);
  const ini = readControlSections(twin, { env: baseEnv, hostname: HOSTNAME });
  assert.equal(typed.unixHttpServer?.file, join(dirname(main), 'ctl.sock'));
  assert.equal(typed.supervisord.runtimeDir, join(dirname(main), 'run'));
  assert.deepEqual({ ...typed.unixHttpServer, file: '' }, { ...ini.unixHttpServer, file: '' });
  // a problem in a key the lookup uses is still reported, at its property path
  const bad: TypedSectionsReader = (doc, file) => readTypedConfig(doc, { unix_http_server: { file: ['a', 'b'] }, programs: { c: { numprocs: 'two' } } }, file);
  const problems = catchProblems(() => readControlSections(main, { env: baseEnv }, bad));
  assert.equal(problems.length, 1, problems.join('\n'));
  assert.match(problems[0] ?? '', /drover\.config\.mjs: unix_http_server\.file: is an array, but this key takes one value/);
});

function catchProblems(f: () => unknown): string[] {
  try {
    f();
    return [];
  } catch (e) {
    if (!(e instanceof ConfigProblems)) throw e;
    return e.message.split('\n');
  }
}

test('a unix server URL whose path is over 107 bytes is refused, not cut short', () => {
  const long = `/tmp/${'u'.repeat(110)}.sock`;
  assert.throws(() => parseServerUrl(`unix://${long}`), /bad server URL .*: a unix socket path can be at most 107 bytes, and this one is 120/);
  assert.equal(parseServerUrl(`unix:///tmp/${'u'.repeat(102)}`).socketPath, `/tmp/${'u'.repeat(102)}`);
});

test('a file with content before its first section is parsed (a config error), however many comment lines come first', async () => {
  // CRLF comment lines: the quick test's pattern once backtracked twice per line (2^N: 1.3 s at 24 lines,
  // ~5 s at 26); linear now, so well under the bound below (a guard against the blow-up, not a benchmark)
  const header = '; a comment\r\n'.repeat(26);
  const stray = writeCase('stray-key', { 'supervisord.conf': `${header}stray = 1\r\n[program:p]\r\ncommand=/bin/sleep 1\r\n` });
  const started = process.hrtime.bigint();
  await assert.rejects(findEndpoint({ configuration: stray }, baseEnv, dirname(stray)), /a key before any \[section\] header/);
  assert.ok(process.hrtime.bigint() - started < 2_000_000_000n, 'answered within 2 s');
  // the same comments before a section: a config, read the quick way
  const fine = writeCase('commented', { 'supervisord.conf': `${header}${PROGRAM}` });
  await assertSameAsLoader(fine);
});

test('-s and [supervisorctl] serverurl: -s wins; the credentials are -u/-p over [supervisorctl]\'s either way', async () => {
  const main = writeCase('precedence', {
    'drover.conf': `[unix_http_server]\nfile=%(here)s/own.sock\nusername=own\npassword=ownpw\n[supervisorctl]\nserverurl=http://127.0.0.1:9001\nusername=c\npassword=cpw\n${PROGRAM}`,
  });
  const dir = dirname(main);
  const find = async (opts: Parameters<typeof findEndpoint>[0], env: Record<string, string> = baseEnv): Promise<Endpoint> => (await findEndpoint(opts, env, dir)).endpoint;
  assert.deepEqual(await find({ configuration: main }), parseServerUrl('http://127.0.0.1:9001', { username: 'c', password: 'cpw' }));
  assert.deepEqual(await find({ configuration: main, serverUrl: 'http://127.0.0.1:9002' }), parseServerUrl('http://127.0.0.1:9002', { username: 'c', password: 'cpw' }));
  assert.deepEqual(await find({ configuration: main, serverUrl: 'http://127.0.0.1:9002', password: 'x' }), parseServerUrl('http://127.0.0.1:9002', { username: 'c', password: 'x' }));
  assert.deepEqual(await find({ configuration: main, serverUrl: 'http://127.0.0.1:9002', username: 'v' }), parseServerUrl('http://127.0.0.1:9002', { username: 'v', password: '' }));
  // -s at the config's own socket: its [unix_http_server] credentials would fit, but [supervisorctl]'s come first
  assert.deepEqual(await find({ configuration: main, serverUrl: `unix://${dir}/own.sock` }), parseServerUrl(`unix://${dir}/own.sock`, { username: 'c', password: 'cpw' }));
  // without -c, -s and DROVER_URL read no file: the credentials of a config in the current directory are not sent
  assert.deepEqual(await find({ serverUrl: 'http://127.0.0.1:9002' }), parseServerUrl('http://127.0.0.1:9002', null));
  assert.deepEqual(await find({}, { ...baseEnv, DROVER_URL: 'http://127.0.0.1:9003' }), parseServerUrl('http://127.0.0.1:9003', null));
  // the file's serverurl beats nothing in the environment but is beaten by DROVER_URL only without -c
  assert.deepEqual(await find({ configuration: main }, { ...baseEnv, DROVER_URL: 'http://127.0.0.1:9003' }), parseServerUrl('http://127.0.0.1:9001', { username: 'c', password: 'cpw' }));
  const bad = writeCase('bad-serverurl', { 'drover.conf': `[supervisorctl]\nserverurl=ftp://x\n${PROGRAM}` });
  await assert.rejects(findEndpoint({ configuration: bad }, baseEnv, root), (e: Error) => e instanceof UsageError && /drover\.conf: \[supervisorctl\] serverurl: bad server URL "ftp:\/\/x": only unix:\/\/ and http:\/\/ are supported/.test(e.message));
});
