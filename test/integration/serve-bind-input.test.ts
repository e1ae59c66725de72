// Two bad -b inputs found by a review comparing `drover serve` with gunicorn 20.1. The same address given
// twice made drover print `drover up: [socket:bind1] cannot bind 127.0.0.1:P: EADDRINUSE`: a section the
// user never wrote and an errno (gunicorn 20.1 does not de-duplicate either: it retries "Connection in use"
// five times and exits 1). A unix: path that is a regular file or a directory said EADDRINUSE too (gunicorn:
// "'PATH' is not a socket"). Now serve names the -b as typed and its occurrence, before anything is bound,
// and `up` names the config's file, line and key. A leftover socket file is still replaced
// (unix-socket-in-use.test.ts).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliRun, fixture, makeTmpDir, teardown, writeConfig } from '../helpers/drover.js';

test('up: [socket:x] bind = unix:PATH where PATH is a regular file names the file, line, key and value; the file is left (exit 1)', async () => {
  const dir = makeTmpDir();
  const path = join(dir, 'web.sock');
  writeFileSync(path, 'keep me\n');
  const config = writeConfig(dir, `[program:web]
worker = ${fixture('worker-app.mjs')}
sockets = web

[socket:web]
backlog = 16
bind = unix:${path}
`);
  const run = new CliRun(['up', '-c', config], { cwd: dir });
  try {
    assert.equal((await run.waitForExit(15_000)).code, 1, run.describe());
    const escaped = (s: string): string => s.replace(/[.]/g, '\\.');
    assert.match(run.stderr, new RegExp(`^drover up: ${escaped(config)}:7: \\[socket:web\\] bind: ${escaped(path)} exists and is a regular file, not a socket; drover will not remove it \\(remove it, or bind another path\\) \\(got "unix:${escaped(path)}"\\)`, 'm'), run.describe());
    assert.doesNotMatch(run.stderr, /EADDRINUSE/, run.describe());
    assert.equal(readFileSync(path, 'utf8'), 'keep me\n', 'the file is left as it was');
  } finally {
    await teardown(run, [], dir);
  }
});
