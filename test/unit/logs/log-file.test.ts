// LogFile against a real file: after something else empties the file (logrotate's copytruncate), the size
// limit counts from what is in the file, not from what drover wrote before.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LogFile } from '../../../src/logs/log-file.js';

test('copytruncate: a file emptied behind drover is not rotated early (its real size counts)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'drover-logfile-'));
  const path = join(dir, 'w.log');
  const file = new LogFile(path, { maxBytes: 4096, backups: 3, rotate: null, gzip: false });
  try {
    const line = Buffer.from(`${'x'.repeat(99)}\n`);
    for (let i = 0; i < 30; i++) file.write(line);
    await file.flush();
    assert.equal(statSync(path).size, 3000);
    truncateSync(path, 0); // what copytruncate does after its copy
    for (let i = 0; i < 20; i++) file.write(line);
    await file.flush();
    // 2000 bytes in the file: below the 4096 limit, so nothing was rotated
    assert.equal(existsSync(`${path}.1`), false, 'rotated although the file held only 2000 bytes');
    assert.equal(statSync(path).size, 2000);
    // and the limit still applies from there: 2100 more bytes pass 4096
    for (let i = 0; i < 21; i++) file.write(line);
    await file.flush();
    assert.equal(existsSync(`${path}.1`), true, 'the limit still rotates');
  } finally {
    await file.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
