// The prefork pool policy against a fake host: no processes, only the calls the arbiter makes and the order it
// makes them in. The fake keeps members in a Map, logs every call, and holds each start and stop open until
// the test finishes it (succeeding or not), so "A happens before B" is checked exactly, not by timing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { processKey } from '../../../src/config/diff.js';
import type { ProcessSpec } from '../../../src/config/types.js';
import type { State } from '../../../src/core/states.js';
import type { Logger } from '../../../src/logs/logger.js';
import { Arbiter, type ArbiterHost, type MemberOutcome, type PoolMember, type Role } from '../../../src/prefork/arbiter.js';

const OK: MemberOutcome = { ok: true };
const FAILED: MemberOutcome = { ok: false, code: 'E_ABNORMAL_TERMINATION', message: 'exited before it was ready' };

/** A process of `programName` (a worker program unless `worker` is null); only the pool fields matter here. */
function spec(programName: string, processNum: number, worker: string | null = '/srv/app.mjs'): ProcessSpec {
  return {
    group: programName,
    name: `${programName}_${processNum}`,
    programName,
    processNum,
    numprocs: 1,
    command: worker === null ? '/bin/sleep 1000' : '',
    argv: worker === null ? ['/bin/sleep', '1000'] : [],
    priority: 999,
    autostart: true,
    autorestart: 'true',
    startSecs: 1,
    startRetries: 3,
    exitCodes: [0],
    stopSignal: 'TERM',
    stopWaitSecs: 10,
    stopAsGroup: true,
    killAsGroup: true,
    directory: null,
    umask: null,
    user: null,
    environment: {},
    redirectStderr: false,
    stdoutLogfile: 'NONE',
    stdoutLogfileMaxBytes: 0,
    stdoutLogfileBackups: 0,
    stdoutCaptureMaxBytes: 0,
    stdoutEventsEnabled: false,
    stdoutSyslog: false,
    stderrLogfile: 'NONE',
    stderrLogfileMaxBytes: 0,
    stderrLogfileBackups: 0,
    stderrCaptureMaxBytes: 0,
    stderrEventsEnabled: false,
    stderrSyslog: false,
    serverUrl: null,
    backoff: 'linear',
    backoffMaxSecs: 60,
    fatalCooldownSecs: null,
    pidfile: null,
    pdeathsig: true,
    timestamps: false,
    logFormat: 'text',
    logfileRotate: null,
    logfileGzip: false,
    source: { file: 'supervisord.conf', line: 1 },
    worker,
    sockets: [],
    maxRequests: 0,
    maxRequestsJitter: 0,
    heartbeatTimeoutSecs: 0,
    gracefulTimeoutSecs: 30,
    maxMemoryBytes: 0,
    concurrency: 1,
    accessLogFormat: null,
    keepAliveMs: null,
    tls: null,
    forwarded: null,
    watch: [],
    watchIgnore: [],
    watchDebounceMs: 200,
    fcgiSocket: null,
    ready: null,
    readiness: worker === null ? 'startsecs' : 'reported',
    readyTimeoutSecs: null,
    readyIntervalSecs: 0.25,
    dependsOn: [],
    healthcheck: null,
    healthcheckIntervalSecs: 10,
    healthcheckTimeoutSecs: 5,
    healthcheckRetries: 3,
    essential: false,
    eventListener: null,
    spareWorkers: 0,
  };
}

interface FakeMember extends PoolMember {
  record: { state: State; pid: number | null };
}

/** A start or stop the arbiter is awaiting. */
interface Pending {
  readonly call: string;
  readonly member: FakeMember;
  readonly resolve: (outcome: MemberOutcome) => void;
}

/** Lets every promise chain that can move, move (the arbiter's awaits are all on host promises). */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

class FakeHost implements ArbiterHost {
  /** every call, in order, as "op key" ("buildSpec name processNum" for buildSpec) */
  readonly calls: string[] = [];
  /** log lines, as "level message" */
  readonly lines: string[] = [];
  /** the process table, in insertion order */
  readonly table = new Map<string, FakeMember>();
  /** false once a shutdown has begun */
  running = true;
  /** false when the program's section no longer builds new processes */
  buildable = true;
  /** the open slots of the (one, balanced) socket; tests that care set them */
  readonly slots = new Set<number>();
  private readonly pending: Pending[] = [];
  private nextPid = 1000;

  readonly logger: Logger = {
    log: (level, message) => this.lines.push(`${level} ${message}`),
    error: (message) => this.lines.push(`error ${message}`),
    warn: (message) => this.lines.push(`warn ${message}`),
    info: (message) => this.lines.push(`info ${message}`),
    debug: (message) => this.lines.push(`debug ${message}`),
  };

  isRunning(): boolean {
    return this.running;
  }

  members(): Iterable<PoolMember> {
    return this.table.values();
  }

  isCurrent(m: PoolMember): boolean {
    return this.table.get(m.key) === m;
  }

  buildSpec(from: ProcessSpec, processNum: number): ProcessSpec | null {
    this.calls.push(`buildSpec ${from.name} ${processNum}`);
    return this.buildable ? { ...from, processNum, name: `${from.programName}_${processNum}` } : null;
  }

  add(s: ProcessSpec): PoolMember | null {
    const key = processKey(s);
    this.calls.push(`add ${key}`);
    return this.table.has(key) ? null : this.put(s, 'stopped');
  }

  startNow(m: PoolMember): void {
    this.calls.push(`startNow ${m.key}`);
    this.setState(m, 'starting');
  }

  start(m: PoolMember): Promise<MemberOutcome> {
    this.setState(m, 'starting');
    return this.hold(`start ${m.key}`, m);
  }

  stop(m: PoolMember): Promise<MemberOutcome> {
    this.setState(m, 'stopping');
    return this.hold(`stop ${m.key}`, m);
  }

  drop(m: PoolMember): void {
    this.calls.push(`drop ${m.key}`);
    if (this.isCurrent(m)) this.table.delete(m.key);
  }

  /** keys of the members to stay stopped (an operator stopped them) */
  readonly handStopped = new Set<string>();

  keptStopped(m: PoolMember): boolean {
    return this.handStopped.has(m.key);
  }

  coolDown(m: PoolMember, ms: number): void {
    this.calls.push(`coolDown ${m.key} ${ms}`);
  }

  /** false makes every promotion fail (no socket to hand over) */
  promotable = true;

  promote(m: PoolMember): boolean {
    this.calls.push(`promote ${m.key} slot ${m.slot ?? '?'}`);
    return this.promotable;
  }

  openSlots(): readonly number[] {
    return [...this.slots].sort((a, b) => a - b);
  }

  closeSlot(_group: string, _programName: string, slot: number, drain: boolean): Promise<void> {
    this.calls.push(`closeSlot ${slot}${drain ? ' drained' : ''}`);
    this.slots.delete(slot);
    // as the real one: the slot is gone from the open ones at once, the close itself completes later
    return new Promise((resolve) => setImmediate(resolve));
  }

  // --- for the tests ---

  /** Registers a process directly (not a call the arbiter made). */
  put(s: ProcessSpec, state: State = 'running', role: Role | null = null, slot: number | null = null): FakeMember {
    const m: FakeMember = { key: processKey(s), spec: s, record: { state, pid: null }, retiring: false, role, slot };
    this.setState(m, state);
    this.table.set(m.key, m);
    return m;
  }

  /** The member registered under `key`; fails the test when there is none. */
  get(key: string): FakeMember {
    const m = this.table.get(key);
    assert.ok(m, `${key} is in the table`);
    return m;
  }

  setState(m: PoolMember, state: State): void {
    const f = m as FakeMember;
    const up = state !== 'stopped' && state !== 'exited' && state !== 'fatal' && state !== 'backoff';
    f.record = { state, pid: up ? (f.record.pid ?? this.nextPid++) : null };
  }

  /** The starts and stops the arbiter is awaiting, oldest first. */
  waitingOn(): string[] {
    return this.pending.map((p) => p.call);
  }

  /** Completes the awaited `call` ("start web:web_2"): a start ends running (or fatal), a stop stopped. */
  async finish(call: string, outcome: MemberOutcome = OK): Promise<void> {
    const i = this.pending.findIndex((p) => p.call === call);
    assert.ok(i >= 0, `"${call}" is awaited (awaited: ${JSON.stringify(this.waitingOn())})`);
    const [p] = this.pending.splice(i, 1) as [Pending];
    if (call.startsWith('start ')) this.setState(p.member, outcome.ok ? 'running' : 'fatal');
    else this.setState(p.member, 'stopped');
    p.resolve(outcome);
    await flush();
  }

  /** Completes every awaited call, successfully, until the arbiter awaits nothing more. */
  async finishAll(): Promise<void> {
    await flush();
    for (let n = 0; this.pending.length > 0; n++) {
      assert.ok(n < 100, 'the arbiter settles');
      await this.finish((this.pending[0] as Pending).call);
    }
  }

  /** Keys of the members in `state`, in process-number order. */
  keysIn(state: State): string[] {
    return [...this.table.values()]
      .filter((m) => m.record.state === state)
      .sort((a, b) => a.spec.processNum - b.spec.processNum)
      .map((m) => m.key);
  }

  private hold(call: string, m: PoolMember): Promise<MemberOutcome> {
    this.calls.push(call);
    return new Promise((resolve) => this.pending.push({ call, member: m as FakeMember, resolve }));
  }
}

/** A host with `count` running workers of program `name` (web_0…), and an arbiter targeting `target` of them. */
function pool(count: number, target = count, name = 'web'): { host: FakeHost; arbiter: Arbiter } {
  const host = new FakeHost();
  for (let i = 0; i < count; i++) host.put(spec(name, i));
  const arbiter = new Arbiter(host);
  arbiter.setTarget(name, name, target);
  return { host, arbiter };
}

// --- rolling restart (HUP, drover reload) ---

test('roll: each replacement is running before its old worker is asked to stop', async () => {
  const { host, arbiter } = pool(1);
  const done = arbiter.rollWorkers();
  await flush();
  assert.deepEqual(host.calls, ['buildSpec web_0 1', 'add web:web_1', 'start web:web_1']);
  assert.deepEqual(host.waitingOn(), ['start web:web_1'], 'the old worker is not stopped while its replacement starts');
  assert.equal(host.get('web:web_0').record.state, 'running');
  await host.finish('start web:web_1');
  assert.deepEqual(host.waitingOn(), ['stop web:web_0']);
  await host.finish('stop web:web_0');
  await done;
  assert.deepEqual(host.calls.slice(3), ['stop web:web_0', 'drop web:web_0']);
  assert.deepEqual([...host.table.keys()], ['web:web_1']);
});

test('roll: one worker at a time, each old one draining while the next replacement loads; the roll ends once every old one has stopped', async () => {
  const { host, arbiter } = pool(2);
  let ended = false;
  const done = arbiter.rollWorkers().then((outcomes) => ((ended = true), outcomes));
  await host.finish('start web:web_2');
  // the first old worker's stop has begun (it accepts nothing more); its drain does not hold the roll up
  assert.deepEqual(host.waitingOn(), ['stop web:web_0', 'start web:web_3'], 'the next replacement starts while the first old worker drains');
  assert.equal(host.get('web:web_1').record.state, 'running', 'the second old worker serves until its replacement is ready');
  await host.finish('start web:web_3');
  assert.deepEqual(host.waitingOn(), ['stop web:web_0', 'stop web:web_1'], 'both old workers drain side by side');
  await host.finish('stop web:web_1');
  assert.equal(ended, false, 'the roll waits for every old worker to stop');
  await host.finish('stop web:web_0');
  assert.deepEqual((await done).get('web:web'), 'rolled');
  assert.deepEqual(host.calls, [
    'buildSpec web_0 2',
    'add web:web_2',
    'start web:web_2',
    'stop web:web_0',
    'buildSpec web_1 3',
    'add web:web_3',
    'start web:web_3',
    'stop web:web_1',
    'drop web:web_1',
    'drop web:web_0',
  ]);
  assert.deepEqual(host.keysIn('running'), ['web:web_2', 'web:web_3']);
});

test('roll: a replacement that fails to start is stopped and dropped, and the old worker stays in the pool', async () => {
  const { host, arbiter } = pool(1);
  const done = arbiter.rollWorkers();
  await host.finish('start web:web_1', FAILED);
  await host.finish('stop web:web_1');
  await done;
  assert.deepEqual(host.calls, ['buildSpec web_0 1', 'add web:web_1', 'start web:web_1', 'stop web:web_1', 'drop web:web_1']);
  const old = host.get('web:web_0');
  assert.equal(old.record.state, 'running');
  assert.equal(old.retiring, false, 'still counted in the pool');
  assert.match(host.lines.join('\n'), /web_0: replacement web_1 did not start \(exited before it was ready\); keeping the old worker/);
});

test('roll: goes on to the next worker after a replacement fails', async () => {
  const { host, arbiter } = pool(2);
  const done = arbiter.rollWorkers();
  await host.finish('start web:web_2', FAILED);
  await host.finish('stop web:web_2');
  await host.finish('start web:web_2');
  await host.finish('stop web:web_1');
  await done;
  assert.deepEqual(host.keysIn('running'), ['web:web_0', 'web:web_2']);
});

test('roll: stops before the next worker once isRunning() turns false, and does not converge', async () => {
  const { host, arbiter } = pool(2, 4);
  const done = arbiter.rollWorkers();
  await flush();
  // the shutdown begins while the first replacement loads: the roll starts no other
  host.running = false;
  await host.finish('start web:web_2');
  assert.deepEqual(host.waitingOn(), ['stop web:web_0']);
  await host.finish('stop web:web_0');
  await done;
  assert.deepEqual(host.calls.at(-1), 'drop web:web_0', 'web_1 is left alone and nothing is added');
  assert.deepEqual(host.keysIn('running'), ['web:web_1', 'web:web_2']);
});

test('roll: leaves retiring workers to their retirement, and replaces one still starting at once, not after a roll', async () => {
  const { host, arbiter } = pool(3);
  host.setState(host.get('web:web_0'), 'starting');
  host.get('web:web_1').retiring = true;
  const done = arbiter.rollWorkers();
  await flush();
  // the starting one serves nothing: it is stopped at once, beside the roll of the running one
  assert.deepEqual(host.waitingOn(), ['stop web:web_0', 'start web:web_4']);
  await host.finishAll();
  assert.equal((await done).get('web:web'), 'rolled');
  assert.deepEqual(host.calls.filter((c) => c.startsWith('stop ')), ['stop web:web_0', 'stop web:web_2']);
  assert.ok(!host.table.has('web:web_0') && host.get('web:web_3').record.state === 'running', host.calls.join(', '));
});

test('roll: workers in backoff are replaced at once, in their slots, without waiting for the running ones', async () => {
  const { host, arbiter } = pool(3);
  for (const [key, slot] of [['web:web_0', 0], ['web:web_1', 1], ['web:web_2', 2]] as const) {
    const m = host.get(key);
    m.role = 'serving';
    m.slot = slot;
  }
  host.setState(host.get('web:web_0'), 'backoff');
  host.setState(host.get('web:web_1'), 'backoff');
  const done = arbiter.rollWorkers();
  await host.finish('stop web:web_0');
  await host.finish('stop web:web_1');
  // their successors start while the running worker's replacement is still loading
  assert.deepEqual(host.waitingOn().sort(), ['start web:web_3', 'start web:web_4', 'start web:web_5']);
  assert.deepEqual([host.get('web:web_3').slot, host.get('web:web_4').slot], [0, 1]);
  await host.finishAll();
  assert.equal((await done).get('web:web'), 'rolled');
  assert.deepEqual(host.keysIn('running'), ['web:web_3', 'web:web_4', 'web:web_5']);
  assert.deepEqual(host.keysIn('backoff'), []);
});

test('roll: a WINCH during the roll ends it: nothing more starts, and the outcome says so', async () => {
  const { host, arbiter } = pool(3);
  const done = arbiter.rollWorkers();
  await host.finish('start web:web_3');
  await host.finish('stop web:web_0');
  await flush();
  assert.deepEqual(host.waitingOn(), ['start web:web_4']);
  arbiter.stopWorkers();
  await host.finishAll();
  assert.equal((await done).get('web:web'), 'stopped');
  assert.deepEqual(host.keysIn('running'), [], host.calls.join(', '));
  assert.ok(!host.lines.some((l) => /keeping the old worker/.test(l)), host.lines.join('\n'));
  assert.deepEqual(host.calls.filter((c) => c.startsWith('add ')), ['add web:web_3', 'add web:web_4'], 'nothing is added after the WINCH');
});

test('roll: afterwards, adds workers until the program has its target', async () => {
  const { host, arbiter } = pool(1, 3);
  const done = arbiter.rollWorkers();
  await host.finishAll();
  await done;
  // the pool grows to its target while the old worker drains
  assert.deepEqual(host.calls.slice(4), [
    'buildSpec web_1 2',
    'add web:web_2',
    'start web:web_2',
    'drop web:web_0',
    'buildSpec web_2 3',
    'add web:web_3',
    'start web:web_3',
  ]);
  assert.deepEqual(host.keysIn('running'), ['web:web_1', 'web:web_2', 'web:web_3']);
});

test('roll: adding up to the target stops at the first worker that fails to start', async () => {
  const { host, arbiter } = pool(1, 3);
  const done = arbiter.rollWorkers();
  await host.finish('start web:web_1');
  await host.finish('stop web:web_0');
  await host.finish('start web:web_2', FAILED);
  await done;
  assert.deepEqual(host.calls.filter((c) => c.startsWith('start ')), ['start web:web_1', 'start web:web_2'], 'no third worker is tried');
});

test('roll: afterwards, retires the highest-numbered workers above the target', async () => {
  const { host, arbiter } = pool(3, 1);
  const done = arbiter.rollWorkers();
  await host.finishAll();
  await done;
  // (the old workers' drops come in between: they drain meanwhile)
  assert.deepEqual(host.calls.filter((c) => /^(stop|drop) web:web_[45]$/.test(c)), ['stop web:web_4', 'stop web:web_5', 'drop web:web_4', 'drop web:web_5']);
  assert.ok(host.calls.indexOf('drop web:web_2') < host.calls.indexOf('drop web:web_4'), JSON.stringify(host.calls));
  assert.deepEqual([...host.table.keys()], ['web:web_3']);
});

test('roll: an old worker that is no longer the current process under its key is stopped but not dropped', async () => {
  const { host, arbiter } = pool(1);
  const done = arbiter.rollWorkers();
  await host.finish('start web:web_1');
  const newer = host.put(spec('web', 0)); // e.g. the config was applied meanwhile and re-registered web_0
  await host.finish('stop web:web_0');
  await done;
  assert.ok(!host.calls.includes('drop web:web_0'));
  assert.equal(host.get('web:web_0'), newer);
});

test('roll: rolls every worker program, one program after the other', async () => {
  const host = new FakeHost();
  host.put(spec('web', 0));
  host.put(spec('api', 0));
  const arbiter = new Arbiter(host);
  const done = arbiter.rollWorkers();
  await host.finishAll();
  await done;
  assert.deepEqual(
    host.calls.filter((c) => c.startsWith('start ') || c.startsWith('stop ')),
    ['start web:web_1', 'stop web:web_0', 'start api:api_1', 'stop api:api_0'],
  );
});

// --- retiring one worker (max_requests, max_memory) ---

test('retire: the successor starts first; the old worker is stopped once it runs, then dropped', async () => {
  const { host, arbiter } = pool(2);
  arbiter.retire(host.get('web:web_0'), 'max_requests 1000 reached');
  assert.equal(host.get('web:web_0').retiring, true);
  await flush();
  assert.deepEqual(host.waitingOn(), ['start web:web_2']);
  await host.finish('start web:web_2');
  await host.finish('stop web:web_0');
  assert.deepEqual(host.calls, ['buildSpec web_0 2', 'add web:web_2', 'start web:web_2', 'stop web:web_0', 'drop web:web_0']);
  assert.deepEqual(host.keysIn('running'), ['web:web_1', 'web:web_2']);
  assert.match(host.lines.join('\n'), /web_0: recycling worker \d+ \(max_requests 1000 reached\)/);
});

test('retire: counts one recycle per retired worker, per program', () => {
  const { host, arbiter } = pool(2);
  host.put(spec('api', 0));
  arbiter.retire(host.get('web:web_0'), 'max_requests');
  arbiter.retire(host.get('web:web_1'), 'max_memory');
  arbiter.retire(host.get('api:api_0'), 'max_requests');
  assert.deepEqual([...arbiter.recycles], [['web:web', 2], ['api:api', 1]]);
});

test('retire: ignores a worker that is not running', () => {
  const { host, arbiter } = pool(1);
  const w = host.get('web:web_0');
  for (const state of ['starting', 'backoff', 'stopping', 'stopped', 'exited', 'fatal'] as const) {
    host.setState(w, state);
    arbiter.retire(w, 'max_requests');
  }
  assert.deepEqual(host.calls, []);
  assert.equal(w.retiring, false);
  assert.equal(arbiter.recycles.size, 0);
});

test('retire: ignores a worker that is already retiring', async () => {
  const { host, arbiter } = pool(1);
  arbiter.retire(host.get('web:web_0'), 'max_requests');
  arbiter.retire(host.get('web:web_0'), 'max_memory');
  await flush();
  assert.deepEqual(host.calls, ['buildSpec web_0 1', 'add web:web_1', 'start web:web_1']);
  assert.equal(arbiter.recycles.get('web:web'), 1);
});

test('retire: does nothing once isRunning() is false', () => {
  const { host, arbiter } = pool(1);
  host.running = false;
  arbiter.retire(host.get('web:web_0'), 'max_requests');
  assert.deepEqual(host.calls, []);
  assert.equal(host.get('web:web_0').retiring, false);
});

test('retire: a successor that fails to start is dropped, and the old worker can be retired again later', async () => {
  const { host, arbiter } = pool(1);
  const w = host.get('web:web_0');
  arbiter.retire(w, 'max_requests');
  await host.finish('start web:web_1', FAILED);
  await host.finish('stop web:web_1');
  assert.deepEqual(host.calls.slice(-2), ['stop web:web_1', 'drop web:web_1']);
  assert.equal(w.record.state, 'running');
  assert.equal(w.retiring, false);
  arbiter.retire(w, 'max_requests');
  await flush();
  assert.deepEqual(host.waitingOn(), ['start web:web_1']);
  assert.equal(arbiter.recycles.get('web:web'), 2);
});

test('retire: when no sibling can be built, the worker restarts in place (stopped, then started again)', async () => {
  const { host, arbiter } = pool(1);
  host.buildable = false;
  arbiter.retire(host.get('web:web_0'), 'max_requests');
  await flush();
  assert.deepEqual(host.waitingOn(), ['stop web:web_0']);
  await host.finish('stop web:web_0');
  await host.finish('start web:web_0');
  assert.deepEqual(host.calls, ['buildSpec web_0 1', 'stop web:web_0', 'start web:web_0']);
  assert.deepEqual(host.keysIn('running'), ['web:web_0']);
});

test('retire: a worker restarted in place is a pool member again, so it can be retired again', async () => {
  const { host, arbiter } = pool(1);
  host.buildable = false;
  const w = host.get('web:web_0');
  arbiter.retire(w, 'max_requests');
  await host.finishAll();
  assert.equal(w.retiring, false);
  arbiter.retire(w, 'max_requests');
  await flush();
  assert.deepEqual(host.waitingOn(), ['stop web:web_0']);
  assert.equal(arbiter.recycles.get('web:web'), 2);
});

test('roll: a worker restarted in place (no sibling buildable) is rolled again by the next roll', async () => {
  const { host, arbiter } = pool(1);
  host.buildable = false;
  await Promise.all([arbiter.rollWorkers(), host.finishAll()]);
  assert.equal(host.get('web:web_0').retiring, false);
  host.calls.length = 0;
  await Promise.all([arbiter.rollWorkers(), host.finishAll()]);
  assert.deepEqual(host.calls, ['buildSpec web_0 1', 'stop web:web_0', 'start web:web_0']);
});

// --- TTIN / TTOU ---

test('TTIN: starts one more worker per worker program, with the next free process number', () => {
  const { host, arbiter } = pool(2);
  host.put(spec('api', 0));
  host.put(spec('cron', 0, null));
  arbiter.addWorkers();
  assert.deepEqual(host.calls, [
    'buildSpec web_1 2',
    'add web:web_2',
    'startNow web:web_2',
    'buildSpec api_0 1',
    'add api:api_1',
    'startNow api:api_1',
  ]);
  assert.match(host.lines.join('\n'), /web: adding worker web_2 \(now 3\)/);
});

test('TTIN: the next free number is above every number in use, a retiring worker\'s included', () => {
  const { host, arbiter } = pool(3);
  host.get('web:web_2').retiring = true;
  arbiter.addWorkers();
  assert.deepEqual(host.calls, ['buildSpec web_2 3', 'add web:web_3', 'startNow web:web_3']);
});

test('WINCH then TTIN: one worker (gunicorn: 0 + 1), and the workers WINCH stopped are dropped, not left stopped', async () => {
  const { host, arbiter } = pool(2);
  arbiter.stopWorkers();
  await host.finishAll();
  assert.deepEqual(host.keysIn('stopped'), ['web:web_0', 'web:web_1']);
  host.calls.length = 0;
  arbiter.addWorkers();
  assert.deepEqual(host.calls, ['drop web:web_0', 'drop web:web_1', 'buildSpec web_1 2', 'add web:web_2', 'startNow web:web_2']);
});

test('TTIN: raises the target, so the next roll keeps the added worker', async () => {
  const { host, arbiter } = pool(2);
  arbiter.addWorkers();
  host.setState(host.get('web:web_2'), 'running');
  await Promise.all([arbiter.rollWorkers(), host.finishAll()]);
  assert.equal(host.keysIn('running').length, 3);
});

test('TTIN: a program whose section no longer builds a worker gets none, with a warning', () => {
  const { host, arbiter } = pool(1);
  host.buildable = false;
  arbiter.addWorkers();
  assert.deepEqual(host.calls, ['buildSpec web_0 1']);
  assert.match(host.lines.join('\n'), /warn web: cannot add a worker/);
});

test('TTIN: starts nothing once isRunning() is false', () => {
  const { host, arbiter } = pool(1);
  host.running = false;
  arbiter.addWorkers();
  assert.deepEqual(host.calls, []);
});

test('TTOU: the newest worker of each worker program leaves gracefully and is dropped once stopped', async () => {
  const { host, arbiter } = pool(3);
  host.put(spec('api', 0));
  host.put(spec('api', 1));
  host.put(spec('cron', 0, null));
  host.put(spec('cron', 1, null));
  arbiter.removeWorkers();
  assert.deepEqual(host.calls, ['stop web:web_2', 'stop api:api_1']);
  assert.equal(host.get('web:web_2').retiring, true);
  await host.finish('stop web:web_2');
  await host.finish('stop api:api_1');
  assert.deepEqual(host.calls.slice(2), ['drop web:web_2', 'drop api:api_1']);
  assert.deepEqual([...host.table.keys()], ['web:web_0', 'web:web_1', 'api:api_0', 'cron:cron_0', 'cron:cron_1']);
});

test('TTOU: never goes below one worker', () => {
  const { host, arbiter } = pool(1);
  arbiter.removeWorkers();
  assert.deepEqual(host.calls, []);
  assert.match(host.lines.join('\n'), /web: keeping its last worker/);
});

test('TTOU: takes one off the target, as gunicorn\'s num_workers; a pool already below it loses no worker', async () => {
  const { host, arbiter } = pool(3);
  host.get('web:web_1').retiring = true;
  host.setState(host.get('web:web_2'), 'exited');
  arbiter.removeWorkers();
  assert.deepEqual(host.calls, []);
  assert.match(host.lines.join('\n'), /web: now 2 worker\(s\)/);
  arbiter.removeWorkers();
  assert.deepEqual(host.calls, [], 'the one live worker stays: the target is 1');
  arbiter.removeWorkers();
  assert.match(host.lines.join('\n'), /web: keeping its last worker/);
});

test('TTOU during a roll to a smaller target counts from the target, not from the old pool', async () => {
  const { host, arbiter } = pool(4, 3);
  const done = arbiter.rollWorkers();
  await flush();
  arbiter.removeWorkers();
  arbiter.removeWorkers();
  await host.finishAll();
  await done;
  assert.equal(host.keysIn('running').length, 1, host.calls.join(', '));
});

test('TTOU: lowers the target, so the next roll does not add the worker back', async () => {
  const { host, arbiter } = pool(3);
  arbiter.removeWorkers();
  await host.finishAll();
  await Promise.all([arbiter.rollWorkers(), host.finishAll()]);
  assert.equal(host.keysIn('running').length, 2);
});

// --- WINCH ---

test('WINCH: stops every worker that is up, and nothing else', () => {
  const host = new FakeHost();
  const states: State[] = ['starting', 'running', 'backoff', 'stopping', 'stopped', 'exited', 'fatal'];
  states.forEach((state, i) => host.put(spec('web', i), state));
  host.put(spec('cron', 0, null), 'running');
  new Arbiter(host).stopWorkers();
  assert.deepEqual(host.calls, ['stop web:web_0', 'stop web:web_1', 'stop web:web_2', 'stop web:web_3']);
});

// --- programs with `command =` ---

test('programs without `worker` are never touched by a roll, TTIN, TTOU or WINCH', async () => {
  const host = new FakeHost();
  host.put(spec('cron', 0, null));
  host.put(spec('cron', 1, null));
  const arbiter = new Arbiter(host);
  arbiter.setTarget('cron', 'cron', 3);
  await arbiter.rollWorkers();
  arbiter.addWorkers();
  arbiter.removeWorkers();
  arbiter.stopWorkers();
  await flush();
  assert.deepEqual(host.calls, []);
  assert.deepEqual(host.keysIn('running'), ['cron:cron_0', 'cron:cron_1']);
});

// --- slots (one socket per slot with reuse_port; the same bookkeeping with a shared socket) ---

/** A host with `count` running serving workers of web in slots 0…, `spares` running spares after them, slots open. */
function slotted(count: number, spares = 0, spareTarget = spares): { host: FakeHost; arbiter: Arbiter } {
  const host = new FakeHost();
  for (let i = 0; i < count; i++) {
    host.put(spec('web', i), 'running', 'serving', i);
    host.slots.add(i);
  }
  for (let i = 0; i < spares; i++) host.put(spec('web', count + i), 'running', 'spare', null);
  const arbiter = new Arbiter(host);
  arbiter.setTarget('web', 'web', count, spareTarget);
  return { host, arbiter };
}

/** "key:role:slot" of every member, in process-number order. */
function roles(host: FakeHost): string[] {
  return [...host.table.values()].sort((a, b) => a.spec.processNum - b.spec.processNum).map((m) => `${m.key}:${m.role ?? '-'}:${m.slot ?? '-'}`);
}

test('place: members not placed yet serve in the lowest free slots, in the order they start; a spare stays a spare', () => {
  const host = new FakeHost();
  const a = host.put(spec('web', 0), 'stopped');
  const b = host.put(spec('web', 1), 'stopped');
  const s = host.put(spec('web', 2), 'stopped', 'spare');
  const arbiter = new Arbiter(host);
  // the supervisor places a process as it spawns it: it is starting by then
  for (const m of [a, b, s]) host.setState(m, 'starting');
  arbiter.place(b);
  arbiter.place(a);
  arbiter.place(s);
  assert.deepEqual(roles(host), ['web:web_0:serving:1', 'web:web_1:serving:0', 'web:web_2:spare:-']);
  arbiter.place(a);
  assert.equal(a.slot, 1, 'a placed member keeps its slot when it restarts');
});

test('place: a worker stopped for good gives its slot up to the next one placed', () => {
  const { host, arbiter } = slotted(2);
  host.setState(host.get('web:web_0'), 'stopped');
  const newcomer = host.put(spec('web', 5), 'stopped');
  arbiter.place(newcomer);
  assert.equal(newcomer.slot, 0);
  assert.equal(host.get('web:web_0').slot, null, 'started again, it is placed anew');
});

test('roll: the replacement takes its old worker\'s slot', async () => {
  const { host, arbiter } = slotted(2);
  await Promise.all([arbiter.rollWorkers(), host.finishAll()]);
  assert.deepEqual(roles(host), ['web:web_2:serving:0', 'web:web_3:serving:1']);
  assert.ok(!host.calls.some((c) => c.startsWith('closeSlot')), 'a roll closes no slot');
});

test('retire without a spare: the successor starts in the same slot, before the old worker stops', async () => {
  const { host, arbiter } = slotted(2);
  arbiter.retire(host.get('web:web_1'), 'max_requests');
  await flush();
  assert.deepEqual(host.waitingOn(), ['start web:web_2']);
  assert.equal(host.get('web:web_2').slot, 1);
  await host.finishAll();
  assert.deepEqual(roles(host), ['web:web_0:serving:0', 'web:web_2:serving:1']);
});

test('TTIN: the new worker serves in the next free slot', () => {
  const { host, arbiter } = slotted(2);
  arbiter.addWorkers();
  assert.equal(host.get('web:web_2').slot, 2);
  assert.equal(host.get('web:web_2').role, 'serving');
});

test('TTOU: the worker in the highest slot leaves, and the master closes (drains) that slot before asking it to stop', async () => {
  const { host, arbiter } = slotted(3);
  // slots are not process numbers: web_0 holds the highest
  host.get('web:web_0').slot = 7;
  host.slots.add(7);
  arbiter.removeWorkers();
  assert.deepEqual(host.calls, ['closeSlot 7 drained'], 'not stopped before its slot is closed');
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(host.calls, ['closeSlot 7 drained', 'stop web:web_0']);
  await host.finishAll();
  assert.deepEqual([...host.table.keys()], ['web:web_1', 'web:web_2']);
});

test('TTOU: a worker that crashes and restarts while its slot drains still leaves, and the slot its restart opened closes', async () => {
  const { host, arbiter } = slotted(3);
  const victim = host.get('web:web_2');
  arbiter.removeWorkers();
  assert.deepEqual(host.calls, ['closeSlot 2 drained']);
  // during the drain: it crashed and its autorestart brought it back in its slot, which opens again for it
  victim.retiring = false;
  host.slots.add(2);
  await host.finishAll();
  assert.ok(host.calls.includes('stop web:web_2'), host.calls.join(', '));
  assert.deepEqual([...host.table.keys()], ['web:web_0', 'web:web_1']);
  assert.deepEqual(host.openSlots(), [0, 1], `nobody serves slot 2 any more: ${host.calls.join(', ')}`);
});

test('a serving worker stopped for good (by hand, fatal) without a spare: its slot closes, nobody would accept there', () => {
  const { host, arbiter } = slotted(2);
  const w = host.get('web:web_1');
  host.setState(w, 'stopped');
  arbiter.memberDown(w);
  assert.deepEqual(host.calls, ['closeSlot 1']);
  assert.deepEqual(host.openSlots(), [0]);
});

test('a worker that exited and restarts in place keeps its slot open (connections wait there for it)', () => {
  const { host, arbiter } = slotted(2);
  const w = host.get('web:web_1');
  arbiter.memberExited(w);
  host.setState(w, 'starting');
  arbiter.memberDown(host.get('web:web_0')); // any other member's event: nothing to close
  assert.deepEqual(host.calls, []);
  assert.equal(w.slot, 1);
});

test('WINCH: workers stop, no spare takes over, no slot closes; TTIN then reuses the first slot', async () => {
  const { host, arbiter } = slotted(2, 1);
  arbiter.stopWorkers();
  for (const m of host.table.values()) arbiter.memberExited(m);
  await host.finishAll();
  for (const m of host.table.values()) arbiter.memberDown(m);
  assert.ok(!host.calls.some((c) => c.startsWith('promote') || c.startsWith('closeSlot')), host.calls.join(', '));
  host.calls.length = 0;
  arbiter.addWorkers();
  assert.equal(host.get('web:web_3').slot, 0, 'the new worker takes a slot whose worker is stopped');
  assert.deepEqual(host.calls.filter((c) => c.startsWith('startNow')), ['startNow web:web_2', 'startNow web:web_3'], 'the stopped spare comes back too');
});

// --- spares ---

test('a serving worker exits: a ready spare takes its slot at once, and the worker comes back as a spare', () => {
  const { host, arbiter } = slotted(2, 1);
  arbiter.memberExited(host.get('web:web_0'));
  assert.deepEqual(host.calls, ['promote web:web_2 slot 0']);
  assert.deepEqual(roles(host), ['web:web_0:spare:-', 'web:web_1:serving:1', 'web:web_2:serving:0']);
  assert.equal(arbiter.takeovers.get('web:web'), 1);
  assert.match(host.lines.join('\n'), /web_0: spare web_2 \(pid \d+\) takes over \(worker \d+ left\)/); // the fake pool has no sockets: no slot named
});

test('a serving worker exits while no spare is ready: it keeps its slot and restarts in place', () => {
  const { host, arbiter } = slotted(1, 1);
  host.setState(host.get('web:web_1'), 'starting');
  arbiter.memberExited(host.get('web:web_0'));
  assert.deepEqual(host.calls, []);
  assert.deepEqual(roles(host), ['web:web_0:serving:0', 'web:web_1:spare:-']);
});

test('no takeover for a spare that exits, a retiring worker, a paused pool, or during a shutdown', () => {
  const { host, arbiter } = slotted(2, 2);
  arbiter.memberExited(host.get('web:web_2'));
  const retiring = host.get('web:web_0');
  retiring.retiring = true;
  arbiter.memberExited(retiring);
  host.running = false;
  arbiter.memberExited(host.get('web:web_1'));
  assert.deepEqual(host.calls, []);
});

test('retire with a ready spare: the spare takes over before the old worker is asked to stop; then a new spare loads', async () => {
  const { host, arbiter } = slotted(2, 1);
  arbiter.retire(host.get('web:web_1'), 'max_requests');
  assert.deepEqual(host.calls, ['promote web:web_2 slot 1', 'stop web:web_1']);
  await host.finish('stop web:web_1');
  assert.deepEqual(host.calls.slice(2), ['drop web:web_1', 'buildSpec web_2 3', 'add web:web_3', 'start web:web_3']);
  assert.equal(host.get('web:web_3').role, 'spare');
  await host.finishAll();
  assert.deepEqual(roles(host), ['web:web_0:serving:0', 'web:web_2:serving:1', 'web:web_3:spare:-']);
  assert.equal(arbiter.recycles.get('web:web'), 1);
});

test('a spare over max_memory is replaced by a new spare, and is not counted as a recycle', async () => {
  const { host, arbiter } = slotted(1, 1);
  arbiter.retire(host.get('web:web_1'), 'RSS over max_memory');
  await host.finishAll();
  assert.deepEqual(roles(host), ['web:web_0:serving:0', 'web:web_2:spare:-']);
  assert.equal(arbiter.recycles.size, 0);
});

test('TTIN with a ready spare: the spare serves in a new slot at once, and a new spare loads', async () => {
  const { host, arbiter } = slotted(2, 1);
  arbiter.addWorkers();
  assert.deepEqual(host.calls.slice(0, 1), ['promote web:web_2 slot 2']);
  await host.finishAll();
  assert.deepEqual(roles(host), ['web:web_0:serving:0', 'web:web_1:serving:1', 'web:web_2:serving:2', 'web:web_3:spare:-']);
});

test('roll with spares: new-code spares load first; each old worker hands its slot to one before it is asked to stop', async () => {
  const { host, arbiter } = slotted(2, 1);
  const done = arbiter.rollWorkers();
  await flush();
  assert.deepEqual(host.waitingOn(), ['start web:web_3'], 'a new spare loads before anything stops');
  assert.equal(host.get('web:web_3').role, 'spare');
  await host.finish('start web:web_3');
  assert.deepEqual(host.waitingOn(), ['stop web:web_2', 'start web:web_4', 'stop web:web_0'], 'web_0 drains while the next spare loads');
  await host.finish('start web:web_4');
  // web_1 hands over once the next spare is ready, not once web_0 has drained
  assert.deepEqual(host.waitingOn(), ['stop web:web_2', 'stop web:web_0', 'start web:web_5', 'stop web:web_1']);
  await host.finishAll();
  await done;
  assert.deepEqual(host.calls, [
    'buildSpec web_2 3',
    'add web:web_3',
    'start web:web_3',
    // the old spare runs the old code: it leaves once the new one is ready
    'stop web:web_2',
    'promote web:web_3 slot 0',
    // the next spare loads while web_0 drains
    'buildSpec web_3 4',
    'add web:web_4',
    'start web:web_4',
    'stop web:web_0',
    'promote web:web_4 slot 1',
    'buildSpec web_4 5',
    'add web:web_5',
    'start web:web_5',
    'stop web:web_1',
    'drop web:web_2',
    'drop web:web_0',
    'drop web:web_1',
  ]);
  assert.deepEqual(roles(host), ['web:web_3:serving:0', 'web:web_4:serving:1', 'web:web_5:spare:-']);
});

test('roll with spares: when no new spare gets ready, the old spare stays and each old worker is replaced successor-first', async () => {
  const { host, arbiter } = slotted(1, 1);
  const done = arbiter.rollWorkers();
  await host.finish('start web:web_2', FAILED);
  await host.finish('stop web:web_2');
  await flush();
  assert.deepEqual(host.waitingOn(), ['start web:web_2'], 'the replacement of web_0 starts, and web_1 (the old spare) is not stopped');
  assert.deepEqual(roles(host), ['web:web_0:serving:0', 'web:web_1:spare:-', 'web:web_2:serving:0']);
  await host.finishAll();
  await done;
  assert.deepEqual(roles(host), ['web:web_1:spare:-', 'web:web_2:serving:0']);
  assert.ok(!host.calls.some((c) => c.startsWith('promote')));
});

test('addSpares registers each worker program\'s spares without starting them; fillSpares starts missing ones and stops extras', async () => {
  const host = new FakeHost();
  host.put(spec('web', 0), 'stopped');
  host.put(spec('cron', 0, null), 'stopped');
  const arbiter = new Arbiter(host);
  arbiter.setTarget('web', 'web', 1, 2);
  arbiter.addSpares();
  assert.deepEqual(roles(host).filter((r) => r.startsWith('web:')), ['web:web_0:-:-', 'web:web_1:spare:-', 'web:web_2:spare:-']);
  assert.ok(!host.calls.some((c) => c.startsWith('start')), 'registered only: they start with the program');
  host.calls.length = 0;
  for (const k of ['web:web_1', 'web:web_2']) host.setState(host.get(k), 'running');
  arbiter.setTarget('web', 'web', 1, 1);
  const trimming = arbiter.fillSpares('web', 'web');
  await host.finishAll();
  await trimming;
  assert.deepEqual(host.calls, ['stop web:web_2', 'drop web:web_2']);
  arbiter.setTarget('web', 'web', 1, 2);
  const filling = arbiter.fillSpares('web', 'web');
  await host.finishAll();
  await filling;
  // the next free number is web_2 again (the stopped one was dropped)
  assert.equal(host.get('web:web_2').role, 'spare');
  assert.equal(host.get('web:web_2').record.state, 'running');
});

test('a spare that cannot be handed its sockets stays a spare: the worker keeps its slot, or its successor starts first', async () => {
  const { host, arbiter } = slotted(2, 1);
  host.promotable = false;
  arbiter.memberExited(host.get('web:web_0'));
  assert.deepEqual(roles(host), ['web:web_0:serving:0', 'web:web_1:serving:1', 'web:web_2:spare:-']);
  assert.equal(arbiter.takeovers.size, 0);
  host.calls.length = 0;
  arbiter.retire(host.get('web:web_1'), 'max_requests');
  await flush();
  assert.deepEqual(host.calls.slice(1), ['buildSpec web_1 3', 'add web:web_3', 'start web:web_3'], 'replaced successor-first, in its slot');
  assert.equal(host.get('web:web_3').slot, 1);
});

// --- a worker FATAL while its siblings serve (retryLater) ---

/** A pool of `count` running workers whose web_0 has just gone FATAL, its retry set. */
function withFatal(count: number): { host: FakeHost; arbiter: Arbiter; fatal: FakeMember } {
  const { host, arbiter } = pool(count);
  const fatal = host.get('web:web_0');
  fatal.role = 'serving';
  host.setState(fatal, 'fatal');
  arbiter.memberDown(fatal);
  return { host, arbiter, fatal };
}

test('a worker FATAL while a sibling serves is tried again through its own fatal_cooldown timer (which a stop calls off)', () => {
  const { host } = withFatal(2);
  assert.deepEqual(host.calls, ['coolDown web:web_0 10000']);
  assert.ok(host.lines.some((l) => l.startsWith('warn web_0: FATAL while the other workers of web serve')), host.lines.join('\n'));
});

test('a worker FATAL with no sibling serving, or with a fatal_cooldown of its own, is not given the pool retry', () => {
  const { host, arbiter } = pool(2);
  for (const key of ['web:web_0', 'web:web_1']) {
    const m = host.get(key);
    m.role = 'serving';
    host.setState(m, 'fatal');
    arbiter.memberDown(m);
  }
  assert.deepEqual(host.calls.filter((c) => c.startsWith('coolDown')), ['coolDown web:web_0 10000'], 'web_1 had no sibling running');
  const own = new FakeHost();
  own.put(spec('web', 0));
  const m = own.put({ ...spec('web', 1), fatalCooldownSecs: 5 }, 'fatal', 'serving');
  new Arbiter(own).memberDown(m);
  assert.deepEqual(own.calls.filter((c) => c.startsWith('coolDown')), []);
});

test('TTOU with a FATAL worker awaiting its retry: it is dropped (its retry with it), the pool does not grow back', async () => {
  const { host, arbiter } = withFatal(3);
  host.calls.length = 0;
  arbiter.removeWorkers();
  assert.ok(host.calls.includes('drop web:web_0'), `the FATAL worker is dropped, its retry with it: ${host.calls.join(', ')}`);
  await host.finishAll();
  assert.deepEqual(host.keysIn('running'), ['web:web_1', 'web:web_2'], 'the target is 2, which the two serving ones fill');
});

test('TTOU that leaves the pool still short keeps the retry', async () => {
  const { host, arbiter } = withFatal(3);
  host.setState(host.get('web:web_2'), 'backoff');
  host.calls.length = 0;
  arbiter.removeWorkers(); // target 2: web_1 and web_2 (retrying) fill it, web_0 is not needed
  await host.finishAll();
  assert.ok(host.calls.includes('drop web:web_0'), host.calls.join(', '));
  const { host: h2, arbiter: a2 } = withFatal(3);
  h2.get('web:web_2').retiring = true;
  h2.calls.length = 0;
  a2.removeWorkers(); // target 2, one live worker: the pool is still short, the retry stays
  await h2.finishAll();
  assert.deepEqual(h2.calls.filter((c) => c.includes('web_0')), [], h2.calls.join(', '));
});

test('WINCH with a FATAL worker awaiting its retry: it is stopped with the others and kept (as they are) until TTIN or a reload', async () => {
  const { host, arbiter } = withFatal(2);
  host.calls.length = 0;
  arbiter.stopWorkers();
  assert.deepEqual(host.calls.filter((c) => c.startsWith('stop')).sort(), ['stop web:web_0', 'stop web:web_1']);
  await host.finishAll();
  assert.ok(!host.calls.some((c) => c.startsWith('drop')), host.calls.join(', '));
});

test('HUP: the roll refills the pool to its target, then drops the FATAL worker (its retry with it)', async () => {
  const { host, arbiter } = withFatal(2);
  host.calls.length = 0;
  const roll = arbiter.rollWorkers();
  await host.finishAll();
  await roll;
  assert.ok(host.calls.includes('drop web:web_0') && !host.calls.includes('stop web:web_0'), host.calls.join(', '));
  assert.equal([...host.table.values()].filter((m) => m.record.state === 'running').length, 2, host.calls.join(', '));
});

test('a roll (HUP, watch) leaves workers an operator stopped stopped, and starts none in their place', async () => {
  const { host, arbiter } = pool(2);
  for (const key of ['web:web_0', 'web:web_1']) {
    host.setState(host.get(key), 'stopped');
    host.handStopped.add(key);
  }
  const roll = arbiter.rollWorkers();
  await host.finishAll();
  await roll;
  assert.deepEqual(host.calls.filter((c) => c.startsWith('start') || c.startsWith('add')), [], host.calls.join(', '));
});

test('a roll after the whole pool went FATAL at start refills it and drops the FATAL workers', async () => {
  const { host, arbiter } = pool(2);
  for (const key of ['web:web_0', 'web:web_1']) {
    const m = host.get(key);
    m.role = 'serving';
    host.setState(m, 'fatal');
  }
  const roll = arbiter.rollWorkers();
  await host.finishAll();
  await roll;
  assert.deepEqual(host.keysIn('fatal'), [], host.calls.join(', '));
  assert.equal(host.keysIn('running').length, 2, host.calls.join(', '));
});
