// Issue 15, item 7: the web page (real headless Chromium) shows each program's dependencies, readiness and
// health: what it needs and its ready check under its name, why it waits while it waits, and a health
// badge: healthy, unhealthy once failing checks restart it, healthy again when they pass.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium, type BrowserContext } from 'playwright-core';
import { Daemon } from '../helpers/daemon.js';
import { DEFAULT_TIMEOUT_MS, fixture, makeTmpDir, TIMEOUT_SCALE } from '../helpers/drover.js';
import { repoRoot } from '../helpers/paths.js';
import { freePort, inetSection, WEB_PASSWORD, WEB_USER } from '../helpers/web.js';

const CHROMIUM = '/usr/bin/chromium';
const PAGE_TIMEOUT_MS = 3 * DEFAULT_TIMEOUT_MS * TIMEOUT_SCALE;
const skip = !existsSync(CHROMIUM) && !process.env['CI'] ? `${CHROMIUM} is not installed (scripts/install-test-deps.sh)` : false;
const node = process.execPath;

test('web page: dependencies, ready check, waiting reason and health badge', { skip }, async () => {
  const [api, dbPort, webPort] = [await freePort(), await freePort(), await freePort()];
  const d = new Daemon('');
  const sick = join(d.dir, 'sick');
  const go = join(d.dir, 'go');
  writeFileSync(
    d.file,
    `${inetSection(api)}
[program:db]
command = ${node} ${fixture('serve.mjs')} tcp ${dbPort} 0
ready = exec:test -f ${go}
ready_interval = 100ms

[program:web]
command = ${node} ${fixture('serve.mjs')} http ${webPort} 0 200 ${sick}
depends_on = db:ready
ready = http://127.0.0.1:${webPort}/
healthcheck = http://127.0.0.1:${webPort}/health
healthcheck_interval = 300ms
healthcheck_retries = 2
essential = true
`,
  );
  const profile = makeTmpDir('drover-chromium-');
  let context: BrowserContext | null = null;
  const pageErrors: string[] = [];
  try {
    await d.cli(['up', '-d', '--no-wait']);
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
      httpCredentials: { username: WEB_USER, password: WEB_PASSWORD },
      viewport: { width: 1400, height: 600 },
    });
    context.setDefaultTimeout(PAGE_TIMEOUT_MS);
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`http://127.0.0.1:${api}/`);

    const web = page.locator('tr.proc[data-name="web:web"]');
    await web.locator('.orch', { hasText: `needs db:ready · ready: http://127.0.0.1:${webPort}/ · essential` }).waitFor();
    await page.locator('tr.proc[data-name="db:db"] .orch', { hasText: `ready: exec:test -f ${go}` }).waitFor();
    // db stays STARTING until its check passes; web waits for it and says so
    await page.locator('tr.proc[data-name="db:db"][data-state="starting"]').waitFor();
    await web.locator('.sub', { hasText: /^waiting for db:ready \(db is starting\)$/ }).waitFor();

    writeFileSync(go, '');
    await page.locator('tr.proc[data-name="web:web"][data-state="running"]').waitFor();
    await web.locator('.health[data-health="healthy"]', { hasText: 'healthy' }).waitFor();
    assert.equal(await web.locator('.health').getAttribute('title'), `healthcheck: http://127.0.0.1:${webPort}/health`);
    // failing checks: restarted for being unhealthy, and the badge says so until a check passes again
    writeFileSync(sick, '');
    await web.locator('.health[data-health="unhealthy"]', { hasText: 'unhealthy' }).waitFor();
    rmSync(sick);
    await web.locator('.health[data-health="healthy"]').waitFor();
    const artifacts = join(repoRoot, 'test-artifacts');
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'web-ui-orchestration.png') });
    assert.deepEqual(pageErrors, [], 'no script errors on the page');
  } finally {
    await context?.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
    assert.deepEqual(await d.teardown(), []);
  }
});
