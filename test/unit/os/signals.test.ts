// Signal names and numbers as supervisor's signal_number reads them (Python's int() and signal module).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deliverableSignal, signalName, signalNumber } from '../../../src/os/signals.js';

test('names with or without SIG, any case, and numbers as Python int() reads them', () => {
  assert.equal(signalNumber('TERM'), 15);
  assert.equal(signalNumber('sigterm'), 15);
  assert.equal(signalNumber(' 9 '), 9);
  // int('+9') is 9 in Python: supervisorctl `signal +9 x` kills x under supervisord
  assert.equal(signalNumber('+9'), 9);
  // Python's signal module has SIGCLD beside SIGCHLD; Node's table does not
  assert.equal(signalNumber('CLD'), 17);
  assert.equal(signalNumber('SIGCLD'), 17);
  assert.equal(signalName(17), 'CHLD', 'a number is named by its usual name');
  assert.equal(signalNumber('RTMIN'), 34);
  for (const bad of ['BOGUS', '-9', '9.0', '', '65', '0x9', '++9']) assert.equal(signalNumber(bad), null, bad);
});

test('real-time signals between the two ends are named as kill -l names them, and read back', () => {
  assert.equal(signalName(34), 'RTMIN');
  assert.equal(signalName(39), 'RTMIN+5');
  assert.equal(signalName(49), 'RTMIN+15');
  assert.equal(signalName(50), 'RTMAX-14');
  assert.equal(signalName(63), 'RTMAX-1');
  assert.equal(signalName(64), 'RTMAX');
  assert.equal(signalName(32), null, "glibc's own, not a signal a program is sent");
  for (let n = 34; n <= 64; n++) assert.equal(signalNumber(signalName(n) as string), n, String(n));
  assert.equal(signalNumber('SIGRTMIN+5'), 39);
  assert.equal(signalNumber('rtmax-1'), 63);
  for (const bad of ['RTMIN+31', 'RTMAX-31', 'RTMIN+', 'RTMIN-1', 'RTMAX+1']) assert.equal(signalNumber(bad), null, bad);
  // by number too: "35" is RTMIN+1 (it was refused while RTMIN+1 was taken, and the control API, which
  // passed an accepted name on as its number, crashed the daemon with it)
  for (let n = 34; n <= 64; n++) assert.equal(signalNumber(String(n)), n, String(n));
  for (const bad of ['32', '33', '65']) assert.equal(signalNumber(bad), null, bad);
});

test('every signal a request may name reads back from the name it is passed on as', () => {
  for (let n = 0; n <= 70; n++) {
    if (deliverableSignal(String(n)) === null) continue;
    assert.equal(deliverableSignal(signalName(n) ?? String(n)), n, String(n));
  }
});

test('0 is deliverable (kill(pid, 0) checks the process is there), however it is written', () => {
  for (const zero of ['0', ' 0', '+0', '00']) assert.equal(deliverableSignal(zero), 0, zero);
  assert.equal(signalNumber('0'), null, 'not as a stopsignal');
});
