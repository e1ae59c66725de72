import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ValueProblem,
  autoRestart,
  boolean,
  byteSize,
  duration,
  exitCodes,
  inetAddress,
  integer,
  keyValuePairs,
  logfileName,
  octal,
  processOrGroupName,
  signalName,
} from '../../../src/config/datatypes.js';

test('integer follows Python int()', () => {
  assert.equal(integer('42'), 42);
  assert.equal(integer(' -3 '), -3);
  assert.equal(integer('1_000'), 1000);
  assert.throws(() => integer('1.5'), ValueProblem);
  assert.throws(() => integer('0x10'), ValueProblem);
});

test('booleans: true/false yes/no on/off 1/0, any case', () => {
  for (const t of ['true', 'YES', 'On', '1']) assert.equal(boolean(t), true);
  for (const f of ['false', 'No', 'OFF', '0']) assert.equal(boolean(f), false);
  assert.throws(() => boolean('maybe'), /not a boolean/);
});

test('byte sizes with KB/MB/GB suffixes', () => {
  assert.equal(byteSize('50MB'), 50 * 1024 * 1024);
  assert.equal(byteSize('1kb'), 1024);
  assert.equal(byteSize('1GB'), 1024 ** 3);
  assert.equal(byteSize('123'), 123);
  assert.throws(() => byteSize('50XB'), ValueProblem);
  assert.throws(() => byteSize('5 0MB'), ValueProblem);
});

test('octal as Python int(s, 8)', () => {
  assert.equal(octal('022'), 0o22);
  assert.equal(octal('0o77'), 0o77);
  assert.equal(octal('7'), 7);
  assert.throws(() => octal('089'), ValueProblem);
});

test('signals by name or number, canonical names', () => {
  assert.equal(signalName('TERM'), 'TERM');
  assert.equal(signalName('sigquit'), 'QUIT');
  assert.equal(signalName('9'), 'KILL');
  assert.equal(signalName('IOT'), 'ABRT');
  assert.throws(() => signalName('99'), /not a signal number/);
  assert.throws(() => signalName('NOPE'), /not a signal name/);
});

test('exit codes are sorted, 0-255, empty allowed', () => {
  assert.deepEqual(exitCodes('2,0, 1'), [0, 1, 2]);
  assert.deepEqual(exitCodes(''), []);
  assert.throws(() => exitCodes('256'), /out of range/);
});

test('autorestart forms', () => {
  assert.equal(autoRestart('TRUE'), 'true');
  assert.equal(autoRestart('off'), 'false');
  assert.equal(autoRestart('Unexpected'), 'unexpected');
  assert.throws(() => autoRestart('always'), ValueProblem);
});

test('logfile names', () => {
  assert.deepEqual(logfileName('AUTO'), { type: 'auto' });
  assert.deepEqual(logfileName('none'), { type: 'none' });
  assert.deepEqual(logfileName('Off'), { type: 'none' });
  assert.deepEqual(logfileName('syslog'), { type: 'syslog' });
  assert.deepEqual(logfileName('/var/log/x.log'), { type: 'path', path: '/var/log/x.log' });
});

test('durations: seconds, ms, s, m, h', () => {
  assert.equal(duration('10'), 10);
  assert.equal(duration('500ms'), 0.5);
  assert.equal(duration('5m'), 300);
  assert.equal(duration('1h'), 3600);
  assert.throws(() => duration('-5s'), ValueProblem);
  assert.throws(() => duration('soon'), ValueProblem);
});

test('environment pairs with supervisor quoting rules', () => {
  assert.deepEqual(keyValuePairs('A="with,comma",B=\'single quoted\',C=plain-value.1:2/3,D=""'), {
    A: 'with,comma',
    B: 'single quoted',
    C: 'plain-value.1:2/3',
    D: '',
  });
  const skipped: string[] = [];
  assert.deepEqual(keyValuePairs('A=$HOME', (_k, _v, s) => skipped.push(s)), { A: '$' });
  assert.deepEqual(skipped, ['HOME']);
  assert.throws(() => keyValuePairs('A=1,B'), /unexpected end/);
  assert.deepEqual(keyValuePairs(''), {});
});

test('names and addresses', () => {
  assert.equal(processOrGroupName(' web '), 'web');
  assert.throws(() => processOrGroupName('a:b'), ValueProblem);
  assert.deepEqual(inetAddress('127.0.0.1:9001'), { host: '127.0.0.1', port: 9001 });
  assert.deepEqual(inetAddress('*:80'), { host: '', port: 80 });
  assert.deepEqual(inetAddress('9001'), { host: '', port: 9001 });
  assert.throws(() => inetAddress('host:70000'), /out of range/);
});

test('names refuse C0 (tab and newline included), DEL and C1 control characters, naming the one found (issue 11)', () => {
  for (const [name, code] of [
    ['a\tb', 'U+0009'],
    ['a\nb', 'U+000A'],
    ['a\u0000', 'U+0000'],
    ['a\u001b[2Kb', 'U+001B'],
    ['a\u0007', 'U+0007'],
    ['a\u007f', 'U+007F'],
    ['a\u0085b', 'U+0085'],
    ['a\u009b31m', 'U+009B'],
  ] as const) {
    assert.throws(() => processOrGroupName(name), (e: unknown) => e instanceof ValueProblem && e.message.includes(`control character ${code}`), JSON.stringify(name));
  }
  // surrounding whitespace is stripped first, as supervisor does
  assert.equal(processOrGroupName('\tweb\n'), 'web');
  assert.equal(processOrGroupName('café-1_x.y'), 'café-1_x.y');
  assert.equal(processOrGroupName('a\u00a0b'), 'a\u00a0b', 'U+00A0 is not a control character');
});
