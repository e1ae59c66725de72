// The status sampler out of descriptors. It runs on a timer in the master, so a throw there stopped drover
// and killed every program (an audit flooded the TCP control port until EMFILE). Here a process with every
// descriptor taken asks for the figures of a process it has not read yet: no figures, and no throw.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../../helpers/paths.js';

test('out of descriptors (EMFILE), the sampler gives no figures instead of throwing', () => {
  const sampler = pathToFileURL(join(repoRoot, 'dist', 'src', 'control', 'proc-sampler.js')).href;
  const script = `
    import { openSync } from 'node:fs';
    import { spawn } from 'node:child_process';
    const { ProcSampler } = await import(${JSON.stringify(sampler)});
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const s = new ProcSampler(() => [child.pid]);
    let taken = 0;
    try { for (;;) { openSync('/dev/null', 'r'); taken += 1; } } catch (err) { if (err.code !== 'EMFILE') throw err; }
    let result;
    try { result = JSON.stringify(s.figures(child.pid)); } catch (err) { result = 'threw ' + err.code; }
    child.kill();
    console.log(taken > 0 ? result : 'no descriptor was taken');
    process.exit(0);
  `;
  const r = spawnSync('prlimit', ['--nofile=64:64', '--', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'null', `${r.stdout}${r.stderr}`);
});
