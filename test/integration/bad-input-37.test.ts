// Bad input found by the thirty-seventh session's review (docs/decisions.md, its last sections):
// - two [socket:x] sections on one address failed only at bind (EADDRINUSE);
// - a [ctlplugin:x] section was ignored without a word;
// - `drover serve`'s bind failures at start named a [socket:bindN] the user never wrote;
// - numprocs, and `drover serve -w`, had no upper bound.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { Daemon, show } from '../helpers/daemon.js';
import { CliRun, fixture, makeTmpDir, serveToEnd, teardown } from '../helpers/drover.js';
import { freePort } from '../helpers/web.js';

const escaped = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `drover check` and `drover up -d --no-wait` on `config`: both must refuse it (exit 2) and start nothing. */
async function refusedByCheckAndUp(config: string, body: (d: Daemon, stderr: string) => void): Promise<void> {
  const d = new Daemon(config);
  try {
    for (const argv of [['check'], ['up', '-d', '--no-wait']]) {
      const r = await d.cli(argv);
      assert.equal(r.code, 2, show(argv, r));
      assert.doesNotMatch(r.output, /EADDRINUSE|drover started|config OK/, show(argv, r));
      body(d, r.stderr);
    }
  } finally {
    assert.deepEqual(await d.teardown(), [], 'no process is left behind');
  }
}

test('two [socket:x] sections on one TCP address are a config error at the second section\'s bind = line, naming the first with its file and line (check and up, exit 2)', async () => {
  const port = await freePort();
  // lines: [socket:a] 1, bind 2; [socket:b] 4, bind 5; [socket:c] 7, bind 8; [socket:d] 10, bind 11; [socket:e] 13, bind 14
  const config = `[socket:a]\nbind = 127.0.0.1:${port}\n\n[socket:b]\nbind = 127.0.0.1:${port}\n\n[socket:c]\nbind = [::1]:${port}\n\n[socket:d]\nbind = [0:0:0:0:0:0:0:1]:${port}\n\n[socket:e]\nbind = localhost:${port}\n\n[program:web]\nworker = ${fixture('worker-app.mjs')}\nsockets = a, b, c, d, e\n`;
  await refusedByCheckAndUp(config, (d, stderr) => {
    const b = `${d.file}:5: [socket:b] bind: 127.0.0.1:${port} is the address of [socket:a] too (${d.file}:2): two sections cannot listen on one address (got "127.0.0.1:${port}", expected an address of its own, or one [socket:x] that every program using it names)`;
    assert.ok(stderr.includes(b), `${b}\nnot in\n${stderr}`);
    // one address written another way (an IPv6 address in its long form) is the same address
    assert.match(stderr, new RegExp(`${escaped(d.file)}:11: \\[socket:d\\] bind: \\[0:0:0:0:0:0:0:1\\]:${port} \\(\\[::1\\]:${port}\\) is the address of \\[socket:c\\] too \\(${escaped(d.file)}:8\\)`), stderr);
    // a host name is compared as written, never looked up at load (the master loads configs too): its
    // clash with 127.0.0.1 is left to bind, as before
    assert.doesNotMatch(stderr, /\[socket:e\]/, stderr);
  });
});

test('two [socket:x] sections on one unix path are a config error; port 0 twice is two ports, and a wildcard beside one of its addresses is refused unless both are reuse_port', async () => {
  const dir = makeTmpDir();
  const path = join(dir, 'web.sock');
  try {
    await refusedByCheckAndUp(`[socket:a]\nbind = unix:${path}\n\n[socket:b]\nbind = unix:${path}\n`, (d, stderr) => {
      assert.ok(stderr.includes(`${d.file}:5: [socket:b] bind: unix:${path} is the address of [socket:a] too (${d.file}:2)`), stderr);
    });
    const port = await freePort();
    await refusedByCheckAndUp(`[socket:a]\nbind = 0.0.0.0:${port}\n\n[socket:b]\nbind = 127.0.0.1:${port}\n`, (d, stderr) => {
      assert.ok(stderr.includes(`${d.file}:5: [socket:b] bind: 127.0.0.1:${port} is already bound by [socket:a] (0.0.0.0:${port}, every IPv4 address; ${d.file}:2)`), stderr);
    });
    // two sections on one address with reuse_port: refused too (decisions.md says why)
    const balanced = `[socket:a]\nbind = 127.0.0.1:${port}\nreuse_port = true\n\n[socket:b]\nbind = 127.0.0.1:${port}\nreuse_port = true\n`;
    await refusedByCheckAndUp(balanced, (d, stderr) => {
      assert.ok(stderr.includes(`${d.file}:6: [socket:b] bind: 127.0.0.1:${port} is the address of [socket:a] too (${d.file}:2): two sections cannot listen on one address; with reuse_port on both the kernel would let them, and spread one address's connections over both sections' sockets`), stderr);
    });
    const fine = new Daemon(`[socket:a]\nbind = 127.0.0.1:0\n\n[socket:b]\nbind = 127.0.0.1:0\n\n[socket:c]\nbind = 0.0.0.0:${port}\nreuse_port = true\n\n[socket:d]\nbind = 127.0.0.1:${port}\nreuse_port = true\n`);
    try {
      const r = await fine.cli(['check']);
      assert.equal(r.code, 0, show(['check'], r));
      assert.doesNotMatch(r.stderr, /socket:/, show(['check'], r));
    } finally {
      assert.deepEqual(await fine.teardown(), [], 'no process is left behind');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a [ctlplugin:x] section is a warning at its line, counted among check\'s ignored sections (check and up)', async () => {
  const d = new Daemon('[ctlplugin:wildcards]\nsupervisor.ctl_factory = wildcards.controllerplugin:make_wildcards_controllerplugin\n\n[program:ok]\ncommand = /bin/sleep 600\nstartsecs = 0\n');
  const warning = `${d.file}:1: warning: [ctlplugin:wildcards] a supervisorctl plugin: drover does nothing with it (drover's CLI has no plugins; supervisorctl, reading this file, still loads it); the section is ignored`;
  try {
    const check = await d.cli(['check']);
    assert.equal(check.code, 0, show(['check'], check));
    assert.equal(check.stderr.split('\n').filter((l) => l !== '').join('\n'), warning, show(['check'], check));
    assert.match(check.stdout, /config read, but a section is ignored: \[ctlplugin:wildcards\]/, show(['check'], check));
    const up = await d.cli(['up', '-d', '--no-wait']);
    assert.equal(up.code, 0, show(['up'], up));
    assert.ok(up.stderr.includes(warning), show(['up'], up));
  } finally {
    assert.deepEqual(await d.teardown(), [], 'no process is left behind');
  }
});

test('drover serve: a -b that cannot be bound at start (another process listens; a unix path under a missing directory or a file) is named as typed, with its number, not as [socket:bindN] (exit 1)', async () => {
  const dir = makeTmpDir();
  const busy: Server = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const port = (busy.address() as { port: number }).port;
  try {
    let r = await serveToEnd(dir, ['-b', '127.0.0.1:0', '-b', `127.0.0.1:${port}`]);
    assert.equal(r.code, 1, r.output);
    assert.match(r.stderr, new RegExp(`-b 127\\.0\\.0\\.1:${port} \\(#2\\) cannot bind 127\\.0\\.0\\.1:${port}: the address is already in use`), r.output);
    assert.doesNotMatch(r.output, /\[socket:bind|socket:bind\d/, r.output);
    writeFileSync(join(dir, 'plain'), '');
    mkdirSync(join(dir, 'sub'));
    for (const [typed, errno] of [['unix:missing/x.sock', 'ENOENT'], ['unix:plain/x.sock', 'ENOTDIR']] as const) {
      r = await serveToEnd(dir, ['-b', typed]);
      assert.equal(r.code, 1, r.output);
      assert.match(r.stderr, new RegExp(`-b ${escaped(typed)} \\(#1\\) cannot bind unix:${escaped(join(dir, typed.slice(5)))}: .*${errno}`), r.output);
      assert.doesNotMatch(r.output, /socket:bind\d/, r.output);
    }
  } finally {
    await new Promise((resolve) => busy.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('numprocs above 10000 is a config error at its line, saying the limit (check and up, exit 2)', async () => {
  // 10001 first: without the bound drover reads it in a moment (and the test fails at once); 100000000 would
  // have `check` resolve that many processes
  for (const n of ['10001', '100000000']) {
    await refusedByCheckAndUp(`[program:many]\ncommand = /bin/sleep 600\nprocess_name = %(program_name)s_%(process_num)d\nnumprocs = ${n}\n`, (d, stderr) => {
      assert.ok(stderr.includes(`${d.file}:4: [program:many] numprocs: at most 10000 processes per section, as drover scale allows (got "${n}", expected an integer up to 10000)`), stderr);
    });
  }
});

test('drover serve -w above 10000 (or $WEB_CONCURRENCY) is a usage error in serve\'s own terms (exit 2), with nothing started', async () => {
  const dir = makeTmpDir();
  try {
    // --check-config: without the bound nothing starts either; 10001 first, for the reason above
    for (const n of ['10001', '100000000']) {
      const r = await serveToEnd(dir, ['--check-config', '-w', n, '-b', '127.0.0.1:0']);
      assert.equal(r.code, 2, r.output);
      assert.match(r.stderr, new RegExp(`^drover serve: --workers must be at most 10000 \\(drover scale's limit too\\), got "${n}"$`, 'm'), r.output);
      assert.doesNotMatch(r.output, /numprocs|serve\.ini|drover up/, r.output);
    }
    const run = new CliRun(['serve', fixture('worker-app.mjs'), '--check-config', '-b', '127.0.0.1:0', '--runtime-dir', join(dir, '.drover')], { cwd: dir, env: { WEB_CONCURRENCY: '10001' } });
    try {
      const { code } = await run.waitForExit(15_000);
      assert.equal(code, 2, run.describe());
      assert.match(run.stderr, /^drover serve: \$WEB_CONCURRENCY must be at most 10000 \(drover scale's limit too\), got "10001"$/m, run.describe());
    } finally {
      await teardown(run);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
