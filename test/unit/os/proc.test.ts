// /proc/PID/stat parsing: comm may contain spaces and parentheses, so fields are counted after the last ')'.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { descendantsOf, parseStat, type ProcStat } from '../../../src/os/proc.js';

test('a comm with spaces and parentheses does not shift the fields', () => {
  const line = '4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 123456 1000 250 18446744073709551615';
  const st = parseStat(line) as ProcStat;
  assert.equal(st.pid, 4242);
  assert.equal(st.comm, 'my (odd) prog');
  assert.equal(st.state, 'S');
  assert.equal(st.ppid, 1);
  assert.equal(st.pgrp, 4242);
  assert.equal(st.session, 4242);
  assert.equal(st.ttyNr, 0);
  assert.equal(st.cpuTicks, 10);
  assert.equal(st.startTicks, 123456);
  assert.equal(st.rssPages, 250);
});

test('descendants follow ppid links through the whole tree, not just children', () => {
  const p = (pid: number, ppid: number): ProcStat => ({ pid, ppid, pgrp: pid, session: pid, ttyNr: 0, startTicks: 0, state: 'S', comm: 'x', cpuTicks: 0, rssPages: 0 });
  const table = [p(10, 1), p(11, 10), p(12, 11), p(13, 10), p(20, 1), p(21, 20)];
  assert.deepEqual(descendantsOf(10, table).map((x) => x.pid).sort(), [11, 12, 13]);
  assert.deepEqual(descendantsOf(12, table), []);
});
