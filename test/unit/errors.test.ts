// One base for every error (src/errors.ts): each class in src/ derives from DroverError and carries a stable
// code, its message unchanged; no class extends Error directly, and src/ has no `as unknown as`.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { ScaleError, BadSignal } from '../../src/control/api.js';
import { NotRunning, StreamRefused, UnexpectedAnswer, parseServerUrl } from '../../src/control/client.js';
import { XmlRpcDecodeError } from '../../src/control/xmlrpc/codec.js';
import { RpcFault, faultOfErrorCode } from '../../src/control/xmlrpc/faults.js';
import { XmlSyntaxError } from '../../src/control/xmlrpc/xml.js';
import { ApiError, CommandFailed } from '../../src/cli/remote.js';
import { ExpandError } from '../../src/config/expand.js';
import { ShlexError } from '../../src/config/shlex.js';
import { ValueProblem } from '../../src/config/datatypes.js';
import { ListenerConfigError } from '../../src/daemon/listeners.js';
import { DroverError } from '../../src/errors.js';
import { LogReadError } from '../../src/logs/read.js';
import { SocketBindError } from '../../src/prefork/sockets.js';
import { SharedRequestError } from '../../src/primitives/client.js';
import { JournalCorruptError } from '../../src/primitives/journal-core.js';
import { RedisBackendError } from '../../src/primitives/redis-backend.js';
import { SharedError } from '../../src/primitives/service.js';
import { NotANumber } from '../../src/primitives/state-core.js';
import { repoRoot } from '../helpers/paths.js';

test('every error class derives from DroverError with its stable code; messages are as before', () => {
  const ep = parseServerUrl('unix:///run/drover.sock');
  const cases: [DroverError, string, string][] = [
    [new ExpandError('unknown name "x"', 'x'), 'E_EXPAND', 'unknown name "x"'],
    [new ShlexError('no closing quotation'), 'E_SHLEX', 'no closing quotation'],
    [new ValueProblem('not an integer', 'an integer'), 'E_BAD_VALUE', 'not an integer'],
    [new ListenerConfigError('[unix_http_server] chown: no such user x'), 'E_LISTENER_CONFIG', '[unix_http_server] chown: no such user x'],
    [new SocketBindError('[socket:web] cannot bind 127.0.0.1:1: EACCES'), 'E_SOCKET_BIND', '[socket:web] cannot bind 127.0.0.1:1: EACCES'],
    [new RedisBackendError('Redis: down'), 'E_BACKEND', 'Redis: down'],
    [new JournalCorruptError('/j', 2, 'not JSON'), 'E_JOURNAL_CORRUPT', 'journal /j, line 2: not JSON; drover will not start on a journal it cannot read in full (move the file away to start empty)'],
    [new SharedError('E_BAD_REQUEST', '"queue" is required'), 'E_BAD_REQUEST', '"queue" is required'],
    [new SharedRequestError('E_DISCONNECTED', 'the master has gone away'), 'E_DISCONNECTED', 'the master has gone away'],
    [new NotANumber('state "n" holds "x", not a number'), 'E_NOT_A_NUMBER', 'state "n" holds "x", not a number'],
    [new LogReadError('E_NO_FILE', 'no log file /x'), 'E_NO_FILE', 'no log file /x'],
    [new ScaleError('E_BAD_NAME', 'no such program: web'), 'E_BAD_NAME', 'no such program: web'],
    [new BadSignal('SIGNOPE'), 'E_BAD_SIGNAL', 'unknown signal "SIGNOPE"'],
    [new RpcFault('BAD_NAME', 'web'), 'E_RPC_FAULT', 'BAD_NAME: web'],
    [new XmlSyntaxError('no root element', 0), 'E_XML_SYNTAX', 'no root element at offset 0'],
    [new XmlRpcDecodeError(-32700, 'not well-formed XML'), 'E_XMLRPC_DECODE', 'not well-formed XML'],
    [new NotRunning(ep, Object.assign(new Error('connect'), { code: 'ENOENT' })), 'E_NOT_RUNNING', 'no drover is running at unix:///run/drover.sock (ENOENT)'],
    [new StreamRefused(404, '{"ok":false,"code":"E_BAD_NAME","message":"no"}'), 'E_STREAM_REFUSED', 'event stream refused (404): {"ok":false,"code":"E_BAD_NAME","message":"no"}'],
    [new UnexpectedAnswer('GET /api/info', 'pid: expected a number, got "1"'), 'E_BAD_ANSWER', `drover's answer to GET /api/info is not what this client reads: pid: expected a number, got "1"`],
    [new ApiError(404, 'E_BAD_NAME', 'no such process or group: x', {}), 'E_BAD_NAME', 'no such process or group: x'],
    [new CommandFailed('drover has not exited', 1), 'E_FAILED', 'drover has not exited'],
  ];
  for (const [err, code, message] of cases) {
    assert.ok(err instanceof DroverError, `${err.name} derives from DroverError`);
    assert.equal(err.code, code, err.name);
    assert.equal(err.message, message, err.name);
  }
  assert.equal(new SharedRequestError('E_ABORTED', 'take aborted').name, 'AbortError', 'an aborted request still reads as an AbortError');
  assert.equal(new StreamRefused(404, '{"code":"E_BAD_NAME"}').body?.['code'], 'E_BAD_NAME');
});

test("an RpcFault's code is not one a log read's error would be mapped from, so it is never wrapped twice", () => {
  assert.equal(faultOfErrorCode(new RpcFault('NO_FILE').code), null);
  assert.equal(faultOfErrorCode(new XmlRpcDecodeError(-32600, 'x').code), null);
  assert.equal(faultOfErrorCode(new XmlSyntaxError('x', 0).code), null);
});

/** Every .ts file under src/, as [path from the repository root, text]. */
function sources(dir = join(repoRoot, 'src')): [string, string][] {
  return readdirSync(dir).flatMap((name): [string, string][] => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [[relative(repoRoot, path), readFileSync(path, 'utf8')]] : [];
  });
}

test('no class in src/ extends Error but DroverError itself, and no `as unknown as` is left', () => {
  const direct = sources().flatMap(([file, text]) => [...text.matchAll(/class (\w+) extends Error\b/g)].map((m) => `${file}: ${m[1] ?? ''}`));
  assert.deepEqual(direct, ['src/errors.ts: DroverError']);
  const doubleCasts = sources().filter(([, text]) => /\bas unknown as\b/.test(text)).map(([file]) => file);
  assert.deepEqual(doubleCasts, []);
});
