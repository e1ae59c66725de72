// The journal's records: encode → parse → replay round trips, a torn last line, corrupt lines named by
// number, and a memory backend recording to an in-memory journal, restored into a fresh one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeRecord, JournalCorruptError, parseJournal, replay, snapshotRecords, type JournalRecord } from '../../../src/primitives/journal-core.js';
import type { JournalWriter } from '../../../src/primitives/journal.js';
import { MemoryBackend } from '../../../src/primitives/memory-backend.js';
import type { Delivery } from '../../../src/primitives/queue-core.js';

class ListJournal implements JournalWriter {
  readonly records: JournalRecord[] = [];
  append(r: JournalRecord): void {
    this.records.push(r);
  }
  flush(): void {}
  close(): void {}
}

function text(records: JournalRecord[]): string {
  return records.map(encodeRecord).join('');
}

function takeNow(b: MemoryBackend, q: string, owner = 'w#1'): Delivery {
  let got: Delivery | null = null;
  const cancel = b.take(q, owner, 60_000, (d) => (got = d));
  if (!got) {
    cancel();
    assert.fail(`no task ready in ${q}`);
  }
  return got;
}

test('replay: push, ack, nack, dead, retryDead, set, del', () => {
  const image = replay(
    parseJournal(
      text([
        { t: 'push', q: 'a', id: 1, data: { n: 1 }, pri: 0, max: 5, due: 0 },
        { t: 'push', q: 'a', id: 2, data: 'two', pri: 3, max: 2, due: 0 },
        { t: 'push', q: 'b', id: 3, data: null, pri: 0, max: 1, due: 0 },
        { t: 'ack', q: 'a', id: 1 },
        { t: 'nack', q: 'a', id: 2, due: 500, err: 'boom' },
        { t: 'dead', q: 'b', task: { id: 3, data: null, priority: 0, attempts: 1, reason: 'worker exited', error: null, deadAtMs: 9 } },
        { t: 'set', k: 'x', v: [1, 2] },
        { t: 'set', k: 'y', v: 1 },
        { t: 'del', k: 'y' },
      ]),
      'j',
    ).records,
  );
  assert.equal(image.lastId, 3);
  assert.deepEqual([...(image.queues.get('a')?.tasks.keys() ?? [])], [2]);
  assert.deepEqual(image.queues.get('a')?.tasks.get(2), { id: 2, data: 'two', priority: 3, maxAttempts: 2, attempts: 1, dueAtMs: 500, error: 'boom' });
  assert.equal(image.queues.get('b')?.tasks.size, 0);
  assert.equal(image.queues.get('b')?.dead.length, 1);
  assert.deepEqual([...image.state], [['x', [1, 2]]]);

  replay([{ t: 'retryDead', q: 'b' }], image);
  assert.equal(image.queues.get('b')?.dead.length, 0);
  assert.equal(image.queues.get('b')?.tasks.get(3)?.attempts, 0);
});

test('a snapshot replays to the same image', () => {
  const image = replay([
    { t: 'push', q: 'a', id: 7, data: 1, pri: 1, max: 5, due: 0 },
    { t: 'nack', q: 'a', id: 7, due: 0, err: 'e' },
    { t: 'push', q: 'a', id: 9, data: 2, pri: 0, max: 5, due: 0 },
    { t: 'ack', q: 'a', id: 9 },
    { t: 'set', k: 'k', v: { deep: true } },
  ]);
  const again = replay(parseJournal(text(snapshotRecords(image)), 'j').records);
  assert.deepEqual(again, image);
  // the id counter survives even though task 9 is gone
  assert.equal(again.lastId, 9);
});

test('a torn last line is dropped and reported; the lines before it count', () => {
  const whole = text([
    { t: 'push', q: 'a', id: 1, data: 1, pri: 0, max: 5, due: 0 },
    { t: 'push', q: 'a', id: 2, data: 2, pri: 0, max: 5, due: 0 },
  ]);
  const torn = whole.slice(0, whole.length - 10);
  const parsed = parseJournal(torn, 'j');
  assert.equal(parsed.tornLine, 2);
  assert.equal(parsed.records.length, 1);
  assert.equal(parseJournal(whole, 'j').tornLine, null);
  assert.deepEqual(parseJournal('', 'j'), { records: [], tornLine: null });
});

test('a corrupt line that is not the torn tail is an error naming the file and line', () => {
  const good = encodeRecord({ t: 'set', k: 'a', v: 1 });
  for (const bad of ['{not json', '{"t":"push","q":"a"}', '{"t":"frob"}', '[1]', encodeRecord({ t: 'snap', v: 1, lastId: 0 }).trim()]) {
    assert.throws(
      () => parseJournal(`${good}${bad}\n${good}`, '/x/journal'),
      (err: unknown) => err instanceof JournalCorruptError && err.line === 2 && err.message.includes('/x/journal, line 2'),
      bad,
    );
  }
  assert.throws(() => parseJournal('{"t":"snap","v":99,"lastId":0}\n', 'j'), /version/);
});

test('a journaled memory backend restores into a fresh one: leased tasks ready again, dead letters and keys kept', () => {
  const now = 1000;
  const j = new ListJournal();
  const a = new MemoryBackend(() => now, j);
  a.push('q', 'acked', {});
  a.push('q', 'leased', {});
  a.push('q', 'nacked', {});
  a.push('q', 'dies', { maxAttempts: 1 });
  a.push('q', 'later', { delayMs: 5000 });
  assert.equal(a.ack('q', takeNow(a, 'q').id, 'w#1'), true);
  assert.equal(takeNow(a, 'q').data, 'leased');
  const nacked = takeNow(a, 'q');
  assert.equal(a.nack('q', nacked.id, 'w#1', 1000, 'e'), 'requeued');
  assert.equal(takeNow(a, 'q', 'w#2').data, 'dies');
  a.ownerGone('w#2');
  a.stateSet('k', { v: 1 });
  a.stateIncrement('n', 2);
  assert.equal(a.stateCompareAndSet('gone', { found: false, value: null }, { found: true, value: 1 }), true);
  assert.equal(a.stateCompareAndSet('gone', { found: true, value: 1 }, { found: false, value: null }), true);
  a.close();

  const b = new MemoryBackend(() => now);
  b.restore(replay(j.records));
  const [stats] = b.queueStats('q');
  assert.deepEqual({ ready: stats?.ready, delayed: stats?.delayed, leased: stats?.leased, dead: stats?.dead }, { ready: 1, delayed: 2, leased: 0, dead: 1 });
  assert.equal(takeNow(b, 'q').data, 'leased');
  assert.equal(b.deadLetters('q', 10)[0]?.reason, 'worker exited');
  assert.deepEqual(b.stateGet('k'), { found: true, value: { v: 1 } });
  assert.deepEqual(b.stateGet('n'), { found: true, value: 2 });
  assert.equal(b.stateGet('gone').found, false);
  // new ids continue after the old ones
  assert.equal(b.push('q', 'new', {}), 6);
  // a snapshot of b replays to the same tasks (the leased one counted as pending)
  const c = new MemoryBackend(() => now);
  c.restore(replay(parseJournal(text(b.snapshotRecords()), 'j').records));
  const [cs] = c.queueStats('q');
  assert.deepEqual({ ready: cs?.ready, delayed: cs?.delayed, dead: cs?.dead }, { ready: 2, delayed: 2, dead: 1 });
  b.close();
  c.close();
});

test('a task leased when the journal compacted, then nacked: the restart counts that delivery once, not twice', () => {
  const now = 1000;
  const a = new MemoryBackend(() => now, new ListJournal());
  a.push('q', 'x', { maxAttempts: 2 });
  const d1 = takeNow(a, 'q');
  // a compaction while the task is leased (growth compacts at run time), then the journal goes on from it
  const j = new ListJournal();
  j.records.push(...a.snapshotRecords());
  a.attachJournal(j);
  assert.equal(a.nack('q', d1.id, 'w#1', 0, 'e'), 'requeued');
  const b = new MemoryBackend(() => now);
  b.restore(replay(parseJournal(text(j.records), 'j').records));
  const d2 = takeNow(b, 'q');
  assert.equal(d2.attempt, 2, 'the delivery after the restart is attempt 2 of 2, as it would have been without one');
  assert.equal(b.nack('q', d2.id, 'w#1', 0, 'e'), 'dead');
  a.close();
  b.close();
});

test('fencing tokens: a journaled backend reserves them ahead; a backend restored from it grants above, whatever its clock says', () => {
  const journal = new ListJournal();
  const first = new MemoryBackend(() => 5_000_000, journal);
  let token = 0;
  first.lockAcquire('F', 'w#1', 0, (t) => (token = t));
  assert.equal(token, 5_000_000_000);
  const reserved = journal.records.filter((r) => r.t === 'tokens');
  assert.deepEqual(reserved, [{ t: 'tokens', upTo: 5_000_000_000 + 3_600_000_000 }], 'one reservation, an hour of µs ahead');
  first.lockRelease('F', 'w#1', token);
  first.lockAcquire('F', 'w#1', 0, () => {});
  assert.equal(journal.records.filter((r) => r.t === 'tokens').length, 1, 'no new reservation well within the last');
  assert.ok(first.snapshotRecords().some((r) => r.t === 'tokens'), 'a snapshot keeps the reservation');

  // a clock an hour behind the first's
  const second = new MemoryBackend(() => 5_000_000 - 3_600_000);
  second.restore(replay(parseJournal(text(journal.records), 'j').records));
  second.lockAcquire('F', 'w#2', 0, (t) => (token = t));
  assert.ok(token > 5_000_000_000 + 3_600_000_000, `token ${token}`);
  assert.throws(() => parseJournal('{"t":"tokens","upTo":-1}\n', 'j'), /malformed tokens record/);
});

test('due times are journaled as wall times: a master whose steady clock is an hour behind the wall clock hands its delays on whole', () => {
  const HOUR = 3_600_000;
  const MIN = 60_000;
  // a master started an hour slow and put right since: its steady clock runs an hour behind the wall clock
  const behind = (): number => Date.now() - HOUR;
  const journal = new ListJournal();
  const a = new MemoryBackend(behind, journal);
  a.push('q', 'pushed', { delayMs: 10 * MIN });
  a.push('q', 'nacked', {});
  assert.equal(a.nack('q', takeNow(a, 'q').id, 'w#1', 10 * MIN, 'e'), 'requeued');
  const near = (due: number | undefined): boolean => due !== undefined && Math.abs(due - (Date.now() + 10 * MIN)) < MIN;
  const dues = journal.records.flatMap((r) => (r.t === 'push' || r.t === 'nack') && r.due > 0 ? [r.due] : []);
  assert.equal(dues.length, 2, JSON.stringify(journal.records));
  assert.ok(dues.every(near), `the push and the nack say ten minutes from now on the wall clock: ${JSON.stringify(dues)} vs now ${Date.now()}`);
  const snapDues = a.snapshotRecords().flatMap((r) => (r.t === 'push' ? [r.due] : []));
  assert.ok(snapDues.length === 2 && snapDues.every(near), `the snapshot too: ${JSON.stringify(snapDues)}`);

  // a master on a right clock restores both as ten minutes away, not fifty minutes past; and one an hour
  // behind again (steady clock restored onto its own offset) the same
  for (const now of [Date.now, behind]) {
    for (const records of [journal.records, a.snapshotRecords()]) {
      const b = new MemoryBackend(now);
      b.restore(replay(parseJournal(text(records), 'j').records));
      const [stats] = b.queueStats('q');
      assert.deepEqual({ ready: stats?.ready, delayed: stats?.delayed }, { ready: 0, delayed: 2 });
      b.close();
    }
  }
  a.close();
});
