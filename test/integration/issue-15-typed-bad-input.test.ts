// Bad input in a typed config (issue 15, the typed config's audit): each mistake gets a message naming the
// file, the property path (which program, which key), the value and what was expected, as precise as the
// supervisord.conf path's message for the same mistake; every problem at once; warnings reach the daemon's
// log and `drover reload` at a reload; and a reread that failed leaves the last good one in force.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, livePids, makeTmpDir, runCli, teardown } from '../helpers/drover.js';

/** The lines of `drover check`'s stderr that are problems (not warnings), each without the file's directory. */
function problems(stderr: string, dir: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l !== '' && !l.includes(': warning: '))
    .map((l) => l.split(`${dir}/`).join(''));
}

function pidsOf(run: CliRun): number[] {
  return [...run.output.matchAll(/spawned: \w+ with pid (\d+)/g)].map((m) => Number(m[1]));
}

test('an expansion that fails in a typed config names the program and the key by its property path, in the order written', async () => {
  const dir = makeTmpDir();
  writeFileSync(
    join(dir, 'drover.config.mjs'),
    `export default { programs: {
  web: { command: 'node app.js %(ENV_DROVER_SURELY_UNSET)s' },
  api: { command: 'node api.js %(foo)s', stdout_logfile: '/tmp/%(bar)s.log' },
  job: { command: 'node job.js %' },
} };
`,
  );
  const r = await runCli(['check'], { cwd: dir });
  assert.equal(r.code, 2, r.output);
  const lines = problems(r.stderr, dir);
  assert.equal(lines.length, 4, r.stderr);
  assert.match(lines[0] as string, /^drover\.config\.mjs: programs\.web\.command: cannot expand %\(ENV_DROVER_SURELY_UNSET\): no such name here \(got "node app\.js %\(ENV_DROVER_SURELY_UNSET\)s", expected .*program_name/);
  assert.match(lines[1] as string, /^drover\.config\.mjs: programs\.api\.command: cannot expand %\(foo\)/);
  assert.match(lines[2] as string, /^drover\.config\.mjs: programs\.api\.stdout_logfile: cannot expand %\(bar\)/);
  assert.match(lines[3] as string, /^drover\.config\.mjs: programs\.job\.command: bad expansion: incomplete format/);
});

test('drover reload and HUP with a typed config write its warnings to the log, and drover reload prints them', async () => {
  const dir = makeTmpDir();
  writeFileSync(join(dir, 'drover.config.mjs'), `export default { programs: { a: { command: '/bin/sleep 60', startsecs: 0, stopwaitsecs: 1 } } };\n`);
  const run = new CliRun(['up'], { cwd: dir });
  try {
    await run.waitForLine(/a: starting → running/);
    writeFileSync(join(dir, 'drover.config.mjs'), `export default { programs: { a: { command: '/bin/sleep 60', startsecs: 0, stopwaitsecs: 1, comand: 'x' } } };\n`);
    const warning = /drover\.config\.mjs: warning: programs\.a\.comand: unknown key, ignored \(did you mean "command"\?\)/;
    const from = run.output.length;
    const r = await runCli(['reload', '-s', `unix://${join(dir, '.drover', 'drover.sock')}`], { cwd: dir });
    assert.equal(r.code, 0, r.output);
    assert.match(r.stderr, warning, r.output);
    await run.waitForLine(/reload: done/, { from });
    assert.match(run.output.slice(from), new RegExp(`WARN POST /api/update: .*${warning.source}`), run.describe());
    const fromHup = run.output.length;
    run.signal('SIGHUP');
    await run.waitForLine(/reload: done \(SIGHUP/, { from: fromHup });
    assert.match(run.output.slice(fromHup), new RegExp(`WARN SIGHUP: .*${warning.source}`), run.describe());
  } finally {
    await teardown(run, pidsOf(run), dir);
  }
});

// supervisorctl's reread is XML-RPC reloadConfig: drover read the config to answer, then again in the pool
// roll it starts, and logged the config's warnings at each read.
test('supervisorctl reread (XML-RPC reloadConfig) writes each of the config\'s warnings to the log once', async () => {
  const dir = makeTmpDir();
  writeFileSync(join(dir, 'drover.config.mjs'), `export default { programs: { a: { command: '/bin/sleep 60', startsecs: 0, stopwaitsecs: 1 } } };\n`);
  const run = new CliRun(['up'], { cwd: dir });
  try {
    await run.waitForLine(/a: starting → running/);
    writeFileSync(join(dir, 'drover.config.mjs'), `export default { programs: { a: { command: '/bin/sleep 61', startsecs: 0, stopwaitsecs: 1, comand: 'x' } } };\n`);
    const from = run.output.length;
    const ctl = await promisify(execFile)('/usr/bin/supervisorctl', ['-s', `unix://${join(dir, '.drover', 'drover.sock')}`, 'reread'], { timeout: 20_000 });
    assert.match(ctl.stdout, /a: changed/, ctl.stdout + ctl.stderr);
    await run.waitForLine(/reload: done \(XML-RPC reloadConfig/, { from });
    const warned = run.output.slice(from).match(/warning: programs\.a\.comand: unknown key/g) ?? [];
    assert.equal(warned.length, 1, run.describe());
  } finally {
    await teardown(run, pidsOf(run), dir);
  }
});

// supervisorctl's two steps: reread, then add. A reread that failed once dropped the good one before it, so
// `avail` and `add` read the broken file again and failed until it was fixed; supervisord keeps its last
// good read (process_group_configs) and goes on with it, and so does drover now.
test('after a reread that failed, avail and add go on with the last reread that loaded, as supervisord', async () => {
  const dir = makeTmpDir();
  const sock = ['-s', `unix://${join(dir, '.drover', 'drover.sock')}`];
  const config = (b: string): void => writeFileSync(join(dir, 'drover.config.mjs'), `export default { programs: { a: { command: '/bin/sleep 60', startsecs: 0, stopwaitsecs: 1 }${b} } };\n`);
  config('');
  const run = new CliRun(['up'], { cwd: dir });
  try {
    await run.waitForLine(/a: starting → running/);
    config(`, b: { command: '/bin/sleep 61', startsecs: 0, stopwaitsecs: 1 }`);
    const first = await runCli(['reread', ...sock], { cwd: dir });
    assert.equal(first.code, 0, first.output);
    assert.match(first.stdout, /b: available/);
    config(`, b: { command: '/bin/sleep 61', numprocs: 'two' }`);
    const second = await runCli(['reread', ...sock], { cwd: dir });
    assert.equal(second.code, 2, second.output);
    assert.match(second.stderr, /programs\.b\.numprocs: not an integer/);
    const avail = await runCli(['avail', ...sock], { cwd: dir });
    assert.equal(avail.code, 0, `avail did not go on with the last good reread\n${avail.output}`);
    assert.match(avail.stdout, /^b\s+avail\b/m, avail.output);
    const add = await runCli(['add', 'b', ...sock], { cwd: dir });
    assert.equal(add.code, 0, `add did not go on with the last good reread\n${add.output}`);
    await run.waitForLine(/b: starting → running/);
  } finally {
    await teardown(run, pidsOf(run), dir);
  }
});

// An environment object is one INI value (KEY="value",…), so its first bad entry hid the others: the user
// fixed one, ran check again, and met the next.
test('every bad entry of an environment object is reported under its own path, in every program', async () => {
  const dir = makeTmpDir();
  writeFileSync(
    join(dir, 'drover.config.mjs'),
    `export default {
  supervisord: { environment: { 'X Y': '1', Z: '"' } },
  programs: {
    web: { command: 'node app.js', environment: { 'A B': 'x', C: \`it's "q"\`, D: '"quoted"', E: () => 1, OK: 'fine' } },
    job: { command: 'node job.js', environment: { H: '%(ENV_DROVER_SURELY_UNSET)s', OK: 'fine %(program_name)s', I: '%(bad' } },
  },
};
`,
  );
  const r = await runCli(['check'], { cwd: dir });
  assert.equal(r.code, 2, r.output);
  assert.deepEqual(
    problems(r.stderr, dir).map((l) => /^drover\.config\.mjs: (.+?): (?=[a-z])/.exec(l)?.[1]),
    ['supervisord.environment["X Y"]', 'supervisord.environment.Z', 'programs.web.environment["A B"]', 'programs.web.environment.C', 'programs.web.environment.D', 'programs.web.environment.E', 'programs.job.environment.H', 'programs.job.environment.I'],
    r.stderr,
  );
  assert.match(r.stderr, /programs\.job\.environment\.H: cannot expand %\(ENV_DROVER_SURELY_UNSET\): no such name here \(got "%\(ENV_DROVER_SURELY_UNSET\)s", expected /);
  assert.match(r.stderr, /programs\.job\.environment\.I: bad expansion: incomplete format key: "%\(" without a closing "\)" \(got "%\(bad"/);
  assert.match(r.stderr, /programs\.web\.environment\.C: holds both ' and ", which supervisor's KEY=value format cannot carry \(got "it's \\"q\\""/);
});

// The INI reader drops the whitespace around a value; a typed config's strings kept it, so
// `stdout_logfile: ' /tmp/x.log '` became a relative path ("the directory …/ /tmp does not exist") and
// `autostart: ' true '` was "not a boolean", where the same text in supervisord.conf loads.
test('whitespace around a typed config string (and around an array item) is dropped, as the INI reader drops it', async () => {
  const dir = makeTmpDir();
  mkdirSync(join(dir, 'conf.d'));
  writeFileSync(join(dir, 'conf.d', 'extra.conf'), '[program:extra]\ncommand = /bin/true\n');
  writeFileSync(
    join(dir, 'supervisord.conf'),
    `[include]
files =  conf.d/*.conf${'  '}
[program:web]
command =  /bin/sleep 5${'  '}
directory =  ${dir}${'  '}
stdout_logfile =  ${dir}/web.log${'  '}
process_name =  web${'  '}
autostart =  true${'  '}
priority =  5${'  '}
stopsignal =  TERM${'  '}
environment = A=" x "
exitcodes =  0, 2${'  '}
`,
  );
  writeFileSync(
    join(dir, 'drover.config.mjs'),
    `export default {
  include: { files: [' conf.d/*.conf '] },
  programs: {
    web: { command: ' /bin/sleep 5 ', directory: ' ${dir} ', stdout_logfile: ' ${dir}/web.log ', process_name: ' web ', autostart: ' true ', priority: ' 5 ', stopsignal: ' TERM ', environment: { A: ' x ' }, exitcodes: [' 0', '2 '] },
  },
};
`,
  );
  const ini = await runCli(['check', '--json', '-c', 'supervisord.conf'], { cwd: dir });
  assert.equal(ini.code, 0, ini.output);
  const typed = await runCli(['check', '--json', '-c', 'drover.config.mjs'], { cwd: dir });
  assert.equal(typed.code, 0, typed.output);
  assert.deepEqual(JSON.parse(typed.stdout), JSON.parse(ini.stdout));
  const web = (JSON.parse(typed.stdout) as { processes: { name: string; command: string; directory: string; environment: Record<string, string> }[] }).processes.find((p) => p.name === 'web');
  assert.deepEqual([web?.command, web?.directory, web?.environment], ['/bin/sleep 5', dir, { A: ' x ' }]);
});

// A module the config imports that throws, or does not parse, was not named: the error named only the
// config file (and, for a syntax error in an imported .mjs, said nothing of where it was).
test('an error raised in a module the config imports names that module and its line', async () => {
  const dir = makeTmpDir();
  const config = (text: string): void => writeFileSync(join(dir, 'drover.config.mjs'), text);
  writeFileSync(join(dir, 'ports.mjs'), `export function port() {\n  const name = 'PORT';\n  throw new Error('no ' + name + ' configured');\n}\n`);
  config(`import { port } from './ports.mjs';\nexport default { programs: { web: { command: 'node app.js ' + port() } } };\n`);
  const called = await runCli(['check'], { cwd: dir });
  assert.equal(called.code, 2, called.output);
  assert.match(called.stderr, new RegExp(`drover\\.config\\.mjs:2: Error: no PORT configured \\(thrown at ${dir}/ports\\.mjs:3:9\\)`), called.output);
  writeFileSync(join(dir, 'top.mjs'), `const a = 1;\nthrow new TypeError('top-level ' + a);\n`);
  config(`import './top.mjs';\nexport default {};\n`);
  const top = await runCli(['check'], { cwd: dir });
  assert.equal(top.code, 2, top.output);
  assert.match(top.stderr, new RegExp(`drover\\.config\\.mjs: TypeError: top-level 1 \\(thrown at ${dir}/top\\.mjs:2:7\\)`), top.output);
  // a syntax error two imports down: Node's error has no frame, and names no file
  writeFileSync(join(dir, 'middle.mjs'), `import './broken.mjs';\nexport const x = 1;\n`);
  writeFileSync(join(dir, 'broken.mjs'), `export const ok = 1;\nexport const y = ;\n`);
  config(`import { x } from './middle.mjs';\nexport default { programs: { web: { command: 'node app.js ' + x } } };\n`);
  const syntax = await runCli(['check'], { cwd: dir });
  assert.equal(syntax.code, 2, syntax.output);
  assert.match(syntax.stderr, new RegExp(`drover\\.config\\.mjs: SyntaxError: Unexpected token ';' \\(in ${dir}/broken\\.mjs:2\\)`), syntax.output);
  // the config's own throw is the config's line, as before, with nothing added
  config(`export default { programs: { a: { command: 'x' } } };\nthrow new Error('own');\n`);
  const own = await runCli(['check'], { cwd: dir });
  assert.equal(own.code, 2, own.output);
  assert.match(own.stderr, /drover\.config\.mjs:2: Error: own\n/, own.output);
});

test('a default export that never settles is named as such, not as a call to process.exit', async () => {
  const dir = makeTmpDir();
  writeFileSync(join(dir, 'drover.config.mjs'), 'export default new Promise(() => {});\n');
  const r = await runCli(['check'], { cwd: dir });
  assert.equal(r.code, 2, r.output);
  assert.match(r.stderr, /a top-level await, or the promise its default export is or returns, never settled/, r.output);
  assert.doesNotMatch(r.stderr, /does it call process\.exit\?/, r.output);
});

// From a review: the time limit on an evaluation is kept by the drover that waits for it; once that drover
// was gone (killed, or exited during a reload's evaluation), a module that keeps itself running ran on.
test('an evaluation does not outlive the drover that waits for it', async () => {
  const dir = makeTmpDir();
  const pidFile = join(dir, 'eval.pid');
  writeFileSync(
    join(dir, 'drover.config.mjs'),
    `import { writeFileSync } from 'node:fs';
writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));
await new Promise(() => { setInterval(() => {}, 1000); });
export default {};
`,
  );
  const run = new CliRun(['check'], { cwd: dir });
  let evalPid = 0;
  try {
    evalPid = Number(await run.waitUntil(() => (existsSync(pidFile) ? readFileSync(pidFile, 'utf8') || null : null), 'the evaluation to start'));
    run.signal('SIGKILL');
    await run.waitForExit(5_000, { drained: false });
    await run.waitUntil(() => (livePids([evalPid]).length === 0 ? true : null), `the evaluation (pid ${evalPid}) to end after the CLI was killed`);
  } finally {
    await teardown(run, evalPid > 0 ? [evalPid] : [], dir);
  }
});
