// The web page in real headless Chromium (Debian's `chromium`, driven by playwright-core), against a real
// daemon's TCP listener with basic credentials (issue 6): the page lists the processes, a stop asked for
// and confirmed on the page stops the process (checked through the JSON API) and the page shows it without
// a reload, a line a program prints appears in the live log view. A screenshot goes to test-artifacts/.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { Daemon } from '../helpers/daemon.js';
import { DEFAULT_TIMEOUT_MS, fixture, makeTmpDir, TIMEOUT_SCALE } from '../helpers/drover.js';
import { repoRoot } from '../helpers/paths.js';
import { freePort, getJson, inetSection, WEB_PASSWORD, WEB_USER } from '../helpers/web.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Chromium is slow to start on a busy 2-core machine; every wait on the page gets this much */
const PAGE_TIMEOUT_MS = 3 * DEFAULT_TIMEOUT_MS * TIMEOUT_SCALE;

// CI installs chromium (scripts/install-test-deps.sh); elsewhere a missing browser skips, saying why.
const skip = !existsSync(CHROMIUM) && !process.env['CI'] ? `${CHROMIUM} is not installed (scripts/install-test-deps.sh)` : false;

async function openPage(port: number, profileDir: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    httpCredentials: { username: WEB_USER, password: WEB_PASSWORD },
    viewport: { width: 1400, height: 820 },
  });
  context.setDefaultTimeout(PAGE_TIMEOUT_MS);
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(`http://127.0.0.1:${port}/`);
  return { context, page };
}

/**
 * Clicks a button the page disables while its command runs, and waits until it is enabled again: the
 * command has then had its answer, shown or hidden its notice, and refreshed the table.
 */
async function clickAndSettle(button: Locator): Promise<void> {
  // (runs in the page: the DOM's types are not this project's, hence the casts)
  await button.evaluate((b: unknown) => {
    const el = b as { disabled: boolean; settled?: Promise<void> };
    const Observer = (globalThis as unknown as { MutationObserver: new (cb: () => void) => { observe(target: unknown, opts: unknown): void } }).MutationObserver;
    el.settled = new Promise<void>((resolve, reject) => {
      let disabled = false;
      new Observer(() => {
        if (el.disabled) disabled = true;
        else if (disabled) resolve();
      }).observe(b, { attributes: true, attributeFilter: ['disabled'] });
      setTimeout(() => reject(new Error(disabled ? 'the button stayed disabled: its command never ended' : 'the button was never disabled: no command ran')), 20_000);
    });
  });
  await button.click();
  await button.evaluate((b: unknown) => (b as { settled?: Promise<void> }).settled);
}

async function stateOf(port: number, name: string): Promise<string | undefined> {
  const { body } = await getJson(port, '/api/processes');
  return (body['processes'] as { name: string; state: string }[]).find((p) => p.name === name)?.state;
}

test('web page in Chromium: lists processes, stop with confirmation, live log line, screenshot', { skip }, async () => {
  const port = await freePort();
  const d = new Daemon(`${inetSection(port)}
[program:talker]
command = ${process.execPath} ${fixture('report-signals.mjs')}
startsecs = 0

[program:pool]
command = sleep 1000
process_name = %(program_name)s_%(process_num)02d
numprocs = 2
startsecs = 0
`);
  const profile = makeTmpDir('drover-chromium-');
  let context: BrowserContext | null = null;
  const pageErrors: string[] = [];
  try {
    await d.up();
    const opened = await openPage(port, profile);
    context = opened.context;
    const page = opened.page;
    page.on('pageerror', (e) => pageErrors.push(e.message));
    // a mark that a reload would wipe out
    await page.evaluate(() => {
      (globalThis as Record<string, unknown>)['droverTestMark'] = 'no reload';
    });

    // every process is listed, running, with a pid
    for (const name of ['talker:talker', 'pool:pool_00', 'pool:pool_01']) {
      await page.locator(`tr.proc[data-name="${name}"][data-state="running"]`).waitFor();
    }
    assert.equal(await page.locator('tr.proc').count(), 3);
    assert.match((await page.locator('tr.proc[data-name="pool:pool_00"] td.pid').textContent()) ?? '', /^\d+$/);
    assert.equal(await page.locator('section.group[data-group="pool"] h2').textContent(), 'pool');
    await page.locator('#conn[data-state="live"]').waitFor();

    // live log: open talker's log view, then have the page send it SIGHUP; it prints "got HUP PID"
    const talker = page.locator('tr.proc[data-name="talker:talker"]');
    await talker.locator('button[data-action="logs"]').click();
    await page.locator('#logs-status', { hasText: 'live' }).waitFor();
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.accept();
    });
    await talker.locator('select.sig').selectOption('HUP');
    await talker.locator('button[data-action="signal"]').click();
    await page.locator('#logs-text', { hasText: /got HUP \d+/ }).waitFor();
    assert.match(dialogs[0] ?? '', /Send SIGHUP to talker:talker\?/);

    // stop pool_00 from the page: it asks first, then the process stops
    const row = page.locator('tr.proc[data-name="pool:pool_00"]');
    await row.locator('button[data-action="stop"]').click();
    await page.locator('tr.proc[data-name="pool:pool_00"][data-state="stopped"]').waitFor();
    assert.match(dialogs[1] ?? '', /Stop pool:pool_00\?/);
    assert.equal(await stateOf(port, 'pool:pool_00'), 'stopped', 'the JSON API agrees');
    assert.equal(await stateOf(port, 'pool:pool_01'), 'running', 'only the one asked for');
    assert.equal((await row.locator('.state').textContent())?.toUpperCase(), 'STOPPED');
    assert.equal(await row.locator('td.pid').textContent(), '–');
    assert.equal(await page.evaluate(() => (globalThis as Record<string, unknown>)['droverTestMark']), 'no reload', 'the page was not reloaded');

    // a declined confirmation does nothing
    page.removeAllListeners('dialog');
    const dismissed = new Promise<string>((resolve) =>
      page.once('dialog', (dialog) => {
        resolve(dialog.message());
        void dialog.dismiss();
      }),
    );
    await page.locator('tr.proc[data-name="pool:pool_01"] button[data-action="stop"]').click();
    assert.match(await dismissed, /Stop pool:pool_01\?/);
    assert.equal(await stateOf(port, 'pool:pool_01'), 'running', 'a dismissed confirm stops nothing');

    // a change made elsewhere (the CLI) shows up through the event stream
    await d.cli(['start', 'pool:pool_00']);
    await page.locator('tr.proc[data-name="pool:pool_00"][data-state="running"]').waitFor();

    // let the sparklines gather a few samples, then keep a screenshot ('attached': an idle process draws a
    // flat line, whose box has no height, which Playwright would call hidden)
    await page.locator('tr.proc[data-name="talker:talker"] .chart polyline[points*=" "]').first().waitFor({ state: 'attached' });
    const artifacts = join(repoRoot, 'test-artifacts');
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'web-ui.png') });
    assert.ok(existsSync(join(artifacts, 'web-ui.png')));
    assert.deepEqual(pageErrors, [], 'no script errors on the page');
  } finally {
    await context?.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
    const survivors = await d.teardown();
    assert.deepEqual(survivors, [], 'nothing survives the teardown');
  }
});

test('web page in Chromium: a spare worker is marked as such, and the mark moves when it takes over', { skip }, async () => {
  const port = await freePort();
  const d = new Daemon(`${inetSection(port)}
[socket:web]
bind = 127.0.0.1:0

[program:web]
worker = ${fixture('worker-app.mjs')}
sockets = web
spare_workers = 1
`);
  const profile = makeTmpDir('drover-chromium-');
  let context: BrowserContext | null = null;
  try {
    await d.up();
    const roles = async (): Promise<Map<string, { role: string; pid: number | null; state: string }>> =>
      new Map(((await getJson(port, '/api/processes')).body['processes'] as { name: string; role: string; pid: number | null; state: string }[]).map((p) => [p.name, p]));
    const opened = await openPage(port, profile);
    context = opened.context;
    const page = opened.page;
    for (const name of ['web:web_0', 'web:web_1']) await page.locator(`tr.proc[data-name="${name}"][data-state="running"]`).waitFor();
    const before = await roles();
    const spare = [...before].find(([, p]) => p.role === 'spare')?.[0] as string;
    const serving = [...before].find(([, p]) => p.role === 'serving')?.[0] as string;
    assert.ok(spare && serving, JSON.stringify([...before]));
    await page.locator(`tr.proc[data-name="${spare}"] .sub:not(.orch)`, { hasText: /^spare/ }).waitFor();
    assert.equal(await page.locator(`tr.proc[data-name="${serving}"] .sub:not(.orch)`).textContent(), '');
    // the serving worker dies: the spare serves, and the dead one comes back as the spare
    process.kill(before.get(serving)?.pid as number, 'SIGKILL');
    await page.locator(`tr.proc[data-name="${serving}"] .sub:not(.orch)`, { hasText: /^spare/ }).waitFor();
    // an empty mark is not visible: wait for it to be there, empty
    await page.locator(`tr.proc[data-name="${spare}"] .sub:not(.orch)`, { hasText: /^$/ }).waitFor({ state: 'attached' });
  } finally {
    await context?.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
    const survivors = await d.teardown();
    assert.deepEqual(survivors, [], 'nothing survives the teardown');
  }
});

// An audit against supervisord's web UI (seventeenth session): "Start all" on a group that already runs
// reported every process as an error (supervisord's skips them), and the live log view broke a line the
// program wrote in two pieces into two lines.
test('web page in Chromium: Start all on a running group is no error; a line written in two pieces stays one line; a name with a comma has its live log; Clear log, Stop all and Restart all', { skip }, async () => {
  const port = await freePort();
  const d = new Daemon(`${inetSection(port)}
[program:pool]
command = sleep 1000
process_name = %(program_name)s_%(process_num)02d
numprocs = 2
startsecs = 0

[program:pa,rt]
command = /bin/sh -c 'trap "printf abc" USR1; trap "printf \\"def\\\\n\\"" USR2; echo ready; while :; do sleep 0.1; done'
startsecs = 0
`);
  const profile = makeTmpDir('drover-chromium-');
  let context: BrowserContext | null = null;
  try {
    await d.up();
    const opened = await openPage(port, profile);
    context = opened.context;
    const page = opened.page;
    page.on('dialog', (dialog) => void dialog.accept());
    await page.locator('tr.proc[data-name="pool:pool_01"][data-state="running"]').waitFor();
    // both already run: nothing to do, nothing wrong
    await clickAndSettle(page.locator('section.group[data-group="pool"]').getByRole('button', { name: 'Start all', exact: true }));
    assert.equal(await page.locator('#notice').isHidden(), true, `no error notice: ${await page.locator('#notice').textContent()}`);

    // a comma in the name, which the stream's patterns would split on
    const part = page.locator('tr.proc[data-name="pa,rt:pa,rt"]');
    await part.locator('button[data-action="logs"]').click();
    await page.locator('#logs-status', { hasText: 'live' }).waitFor();
    await page.locator('#logs-text', { hasText: 'ready' }).waitFor();
    await d.cli(['signal', 'USR1', 'pa,rt:pa,rt']);
    await page.locator('#logs-text', { hasText: 'abc' }).waitFor();
    await d.cli(['signal', 'USR2', 'pa,rt:pa,rt']);
    await page.locator('#logs-text', { hasText: 'def' }).waitFor();
    const text = (await page.locator('#logs-text').textContent()) ?? '';
    assert.match(text, /^abcdef$/m, `one line: ${JSON.stringify(text)}`);

    // supervisord's Clear Log and Stop All
    await clickAndSettle(page.locator('#logs-clear-file'));
    const tail = await getJson(port, `/api/logs/tail?${new URLSearchParams({ process: 'pa,rt:pa,rt', stream: 'stdout', offset: '0', length: '1000' })}`);
    assert.equal(tail.body['data'], '', `the log file is empty: ${JSON.stringify(tail.body)}`);
    // one stopped already: Stop all has nothing to do for it, which is no error either
    await d.cli(['stop', 'pool:pool_00']);
    await page.locator('tr.proc[data-name="pool:pool_00"][data-state="stopped"]').waitFor();
    await clickAndSettle(page.locator('#stop-all'));
    for (const name of ['pool:pool_00', 'pool:pool_01', 'pa,rt:pa,rt']) await page.locator(`tr.proc[data-name="${name}"][data-state="stopped"]`).waitFor();
    assert.equal(await page.locator('#notice').isHidden(), true, `no error notice: ${await page.locator('#notice').textContent()}`);
    // Restart all starts every process again
    await clickAndSettle(page.locator('#restart-all'));
    for (const name of ['pool:pool_00', 'pool:pool_01', 'pa,rt:pa,rt']) await page.locator(`tr.proc[data-name="${name}"][data-state="running"]`).waitFor();

    // a bookmark of supervisord's tail page opens this page with that process's live log
    await page.goto(`http://127.0.0.1:${port}/tail.html?processname=${encodeURIComponent('pa,rt:pa,rt')}`);
    await page.locator('#logs-name', { hasText: 'pa,rt:pa,rt' }).waitFor();
    await page.locator('#logs-status', { hasText: 'live' }).waitFor();
    await page.locator('#logs-text', { hasText: 'ready' }).waitFor();
  } finally {
    await context?.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
    const survivors = await d.teardown();
    assert.deepEqual(survivors, [], 'nothing survives the teardown');
  }
});
