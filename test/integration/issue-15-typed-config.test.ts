// Typed config (issue 15, item 5): drover.config.ts resolves exactly as its INI twin (every differential
// config, rewritten as a typed config with numbers, booleans, arrays and objects), errors name the file and
// the property path, the default lookup prefers it, a reload (drover reload, HUP) evaluates it anew — also
// the modules it imports — and the exported types make the compiler flag a misspelt key or a wrong type.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { keyValuePairs } from '../../src/config/datatypes.js';
import { createIniDocument, readIni, sectionItems } from '../../src/config/ini.js';
import { SCHEMA, sectionKind, type KeySpec } from '../../src/config/schema.js';
import { CliRun, makeTmpDir, runCli, teardown, waitForCondition } from '../helpers/drover.js';
import { fixturesDir, repoRoot } from '../helpers/paths.js';
import { linkDrover } from '../helpers/shared.js';

const diffDir = join(fixturesDir, 'configs', 'diff');
const env = { DROVER_TEST_HOME: '/srv/app', DROVER_TEST_PORT: '8080' };

/** The typed config an INI file means: sections as top-level keys and records, values typed where they can be. */
function typedFromIni(iniFile: string): Record<string, unknown> {
  const doc = createIniDocument();
  readIni(doc, readFileSync(iniFile, 'utf8'), iniFile);
  const out: Record<string, Record<string, unknown>> = {};
  const records: Record<string, string> = { program: 'programs', group: 'groups', socket: 'sockets', eventlistener: 'eventlisteners', 'fcgi-program': 'fcgi_programs' };
  for (const name of doc.sections.keys()) {
    const kind = sectionKind(name);
    if (kind === null || kind.kind === 'ignored') continue;
    const table = SCHEMA[kind.kind] as Readonly<Record<string, KeySpec<unknown>>>;
    const body: Record<string, unknown> = {};
    for (const [key, entry] of sectionItems(doc, name)) body[key] = typedValue(table[key], entry.value);
    const record = records[kind.kind];
    if (record) (out[record] ??= {})[kind.name] = body;
    else out[name] = body;
  }
  return out;
}

/** An INI value as a typed config would write it (a string where the INI text holds an expansion or is odd). */
function typedValue(spec: KeySpec<unknown> | undefined, raw: string): unknown {
  if (spec === undefined || raw.includes('%(')) return raw;
  if (spec.type === 'integer' && /^-?\d+$/.test(raw.trim())) return Number(raw);
  if (spec.type === 'boolean' && /^(true|false)$/i.test(raw.trim())) return /^true$/i.test(raw.trim());
  if (spec.typed === 'octal' && /^0?[0-7]+$/.test(raw.trim())) return parseInt(raw, 8);
  if (spec.typed === 'list') return raw.split(',').map((s) => (/^\s*\d+\s*$/.test(s) ? Number(s) : s.trim()));
  if (spec.typed === 'words') return raw.split(/\s+/).filter(Boolean);
  if (spec.typed === 'pairs') {
    let skipped = false;
    try {
      const pairs = keyValuePairs(raw, () => (skipped = true));
      if (!skipped && Object.values(pairs).every((v) => !/^['"]|['"]$/.test(v) && !(v.includes('"') && v.includes("'")))) return pairs;
    } catch {
      // not pairs the typed form can hold: keep the INI text
    }
  }
  return raw;
}

function typedSource(config: Record<string, unknown>): string {
  return `import { defineConfig, type DroverConfig } from 'drover';

const config: DroverConfig = ${JSON.stringify(config, null, 2)};

export default defineConfig(({ env }) => (env['DROVER_TEST_HOME'] ? config : {}));
`;
}

const configs = readdirSync(diffDir).filter((f) => f.endsWith('.conf')).sort();

test('drover check --json prints for drover.config.ts exactly what it prints for the equivalent INI (every differential config)', async () => {
  assert.ok(configs.length >= 20);
  const dir = makeTmpDir();
  cpSync(diffDir, dir, { recursive: true });
  for (const name of configs) {
    const ini = join(dir, name);
    const ts = join(dir, name.replace(/\.conf$/, '.config.ts'));
    writeFileSync(ts, typedSource(typedFromIni(ini)));
    // the two checks side by side: each is mostly a Node start, and this test is the suite's longest
    const [a, b] = await Promise.all([runCli(['check', '--json', '-c', ini], { env }), runCli(['check', '--json', '-c', ts], { env })]);
    assert.equal(a.code, 0, `${name}: ${a.output}`);
    assert.equal(b.code, 0, `${name} as typed config:\n${readFileSync(ts, 'utf8')}\n${b.output}`);
    assert.deepEqual(JSON.parse(b.stdout), JSON.parse(a.stdout), `${name}: the typed config resolves differently\n${readFileSync(ts, 'utf8')}`);
  }
});

test('a bad value is reported with the file and its property path, exit 2; a module that throws, with its line', async () => {
  const dir = makeTmpDir();
  writeFileSync(join(dir, 'drover.config.mjs'), `export default {\n  programs: {\n    web: { command: 'node app.js', numprocs: 'two', environment: { A: () => 1 } },\n    api: { comand: 'x', command: 'y' },\n  },\n};\n`);
  const r = await runCli(['check'], { cwd: dir });
  assert.equal(r.code, 2, r.output);
  assert.match(r.stderr, /drover\.config\.mjs: programs\.web\.numprocs: not an integer \(got "two", expected an integer\)/);
  assert.match(r.stderr, /drover\.config\.mjs: programs\.web\.environment\.A: is a function, which a config cannot hold/);
  writeFileSync(join(dir, 'drover.config.mjs'), `export default {\n  programs: { api: { comand: 'x', command: 'y' } },\n};\n`);
  const w = await runCli(['check'], { cwd: dir });
  assert.equal(w.code, 0, w.output);
  assert.match(w.stderr, /drover\.config\.mjs: warning: programs\.api\.comand: unknown key, ignored \(did you mean "command"\?\)/);
  writeFileSync(join(dir, 'drover.config.mjs'), `const port = 80;\n\nthrow new Error('no port ' + port);\nexport default {};\n`);
  const t = await runCli(['check'], { cwd: dir });
  assert.equal(t.code, 2, t.output);
  assert.match(t.stderr, /drover\.config\.mjs:3: Error: no port 80/);
  writeFileSync(join(dir, 'drover.config.mjs'), `export const x = 1;\n`);
  const n = await runCli(['check'], { cwd: dir });
  assert.equal(n.code, 2, n.output);
  assert.match(n.stderr, /has no default export/);
});

// On Node 20 the types are stripped on the loader hooks' thread, whose errors arrived as "threw [object
// Object]"; on every Node a syntax error, or TypeScript that only compiles (an enum), names its line
test('a typed config with a syntax error or an enum, a JavaScript one with a syntax error: exit 2, with the line and what is wrong', async () => {
  const dir = makeTmpDir();
  for (const bad of ['const x: number = ;', 'enum E { A }']) {
    writeFileSync(join(dir, 'drover.config.ts'), `import { defineConfig } from 'drover';\n${bad}\nexport default defineConfig({ programs: { a: { command: 'sleep 1' } } });\n`);
    const r = await runCli(['check'], { cwd: dir });
    assert.equal(r.code, 2, r.output);
    assert.match(r.stderr, /drover\.config\.ts:2: \w*Error: \S/, r.output);
    assert.doesNotMatch(r.stderr, /object Object/, r.output);
  }
  rmSync(join(dir, 'drover.config.ts'));
  // a JavaScript config: Node's import error has no line; drover finds it
  writeFileSync(join(dir, 'drover.config.mjs'), `const a = 1;\nconst x = ;\nexport default {};\n`);
  const js = await runCli(['check'], { cwd: dir });
  assert.equal(js.code, 2, js.output);
  assert.match(js.stderr, /drover\.config\.mjs:2: SyntaxError: /, js.output);
  writeFileSync(join(dir, 'drover.config.mjs'), `export default 5;\n`);
  const five = await runCli(['check'], { cwd: dir });
  assert.equal(five.code, 2, five.output);
  assert.match(five.stderr, /drover\.config\.mjs: the default export is not an object of sections/, five.output);
});

test('the default lookup takes drover.config.ts before drover.ini, and defineConfig(({ env }) => …) sees the environment', async () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  writeFileSync(join(dir, 'drover.ini'), '[program:from_ini]\ncommand = /bin/true\n');
  writeFileSync(
    join(dir, 'drover.config.ts'),
    `import { defineConfig } from 'drover';\nconst name: string = 'from_ts';\nexport default defineConfig(({ env }) => ({ programs: { [name]: { command: \`/bin/echo \${env['GREETING'] ?? 'none'}\` } } }));\n`,
  );
  const r = await runCli(['check', '--json'], { cwd: dir, env: { GREETING: 'hello' } });
  assert.equal(r.code, 0, r.output);
  const processes = (JSON.parse(r.stdout) as { processes: { name: string; command: string }[] }).processes;
  assert.deepEqual(processes.map((p) => [p.name, p.command]), [['from_ts', '/bin/echo hello']]);
});

test('drover reload and HUP evaluate the typed config anew, with the modules it imports', async () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  writeFileSync(join(dir, 'message.ts'), `export const message: string = 'v1';\n`);
  writeFileSync(
    join(dir, 'drover.config.ts'),
    `import { defineConfig } from 'drover';
import { message } from './message.ts';
export default defineConfig({
  programs: { say: { command: "/bin/sh -c 'echo said-$MSG; exec sleep 60'", environment: { MSG: message }, startsecs: 0, stopwaitsecs: 1 } },
});
`,
  );
  const run = new CliRun(['up'], { cwd: dir });
  try {
    await run.waitForLine(/say \| said-v1/);
    writeFileSync(join(dir, 'message.ts'), `export const message: string = 'v2';\n`);
    const r = await runCli(['reload'], { cwd: dir });
    assert.equal(r.code, 0, r.output);
    await run.waitForLine(/say \| said-v2/);
    const from = run.output.length;
    writeFileSync(join(dir, 'message.ts'), `export const message: string = 'v3';\n`);
    run.signal('SIGHUP');
    await run.waitForLine(/say \| said-v3/, { from });
    const status = await runCli(['status', '--json'], { cwd: dir });
    assert.equal(status.code, 0, status.output);
  } finally {
    await teardown(run, [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});

// A config module may take seconds (it fetches a secret, say). Its evaluation at a reload blocked the master
// for that long (up to the 10 s limit): no status, no signals, and workers' heartbeats read as late. The
// module here holds its evaluation until the test has had a status answered, so blocking the master would
// hold the status until the evaluation's time limit.
test('a reload does not block the daemon while the typed config evaluates: status answers meanwhile, then the reload applies', async () => {
  const dir = makeTmpDir();
  const [slow, evaluating, release] = ['SLOW', 'EVALUATING', 'RELEASE'].map((f) => join(dir, f)) as [string, string, string];
  writeFileSync(
    join(dir, 'drover.config.mjs'),
    `import { existsSync, writeFileSync } from 'node:fs';
const slow = existsSync(${JSON.stringify(slow)});
if (slow) {
  writeFileSync(${JSON.stringify(evaluating)}, '');
  for (let i = 0; i < 450 && !existsSync(${JSON.stringify(release)}); i++) await new Promise((r) => setTimeout(r, 20));
}
export default { programs: { [slow ? 'after' : 'before']: { command: '/bin/sleep 60', startsecs: 0, stopwaitsecs: 1 } } };
`,
  );
  const run = new CliRun(['up'], { cwd: dir });
  try {
    await run.waitForLine(/before: starting → running/);
    writeFileSync(slow, '');
    run.signal('SIGHUP');
    await waitForCondition(() => existsSync(evaluating), 'the reload to begin evaluating the config', { describe: () => run.describe() });
    // straight to the socket: the CLI reading the config would evaluate the held module itself
    const status = await runCli(['status', '--json', '-s', `unix://${join(dir, '.drover', 'drover.sock')}`], { cwd: dir, timeoutMs: 5_000 });
    assert.equal(status.code, 0, `status while the config evaluates\n${status.output}\n${run.describe()}`);
    assert.match(status.stdout, /"before"/);
    writeFileSync(release, '');
    await run.waitForLine(/reload: done/, { timeoutMs: 15_000 });
    await run.waitForLine(/after: starting → running/);
  } finally {
    await teardown(run, [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1])), dir);
  }
});

test('the exported types make the compiler flag a misspelt key and a wrong value, and accept a good config', () => {
  const dir = makeTmpDir();
  linkDrover(dir);
  writeFileSync(
    join(dir, 'good.ts'),
    `import { defineConfig, type DroverConfig } from 'drover';
export default defineConfig({
  supervisord: { loglevel: 'debug', nodaemon: true },
  programs: { web: { command: 'node app.js', numprocs: 2, process_name: '%(program_name)s_%(process_num)d', autorestart: true, exitcodes: [0, 2], environment: { A: 'x', N: 1 }, umask: 0o022, stopwaitsecs: 5, backoff_max: '30s', stdout_logfile_maxbytes: '50MB', watch: ['src/**/*.ts'], watch_debounce: '300ms' } },
  groups: { g: { programs: ['web'] } },
  sockets: { http: { bind: '127.0.0.1:8000' } },
  eventlisteners: { ev: { command: 'x', events: ['PROCESS_STATE'] } },
  fcgi_programs: { f: { command: 'y', socket: 'unix:///tmp/f.sock' } },
  include: { files: ['conf.d/*.conf'] },
});
export const fn = defineConfig(({ env }): DroverConfig => ({ programs: { web: { command: env['CMD'] ?? 'x' } } }));
`,
  );
  writeFileSync(
    join(dir, 'bad.ts'),
    `import { defineConfig } from 'drover';
export const a = defineConfig({ programs: { web: { comand: 'node app.js' } } });
export const b = defineConfig({ programs: { web: { command: 'x', numprocs: 'two' } } });
export const c = defineConfig({ programs: { web: { command: 'x', autorestart: 'sometimes' } } });
export const d = defineConfig({ program: { web: { command: 'x' } } });
`,
  );
  const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  const opts = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--types', 'node', '--typeRoots', join(repoRoot, 'node_modules', '@types')];
  const good = spawnSync(process.execPath, [tsc, ...opts, join(dir, 'good.ts')], { cwd: dir, encoding: 'utf8' });
  assert.equal(good.status, 0, `${good.stdout}${good.stderr}`);
  const bad = spawnSync(process.execPath, [tsc, ...opts, join(dir, 'bad.ts')], { cwd: dir, encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stdout, /bad\.ts\(2,.*'comand' does not exist/s);
  assert.match(bad.stdout, /bad\.ts\(3,[\s\S]*Type 'string' is not assignable to type 'number'/);
  assert.match(bad.stdout, /bad\.ts\(4,[\s\S]*'"sometimes"' is not assignable/);
  assert.match(bad.stdout, /bad\.ts\(5,[\s\S]*'program' does not exist[\s\S]*Did you mean to write 'programs'/);
});
