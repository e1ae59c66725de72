// Issue 11, finding 1 of the security review: one log read with a length of 2^31 or more (a JSON API tail,
// an XML-RPC <i8>, a read of a log over 2 GiB) made Node abort the master with a native assertion in
// FileHandle.read, taking every program down with it. Reads are now clamped to what the file holds, read in
// bounded chunks, and one answer carries at most 16 MiB of log (E_BAD_ARGUMENTS / fault 3 above that); a
// system.multicall's results together are capped the same way. Each test checks that the master survives.
import assert from 'node:assert/strict';
import { closeSync, openSync, ftruncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { XmlRpcValue } from '../../src/control/xmlrpc/codec.js';
import { decodeMethodResponse, encodeMethodCall } from '../../src/control/xmlrpc/codec.js';
import { Daemon } from '../helpers/daemon.js';
import { livePids } from '../helpers/drover.js';
import { rawRequest, type RawResponse } from '../helpers/xmlrpc.js';

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;
/** the sparse log over 2 GiB (stdout_logfile_maxbytes = 0 lets a log grow that large) */
const BIG_BYTES = 3 * GiB;
/** a log under the per-answer cap, so that several reads of it exceed the multicall cap */
const MID_BYTES = 6 * MiB;

const config = `[program:p]
command = /bin/sh -c "echo hi; exec sleep 1000000"
startsecs = 0
stdout_logfile = %(here)s/p.log

[program:big]
command = /bin/sh -c "echo tail-of-big; exec sleep 1000000"
startsecs = 0
stdout_logfile = %(here)s/big.log
stdout_logfile_maxbytes = 0

[program:mid]
command = /bin/sh -c "exec sleep 1000000"
startsecs = 0
stdout_logfile = %(here)s/mid.log
stdout_logfile_maxbytes = 0
`;

let d: Daemon;

before(async () => {
  d = new Daemon(config);
  const fd = openSync(join(d.dir, 'big.log'), 'w');
  ftruncateSync(fd, BIG_BYTES); // sparse: no disk used
  closeSync(fd);
  writeFileSync(join(d.dir, 'mid.log'), `${'m'.repeat(1023)}\n`.repeat(MID_BYTES / 1024));
  await d.up();
  // the programs' first lines are in their logs before any test reads them
  await waitForLog('p', 'hi\n');
  await waitForLog('big', 'tail-of-big\n');
});

after(async () => {
  const survivors = await d.teardown();
  assert.deepEqual(survivors, [], 'nothing survives teardown');
});

function socket(): string {
  return join(d.dir, '.drover', 'drover.sock');
}

/** One request; a dropped connection (the master died) fails with drover's stderr, which names the abort. */
async function request(method: 'GET' | 'POST', path: string, body?: string): Promise<RawResponse> {
  try {
    return await rawRequest(socket(), { method, path, ...(body !== undefined ? { body } : {}), timeoutMs: 30_000 });
  } catch (err) {
    throw new Error(`${method} ${path} got no answer (${(err as Error).message})\n${d.daemonStderr()}`);
  }
}

async function getJson(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await request('GET', path);
  return { status: res.status, body: JSON.parse(res.body) as Record<string, unknown> };
}

async function waitForLog(name: string, suffix: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const { body } = await getJson(`/api/logs/tail?process=${name}&length=64`);
    if (typeof body['data'] === 'string' && body['data'].endsWith(suffix)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${name}'s log never ended with ${JSON.stringify(suffix)}\n${d.daemonStderr()}`);
}

/** The master is alive and answering, with the pid it started with. */
async function assertMasterAlive(): Promise<void> {
  assert.deepEqual(livePids([d.pid]), [d.pid], `drover (pid ${d.pid}) is alive\n${d.daemonStderr()}`);
  const { body } = await getJson('/api/info');
  assert.equal(body['pid'], d.pid);
}

async function rpcCall(body: string): Promise<ReturnType<typeof decodeMethodResponse>> {
  const res = await request('POST', '/RPC2', body);
  assert.equal(res.status, 200, res.body);
  return decodeMethodResponse(res.body);
}

test('a JSON tail asking for 2^32 or 2^31 bytes gets the small log, and the master lives', async () => {
  for (const length of [2 ** 32, 2 ** 31, 2 ** 53 - 1]) {
    const { status, body } = await getJson(`/api/logs/tail?process=p&offset=0&length=${length}`);
    assert.equal(status, 200, JSON.stringify(body));
    assert.deepEqual([body['data'], body['offset'], body['overflow']], ['hi\n', 3, false], `length ${length}`);
    await assertMasterAlive();
  }
});

test('an XML-RPC tail with an <i8> length of 2^31 gets the small log, and the master lives', async () => {
  const body =
    '<?xml version="1.0"?><methodCall><methodName>supervisor.tailProcessStdoutLog</methodName><params>' +
    '<param><value><string>p</string></value></param><param><value><int>0</int></value></param>' +
    '<param><value><i8>2147483648</i8></value></param></params></methodCall>';
  const r = await rpcCall(body);
  assert.deepEqual(r, { type: 'result', value: ['hi\n', 3, false] });
  await assertMasterAlive();
});

test('reading 2 GiB of a 3 GiB log is refused with E_BAD_ARGUMENTS, and the master lives', async () => {
  const { status, body } = await getJson('/api/logs/read?process=big&offset=-2147483648');
  assert.equal(status, 400, JSON.stringify(body));
  assert.equal(body['code'], 'E_BAD_ARGUMENTS');
  // the log's own name, not the descriptor drover read it through (/proc/self/fd/N)
  assert.match(String(body['message']), /^reading 2147483648 bytes of \/.*\/big\.log is more than one answer may carry \(16 MiB\)/);
  await assertMasterAlive();
  // the whole file (length 0 = to the end) and a tail of 2^31 bytes are refused the same way
  for (const path of ['/api/logs/read?process=big&offset=0&length=0', '/api/logs/tail?process=big&offset=0&length=2147483648']) {
    const r = await getJson(path);
    assert.equal(r.body['code'], 'E_BAD_ARGUMENTS', `${path}: ${JSON.stringify(r.body)}`);
    await assertMasterAlive();
  }
});

test('small reads past the 2 GiB mark of a big log still work', async () => {
  const size = BIG_BYTES + 'tail-of-big\n'.length;
  const read = await getJson('/api/logs/read?process=big&offset=-12');
  assert.equal(read.body['data'], 'tail-of-big\n');
  const ranged = await getJson(`/api/logs/read?process=big&offset=${size - 12}&length=5`);
  assert.equal(ranged.body['data'], 'tail-');
  const tail = await getJson('/api/logs/tail?process=big&offset=0&length=12');
  assert.deepEqual([tail.body['data'], tail.body['offset'], tail.body['overflow']], ['tail-of-big\n', size, true]);
});

test('XML-RPC reads over the cap answer fault 3 BAD_ARGUMENTS, and the master lives', async () => {
  const whole = await rpcCall(encodeMethodCall('supervisor.readProcessStdoutLog', ['big', 0, 0]));
  assert.equal(whole.type, 'fault');
  assert.equal(whole.type === 'fault' && whole.faultCode, 3, JSON.stringify(whole));
  assert.match(whole.type === 'fault' ? whole.faultString : '', /bytes of \/.*\/big\.log is more than/, JSON.stringify(whole));
  const fromEnd = await rpcCall(encodeMethodCall('supervisor.readProcessStdoutLog', ['big', -(2 ** 31), 0]));
  assert.equal(fromEnd.type === 'fault' && fromEnd.faultCode, 3, JSON.stringify(fromEnd));
  await assertMasterAlive();
});

test('system.multicall: results beyond 16 MiB in total are replaced by BAD_ARGUMENTS faults; small ones still fit', async () => {
  const read: XmlRpcValue = { methodName: 'supervisor.readProcessStdoutLog', params: ['mid', 0, 0] };
  const calls: XmlRpcValue[] = [read, read, read, read, { methodName: 'supervisor.getPID', params: [] }];
  const r = await rpcCall(encodeMethodCall('system.multicall', [calls]));
  assert.equal(r.type, 'result', JSON.stringify(r).slice(0, 500));
  const results = (r.type === 'result' ? r.value : []) as XmlRpcValue[];
  assert.equal(results.length, 5);
  const shape = results.map((v) => (typeof v === 'string' ? `text ${v.length}` : typeof v === 'number' ? 'number' : JSON.stringify(v).slice(0, 200)));
  assert.equal(shape[0], `text ${MID_BYTES}`);
  assert.equal(shape[1], `text ${MID_BYTES}`);
  for (const i of [2, 3]) {
    const f = results[i] as Record<string, XmlRpcValue>;
    assert.equal(f['faultCode'], 3, `entry ${i}: ${shape[i]}`);
    assert.match(String(f['faultString']), /^BAD_ARGUMENTS: .*16 MiB/);
  }
  assert.equal(results[4], d.pid, 'a small result after the cap is still answered');
  await assertMasterAlive();
});
