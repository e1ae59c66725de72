// Bad input to /RPC2: a seeded generator makes over a thousand malformed requests — truncated and mutated
// XML, garbage, wrong types and arity, unknown and hostile method names, entity bombs, deep nesting, huge
// bodies, wrong HTTP methods and paths. Each must get an error answer (HTTP 4xx, or a fault; a multicall
// answers a list of faults), drover must stay up, and no process may change state.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeMethodResponse, encodeMethodCall, isStruct, struct, type XmlRpcValue } from '../../src/control/xmlrpc/codec.js';
import { Daemon } from '../helpers/daemon.js';
import { livePids } from '../helpers/drover.js';
import { rawRequest, rpcValue, type RawResponse } from '../helpers/xmlrpc.js';

const CONFIG = `[supervisord]
childlogdir = %(here)s

[program:a]
command = sleep 1000
startsecs = 0

[program:w]
command = sleep 1000
process_name = %(program_name)s_%(process_num)d
numprocs = 2
startsecs = 0

[program:off]
command = sleep 1000
autostart = false
`;

/** A small seeded PRNG (mulberry32), so a failure can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface FuzzCase {
  readonly what: string;
  readonly method?: string;
  readonly path?: string;
  readonly body: string | Buffer;
  readonly headers?: Record<string, string>;
  /** the server may refuse by closing the connection while the body is still being sent */
  readonly closeIsRefusal?: boolean;
}

// Methods that change state, each with wrong-typed or wrong-count arguments only: none can succeed.
const STATEFUL = [
  'supervisor.startProcess',
  'supervisor.stopProcess',
  'supervisor.startProcessGroup',
  'supervisor.stopProcessGroup',
  'supervisor.signalProcess',
  'supervisor.signalProcessGroup',
  'supervisor.addProcessGroup',
  'supervisor.removeProcessGroup',
  'supervisor.sendProcessStdin',
  'supervisor.clearProcessLogs',
  'supervisor.readProcessStdoutLog',
  'supervisor.tailProcessStderrLog',
  'supervisor.getProcessInfo',
  'system.methodHelp',
  'system.methodSignature',
];

const HOSTILE_NAMES = [
  'supervisor._update',
  'supervisor.__proto__',
  'supervisor.constructor',
  'supervisor.hasOwnProperty',
  '__proto__',
  'constructor',
  'toString',
  'system.multicall.extra',
  'supervisor.supervisord.options.mood',
  'supervisor',
  'system.',
  '.getPID',
  'SUPERVISOR.GETPID',
  'supervisor.getPID.call',
];

function generate(rand: () => number): FuzzCase[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const int = (n: number): number => Math.floor(rand() * n);
  const cases: FuzzCase[] = [];
  const valid = [
    encodeMethodCall('supervisor.getAllProcessInfo', []),
    encodeMethodCall('supervisor.stopProcess', ['a', true]),
    encodeMethodCall('supervisor.signalProcessGroup', ['w', 'TERM']),
    encodeMethodCall('system.multicall', [[struct([['methodName', 'supervisor.stopAllProcesses'], ['params', []]])]]),
  ];
  // wrong-typed values (never a string, which a name parameter would accept)
  const notString = (): XmlRpcValue =>
    pick<() => XmlRpcValue>([
      () => int(1000),
      () => rand() < 0.5,
      () => [pick(['a', 'w:*', 'all'])],
      () => struct([['name', 'a']]),
      () => null,
      () => 1.5,
      () => new Date(0),
    ])();

  // 1. truncated state-changing calls: every prefix is invalid XML
  for (let i = 0; i < 250; i++) {
    const v = pick(valid);
    const cut = 1 + int(v.length - 2);
    cases.push({ what: `truncated at ${cut}`, body: v.slice(0, cut) });
  }
  // 2. mutated calls: a character inserted, deleted or replaced, in a way that always breaks the XML or
  // the method name (an inserted '<', '&' or a NUL byte, or a letter into the method name)
  for (let i = 0; i < 200; i++) {
    const v = pick(valid);
    const kind = int(3);
    if (kind === 0) {
      const at = int(v.length);
      cases.push({ what: `'<' inserted at ${at}`, body: `${v.slice(0, at)}<${v.slice(at)}` });
    } else if (kind === 1) {
      const at = v.indexOf('<methodName>') + 12 + int(5);
      cases.push({ what: `method name mangled at ${at}`, body: `${v.slice(0, at)}#${v.slice(at)}` });
    } else {
      const at = int(v.length);
      cases.push({ what: `'&' or NUL inserted at ${at}`, body: `${v.slice(0, at)}${pick(['&', '&bogus;', '\u0000'])}${v.slice(at)}` });
    }
  }
  // 3. garbage bodies
  for (let i = 0; i < 100; i++) {
    const len = int(300);
    const bytes = Buffer.alloc(len);
    for (let j = 0; j < len; j++) bytes[j] = int(256);
    cases.push({ what: `${len} random bytes`, body: bytes });
  }
  for (const body of ['', ' ', '{}', '{"method":"supervisor.getPID"}', 'null', '<', '<>', '<?xml?>', '<a/>', '<methodResponse/>']) {
    cases.push({ what: `garbage ${JSON.stringify(body)}`, body });
  }
  // 4. wrong types and wrong arity on state-changing methods
  for (let i = 0; i < 200; i++) {
    const m = pick(STATEFUL);
    const n = pick([0, 1, 2, 3, 4]);
    const params = Array.from({ length: n }, notString);
    // arity 0 or 4 is always wrong; otherwise the first parameter (a name or a method name) has the wrong type
    cases.push({ what: `${m} with ${n} wrong param(s)`, body: encodeMethodCall(m, params) });
  }
  for (let i = 0; i < 60; i++) {
    const m = pick(['supervisor.startAllProcesses', 'supervisor.stopAllProcesses']);
    cases.push({ what: `${m} with wait not a boolean`, body: encodeMethodCall(m, [pick<XmlRpcValue>(['yes', [], struct([]), 2, null, 0.5])]) });
  }
  for (let i = 0; i < 40; i++) {
    cases.push({ what: 'signalAllProcesses with a bad signal', body: encodeMethodCall('supervisor.signalAllProcesses', [pick(['BOGUS', 'SIGNOPE', '999', '-1', '', 'KILL TERM'])]) });
  }
  // 5. unknown and hostile method names
  for (let i = 0; i < 100; i++) {
    const name = i < HOSTILE_NAMES.length ? (HOSTILE_NAMES[i] as string) : `supervisor.nope${int(1e6)}`;
    cases.push({ what: `unknown method ${name}`, body: encodeMethodCall(name, []) });
  }
  // 6. multicall with bad entries: each entry must come back as a fault
  for (let i = 0; i < 60; i++) {
    const entry = pick<() => XmlRpcValue>([
      () => 'not a struct',
      () => struct([['params', []]]),
      () => struct([['methodName', 'system.multicall'], ['params', [[]]]]),
      () => struct([['methodName', 5], ['params', []]]),
      () => struct([['methodName', 'supervisor.stopProcess'], ['params', 'a']]),
      () => struct([['methodName', 'supervisor.startProcess'], ['params', [notString()]]]),
      () => struct([['methodName', pick(HOSTILE_NAMES)], ['params', []]]),
    ])();
    cases.push({ what: 'multicall with a bad entry', body: encodeMethodCall('system.multicall', [[entry, entry]]) });
  }
  for (const p of [[], ['x'], [5], [struct([])], [[], []]] as XmlRpcValue[][]) {
    cases.push({ what: `multicall with params ${JSON.stringify(p)}`, body: encodeMethodCall('system.multicall', p) });
  }
  // 7. entity bombs, external entities, deep nesting, huge payloads, bad UTF-8
  const lol = '<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">';
  cases.push({ what: 'billion laughs', body: `<?xml version="1.0"?><!DOCTYPE m [${lol}]><methodCall><methodName>&c;</methodName></methodCall>` });
  cases.push({ what: 'external entity', body: '<!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]><methodCall><methodName>&x;</methodName></methodCall>' });
  cases.push({ what: 'undeclared entity', body: '<methodCall><methodName>&x;</methodName></methodCall>' });
  // under the server's 1 MiB body cap, so the XML reader (not the cap) must refuse them
  for (const depth of [60, 1000, 20_000]) {
    const inner = '<value><array><data>'.repeat(depth) + '</data></array></value>'.repeat(depth);
    cases.push({ what: `nesting ${depth} deep`, body: `<methodCall><methodName>supervisor.startProcess</methodName><params><param>${inner}</param></params></methodCall>` });
  }
  cases.push({ what: '900 KB string to an unknown method', body: encodeMethodCall('supervisor.nope', ['x'.repeat(900_000)]) });
  cases.push({ what: '900 KB name to startProcess', body: encodeMethodCall('supervisor.startProcess', ['x'.repeat(900_000)]) });
  cases.push({ what: '30k-element array', body: encodeMethodCall('supervisor.startProcess', [Array.from({ length: 30_000 }, () => 1)]) });
  // the server answers 413 at once and closes: a client still sending may see the close (EPIPE) first
  cases.push({ what: 'body over the 1 MiB cap', body: 'x'.repeat(1024 * 1024 + 10), closeIsRefusal: true });
  cases.push({ what: 'invalid UTF-8', body: Buffer.concat([Buffer.from('<methodCall><methodName>supervisor.'), Buffer.from([0xc3, 0x28]), Buffer.from('</methodName></methodCall>')]) });
  // 8. wrong HTTP methods and paths
  for (const method of ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']) {
    cases.push({ what: `${method} /RPC2`, method, body: method === 'GET' || method === 'HEAD' ? '' : valid[1] as string });
  }
  for (const path of ['/RPC3', '/rpc2', '/RPC2x', '/', '/RPC', '/%2e%2e/RPC2', '/api/../RPC2x']) {
    cases.push({ what: `POST ${path}`, path, body: valid[1] as string });
  }
  return cases;
}

/** Whether `res` is an error answer: HTTP 4xx, a fault, or (multicall) a list of faults only. */
function isErrorAnswer(res: RawResponse): string | null {
  if (res.status >= 400 && res.status < 500) return null;
  if (res.status !== 200) return `HTTP ${res.status}`;
  let decoded;
  try {
    decoded = decodeMethodResponse(res.body);
  } catch (err) {
    return `an answer that is not XML-RPC: ${(err as Error).message}`;
  }
  if (decoded.type === 'fault') return null;
  const v = decoded.value;
  if (Array.isArray(v) && v.length > 0 && v.every((e) => isStruct(e) && typeof e['faultCode'] === 'number')) return null;
  // group and "all" methods answer one result per process; a refusal is a non-SUCCESS status in each
  if (Array.isArray(v) && v.length > 0 && v.every((e) => isStruct(e) && typeof e['status'] === 'number' && e['status'] !== 80)) return null;
  return `a successful result: ${JSON.stringify(v).slice(0, 200)}`;
}

/** The part of getAllProcessInfo that must not move: state, pid and start time of every process. */
async function stateOf(socket: string): Promise<string> {
  const infos = (await rpcValue(socket, 'supervisor.getAllProcessInfo')) as Record<string, XmlRpcValue>[];
  return JSON.stringify(infos.map((i) => [i['group'], i['name'], i['statename'], i['pid'], i['start'], i['stop']]));
}

test('over a thousand malformed XML-RPC requests: each gets an error, drover stays up, nothing changes', async () => {
  const seed = Number(process.env['DROVER_FUZZ_SEED'] ?? '20261122');
  const cases = generate(prng(seed));
  assert.ok(cases.length >= 1000, `only ${cases.length} cases`);
  const d = new Daemon(CONFIG);
  try {
    await d.up();
    const socket = join(d.dir, '.drover', 'drover.sock');
    const before = await stateOf(socket);
    for (const info of JSON.parse(before) as [string, string, string, number][]) if (info[3] > 0) d.seen.add(info[3]);

    const failures: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < cases.length; i = next++) {
        const c = cases[i] as FuzzCase;
        const started = performance.now();
        const send = (): ReturnType<typeof rawRequest> => rawRequest(socket, { method: c.method ?? 'POST', path: c.path ?? '/RPC2', body: c.body, timeoutMs: 10_000 });
        try {
          let res;
          try {
            res = await send();
          } catch (err) {
            // a connection cut while the body was still being sent (EPIPE; seen twice in CI under load, on
            // bodies under the cap, not reproduced): sent once more, the request must get its error answer
            const code = (err as NodeJS.ErrnoException).code;
            if (c.closeIsRefusal || (code !== 'EPIPE' && code !== 'ECONNRESET')) throw err;
            res = await send();
          }
          const bad = isErrorAnswer(res);
          if (bad) failures.push(`#${i} ${c.what}: ${bad}`);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (c.closeIsRefusal && (code === 'EPIPE' || code === 'ECONNRESET')) continue;
          // how long it took tells a server-side timeout (10 s for headers, 30 s for a request) from a close
          failures.push(`#${i} ${c.what}: ${(err as Error).message} after ${Math.round(performance.now() - started)} ms`);
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    assert.deepEqual(failures.slice(0, 20), [], `seed ${seed}: ${failures.length} of ${cases.length} requests were not refused\n${d.daemonStderr()}`);

    assert.equal(livePids([d.pid]).length, 1, `drover is gone\n${d.daemonStderr()}`);
    assert.equal(await stateOf(socket), before, 'a process changed state');
    assert.equal(await rpcValue(socket, 'supervisor.getPID'), d.pid, 'drover still answers');
  } finally {
    const survivors = await d.teardown();
    assert.deepEqual(survivors, [], 'teardown had to kill survivors');
  }
});
