// processEnded(pid) asks whether a process has ended, when another process is its parent and reaps it: `drover
// down` asks it of the daemon, the follower of a process it did not start. The reap may come between the open
// and the read of /proc/PID/stat; the read then fails with ESRCH, which means ended, not an error.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { processEnded } from '../../../src/os/spawn.js';

/** A parent that forks CHILDREN short-lived children one at a time, prints each pid and reaps it at once. */
const FORKER = `
import os, sys, time
for i in range(int(sys.argv[1])):
    pid = os.fork()
    if pid == 0:
        time.sleep(0.0003)
        os._exit(0)
    sys.stdout.write(f"{pid}\\n"); sys.stdout.flush()
    os.waitpid(pid, 0)
    sys.stdin.readline()
`;
const CHILDREN = 200;

test('a process reaped by its own parent while it is being looked at has ended; the look never fails', { timeout: 60_000 }, async () => {
  const forker = spawn('/usr/bin/python3', ['-c', FORKER, String(CHILDREN)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  forker.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const failures: string[] = [];
  let seen = 0;
  // each child is watched from its start, across its exit, until it is gone: about one watch in ten
  // (on the 2-core VM) sees the reap land between the open and the read
  for await (const line of createInterface({ input: forker.stdout })) {
    const pid = Number(line);
    seen++;
    try {
      // bounded: the forker reaps each child within milliseconds
      const until = Date.now() + 5000;
      while (!processEnded(pid)) {
        if (Date.now() > until) {
          failures.push(`pid ${pid}: not ended after 5 s (${stderr})`);
          break;
        }
      }
    } catch (err) {
      failures.push(`pid ${pid}: ${(err as Error).message}`);
    }
    forker.stdin.write('\n');
  }
  assert.equal(seen, CHILDREN, `the forker stopped early: ${stderr}`);
  assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${seen} looks failed`);
});
