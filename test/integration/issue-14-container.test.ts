// The container kit, tested by what runs here (no Docker on the test machines): the example image's
// supervisord.conf under drover as PID 1 of its own PID, mount and network namespaces, as an unprivileged
// user, with /run a fresh tmpfs — what `docker run` gives the image's ENTRYPOINT. The HEALTHCHECK script runs
// inside the namespaces as `docker exec` would run it. The Dockerfiles and the compose file are checked
// against the repository (every COPY source exists, exec-form ENTRYPOINT without tini, a non-root USER,
// a stop grace period that covers the programs' stop budget).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { stopBudgetSecs } from '../../src/daemon/systemd-unit.js';
import { CliRun, fixture, makeTmpDir, startUp, teardown, writeConfig } from '../helpers/drover.js';
import { repoRoot } from '../helpers/paths.js';
import { rpcValue } from '../helpers/xmlrpc.js';
import { canCreateUsers, createTestUser, type TestUser } from '../helpers/users.js';

const EXAMPLE = join(repoRoot, 'examples', 'docker');
const EXAMPLE_CONF = join(EXAMPLE, 'supervisord.conf');
// Where the container sees node and the repository: bind mounts, so that its user reaches them whatever the
// modes of their parent directories (CI's Node 24 lives in a 0700 temporary directory)
const NODE_IN = '/run/node';
const REPO_IN = '/run/repo';
/** the image's HEALTHCHECK script, as the container sees it */
const HEALTHCHECK = `${REPO_IN}/docker/healthcheck.mjs`;

const needed = ['/usr/bin/unshare', '/usr/bin/nsenter', '/usr/bin/setpriv', '/usr/sbin/nginx', '/usr/bin/curl'];
const missing = needed.filter((p) => !existsSync(p) && !existsSync(p.replace('/usr', '')));
const ip = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip'].find((p) => existsSync(p));
const skipNamespaces =
  (!canCreateUsers() && 'needs root (namespaces, a throw-away user)') ||
  (missing.length > 0 && `needs ${missing.join(', ')} (scripts/install-test-deps.sh)`) ||
  (!ip && 'needs ip (iproute2)');

let user: TestUser | null = null;
before(() => {
  if (!skipNamespaces) user = createTestUser('ctr14');
});
after(() => user?.remove());

/**
 * `docker run` without Docker: new PID, mount and network namespaces; /run a fresh tmpfs with /run/drover
 * owned by the user (the image's layout); loopback up; then drover exec'd as that user, so it is PID 1.
 * `conf` is a path inside the repository.
 */
function runContainer(u: TestUser, conf: string): CliRun {
  const script = [
    'set -e',
    'mount -t tmpfs -o mode=0755 tmpfs /run',
    'install -d -o "$CTR_UID" -g "$CTR_GID" -m 0750 /run/drover',
    `touch ${NODE_IN} && mount --bind "$CTR_NODE" ${NODE_IN}`,
    `mkdir ${REPO_IN} && mount --bind "$CTR_REPO" ${REPO_IN}`,
    `${ip} link set lo up`,
    // CliRun appends node and drover's path before the arguments: use the container's own paths instead
    'shift 2',
    `exec setpriv --reuid "$CTR_UID" --regid "$CTR_GID" --init-groups -- ${NODE_IN} ${REPO_IN}/bin/drover.js "$@"`,
  ].join('; ');
  return new CliRun(['up', '-c', join(REPO_IN, relative(repoRoot, conf))], {
    env: { CTR_UID: String(u.uid), CTR_GID: String(u.gid), CTR_NODE: process.execPath, CTR_REPO: repoRoot, HOME: u.home },
    wrapper: ['unshare', '--pid', '--fork', '--mount-proc', '--net', '--', '/bin/sh', '-c', script, 'sh'],
  });
}

/** The host pid of the namespace's PID 1: the one child of `unshare --fork`. */
function pid1Of(run: CliRun): number {
  const children = readdirSync(`/proc/${run.pid}/task`).flatMap((t) =>
    readFileSync(`/proc/${run.pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
  );
  assert.equal(children.length, 1, `unshare has one child: ${children.join(' ')}`);
  const pid = children[0] as number;
  assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), /^NSpid:\t\d+\t1$/m, 'it is PID 1 of its namespace');
  return pid;
}

/** Runs argv inside the container's namespaces as its user, as `docker exec` does. */
function exec(pid: number, u: TestUser, argv: readonly string[], env: Record<string, string> = {}): { code: number | null; out: string } {
  const r = spawnSync(
    'nsenter',
    ['--target', String(pid), '--mount', '--net', '--', 'setpriv', '--reuid', String(u.uid), '--regid', String(u.gid), '--init-groups', '--', ...argv],
    { encoding: 'utf8', timeout: 15_000, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: u.home, ...env } },
  );
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test(
  'the example image runs as PID 1 (unprivileged, own namespaces): healthy, serving, and exits 0 on SIGTERM within its stop budget',
  { skip: skipNamespaces },
  async () => {
    const u = user as TestUser;
    const run = runContainer(u, EXAMPLE_CONF);
    try {
      await run.waitForLine(/drover up: pid 1, 5 process\(es\)/, { timeoutMs: 15_000 });
      const pid = pid1Of(run);
      await run.waitForCount(/: starting → running/g, 5, 15_000);

      // the image's HEALTHCHECK, and the same script on /readyz
      const health = exec(pid, u, [NODE_IN, HEALTHCHECK]);
      assert.equal(health.code, 0, `${health.out}\n${run.describe()}`);
      assert.equal(exec(pid, u, [NODE_IN, HEALTHCHECK, '/readyz']).code, 0, 'the readiness probe of examples/kubernetes');
      const absent = exec(pid, u, [NODE_IN, HEALTHCHECK], { DROVER_SOCKET: '/run/drover/nothing.sock' });
      assert.equal(absent.code, 1, 'negative control: no drover there, unhealthy');
      assert.match(absent.out, /drover healthcheck: \/healthz over \/run\/drover\/nothing\.sock: .*ENOENT/);

      // nginx in front: a static file, and /api/ through to the app's workers on [socket:app]
      const curl = (...args: string[]): string => exec(pid, u, ['curl', '-sS', '--max-time', '5', ...args]).out;
      assert.match(curl('http://127.0.0.1:8080/'), /Served by nginx/);
      // its access log opens /dev/stdout: a pipe drover reads, passed on with the program's name
      await run.waitForLine(/nginx \| 127\.0\.0\.1 - - \[[^\]]+\] "GET \/ HTTP\/1\.1" 200 /);
      assert.match(curl('http://127.0.0.1:8080/api/hello'), /^hello from the app, pid \d+$/m);
      // the queue worker takes what the app queues
      assert.match(curl('-X', 'POST', 'http://127.0.0.1:8080/api/jobs?n=5'), /queued 5 job\(s\)/);
      await run.waitForCount(/jobs_\d \| done job \d+/g, 5);

      const budgetMs = stopBudgetSecs(loadConfig(EXAMPLE_CONF)) * 1000;
      const from = run.output.length;
      const t0 = Date.now();
      process.kill(pid, 'SIGTERM'); // what `docker stop` does: TERM to PID 1 from outside
      const exit = await run.waitForExit(budgetMs);
      assert.deepEqual(exit, { code: 0, signal: null }, run.describe());
      assert.ok(Date.now() - t0 < budgetMs, `stopped in ${Date.now() - t0} ms, budget ${budgetMs} ms`);
      // reverse priority: nginx (200) has stopped before the app (100) is asked to stop
      const out = run.output.slice(from);
      const nginxStopped = out.indexOf('nginx: stopping → stopped');
      const appStopping = out.search(/app_\d: running → stopping/);
      assert.ok(nginxStopped >= 0 && appStopping > nginxStopped, `stop order:\n${out}`);
      assert.match(out, /all processes stopped/);
    } finally {
      await teardown(run);
    }
  },
);

test(
  "a program may open /dev/stdout, as under supervisord (its stdout is a pipe, not a socket)",
  async () => {
    const dir = makeTmpDir();
    const run = await startUp(
      writeConfig(dir, `[program:opener]\ncommand = /bin/sh -c "echo opened-dev-stdout > /dev/stdout; echo opened-dev-stderr > /dev/stderr; exec ${process.execPath} ${fixture('forever.mjs')}"\nstartsecs = 0\nstdout_logfile = /dev/stdout\nstderr_logfile = /dev/stderr\n`),
    );
    try {
      // the shell reports a failed redirection on stderr; either way its next line is the fixture's
      await run.waitForLine(/opener \| ready \d+/);
      assert.match(run.output, /opener \| opened-dev-stdout/);
      assert.match(run.output, /opener ! opened-dev-stderr/);
    } finally {
      await teardown(run, [], dir);
    }
  },
);

test(
  "the other names of drover's stdout and stderr (/dev/fd/1, /proc/self/fd/2) get each line once, raw as from supervisord; a /dev/stdout log reads as empty, not an error",
  async () => {
    const dir = makeTmpDir();
    const conf = writeConfig(
      dir,
      `[program:aliased]\ncommand = /bin/sh -c "echo to-fd-one; echo to-fd-two >&2; exec ${process.execPath} ${fixture('forever.mjs')}"\nstartsecs = 0\nstdout_logfile = /dev/fd/1\nstderr_logfile = /proc/self/fd/2\n` +
        `[program:devout]\ncommand = /bin/sh -c "echo to-dev-stdout; exec sleep 1000"\nstartsecs = 0\nstdout_logfile = /dev/stdout\n`,
    );
    // a real pipe in between, as a container runtime gives (Node's own stdio are socket pairs, which cannot
    // be opened through /proc); not silent, so drover echoes programs' output in the foreground
    const run = new CliRun(['up', '-c', conf], { cwd: dir, wrapper: ['/bin/sh', '-c', '"$@" 2>&1 | cat', 'sh'] });
    try {
      await run.waitForLine(/^ready \d+$/m);
      await run.waitForLine(/^to-fd-two$/m);
      await run.waitForLine(/^devout \| to-dev-stdout$/m);
      // before, each line came twice: the echo with its prefix, then the raw write to "the file" /dev/fd/1
      const lines = (word: string): string[] => run.output.split('\n').filter((l) => l.includes(word));
      assert.deepEqual(lines('to-fd-one'), ['to-fd-one'], run.describe());
      assert.deepEqual(lines('to-fd-two'), ['to-fd-two'], run.describe());
      assert.deepEqual(lines('to-dev-stdout'), ['devout | to-dev-stdout'], run.describe());
      // supervisorctl tail of a /dev/stdout program: '' as from supervisord, where NO_FILE was a failure
      const sock = join(dir, '.drover', 'drover.sock');
      assert.equal(await rpcValue(sock, 'supervisor.readProcessStdoutLog', ['devout', 0, 0]), '');
      assert.equal(await rpcValue(sock, 'supervisor.readProcessStdoutLog', ['devout', -100, 0]), '');
    } finally {
      await teardown(run, [], dir);
    }
  },
);

// --- the image files, checked against the repository ---

interface DockerInstruction {
  readonly op: string;
  readonly args: string;
}

/** Dockerfile instructions (continuation lines joined, comments dropped). */
function readDockerfile(path: string): DockerInstruction[] {
  const logical = readFileSync(path, 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  return logical.map((l) => {
    const [op = '', ...rest] = l.split(/\s+/);
    return { op: op.toUpperCase(), args: rest.join(' ') };
  });
}

/** The sources of COPY instructions that come from the build context (not --from=stage). */
function contextCopies(instructions: readonly DockerInstruction[]): string[] {
  return instructions
    .filter((i) => i.op === 'COPY' && !i.args.includes('--from='))
    .flatMap((i) => {
      const words = i.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      return words.slice(0, -1);
    });
}

test("drover's Dockerfile: every COPY source exists, a non-root USER, exec-form node ENTRYPOINT with no tini, a HEALTHCHECK script that exists", () => {
  const file = readDockerfile(join(repoRoot, 'Dockerfile'));
  for (const src of contextCopies(file)) assert.ok(existsSync(join(repoRoot, src)), `COPY ${src}: not in the repository`);
  const ignored = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  for (const src of contextCopies(file)) {
    assert.ok(!ignored.some((pattern) => src === pattern || src.startsWith(`${pattern}/`)), `COPY ${src} is excluded by .dockerignore`);
  }
  const entrypoint = file.filter((i) => i.op === 'ENTRYPOINT').at(-1);
  assert.deepEqual(JSON.parse(entrypoint?.args ?? 'null'), ['node', '--max-semi-space-size=1', '/app/bin/drover.js']);
  assert.ok(!file.some((i) => /tini|dumb-init/.test(i.args)), 'no init in front of drover');
  const users = file.filter((i) => i.op === 'USER');
  assert.equal(users.at(-1)?.args, 'drover');
  const health = file.find((i) => i.op === 'HEALTHCHECK');
  assert.match(health?.args ?? '', /CMD \["node", "\/app\/docker\/healthcheck\.mjs"\]/);
  assert.ok(file.some((i) => i.op === 'COPY' && i.args === 'docker/healthcheck.mjs ./docker/'), 'the script is copied to /app/docker/');
  assert.deepEqual(JSON.parse(file.filter((i) => i.op === 'CMD').at(-1)?.args ?? 'null'), ['up', '-c', '/etc/drover/supervisord.conf']);
  // the runtime directory the HEALTHCHECK's default socket path assumes
  assert.ok(file.some((i) => i.op === 'RUN' && i.args.includes('install -d -o drover -g drover -m 0750 /run/drover')));
});

test('the example image: COPY sources exist, its config runs from /srv/app, and compose waits out the stop budget', () => {
  const file = readDockerfile(join(EXAMPLE, 'Dockerfile'));
  for (const src of contextCopies(file)) assert.ok(existsSync(join(EXAMPLE, src)), `COPY ${src}: not in examples/docker/`);
  assert.deepEqual(JSON.parse(file.filter((i) => i.op === 'CMD').at(-1)?.args ?? 'null'), ['up', '-c', '/srv/app/supervisord.conf']);
  assert.equal(file.filter((i) => i.op === 'USER').at(-1)?.args, 'drover');
  const config = loadConfig(EXAMPLE_CONF);
  assert.equal(config.supervisord.runtimeDir, '/run/drover', "the image's writable runtime directory");
  assert.deepEqual(config.processes.map((p) => p.programName).sort(), ['app', 'app', 'jobs', 'jobs', 'nginx']);

  const compose = parseYaml(readFileSync(join(EXAMPLE, 'compose.yaml'), 'utf8')) as {
    services: Record<string, { stop_grace_period?: string; init?: boolean; build?: { context?: string } }>;
  };
  const service = compose.services['app'];
  assert.ok(service, 'a service named app');
  assert.equal(service.init, false, 'no tini: drover is PID 1');
  assert.equal(service.build?.context, '.');
  const grace = /^(\d+)s$/.exec(service.stop_grace_period ?? '');
  assert.ok(grace, `stop_grace_period in seconds, got ${service.stop_grace_period}`);
  assert.ok(Number(grace[1]) >= stopBudgetSecs(config), `stop_grace_period ${grace[1]} s < the stop budget ${stopBudgetSecs(config)} s`);
});
