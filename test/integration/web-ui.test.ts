// The web page in real headless Chromium (Debian's `chromium`, driven by playwright-core), against a real
// daemon's TCP listener with basic credentials (issue 6): the page lists the processes, a stop asked for
// and confirmed on the page stops the process (checked through the JSON API) and the page shows it without
// a reload, a line a program prints appears in the live log view. A screenshot goes to test-artifacts/.
// The log view shows the end of a log and the live lines after it with none missing or twice, and starts
// over from the tail when it reconnects.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { Daemon } from '../helpers/daemon.js';
import { DEFAULT_TIMEOUT_MS, fixture, makeTmpDir, TIMEOUT_SCALE } from '../helpers/drover.js';
import { repoRoot } from '../helpers/paths.js';
import { freePort, getJson, inetSection, waitForValue, WEB_PASSWORD, WEB_USER } from '../helpers/web.js';

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

/** Closes the browser, removes its profile and tears drover down: nothing may survive. */
async function closeAll(context: BrowserContext | null, profile: string, d: Daemon): Promise<void> {
  await context?.close().catch(() => undefined);
  rmSync(profile, { recursive: true, force: true });
  const survivors = await d.teardown();
  assert.deepEqual(survivors, [], 'nothing survives the teardown');
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
    await closeAll(context, profile, d);
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
    await closeAll(context, profile, d);
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
    await closeAll(context, profile, d);
  }
});

/** Waits for `locator` in the log view; a timeout says what the view's status and last lines were. */
async function waitInLogView(page: Page, locator: Locator, what: string): Promise<void> {
  try {
    await locator.waitFor({ state: 'attached' });
  } catch (err) {
    // a page too busy to answer has these time out too: say so instead
    const read = (id: string): Promise<string> =>
      page
        .locator(id)
        .textContent({ timeout: DEFAULT_TIMEOUT_MS })
        .then((t) => JSON.stringify((t ?? '').split('\n').slice(-6).join('\n')))
        .catch((e: unknown) => `(not read: ${(e as Error).message.split('\n')[0]})`);
    throw new Error(`${what}: ${(err as Error).message}\nstatus: ${await read('#logs-status')}; the last lines: ${await read('#logs-text')}`);
  }
}

/** A line of the log view: a program's (stderr's marked `err`) or the page's own note (`sys`). */
interface ShownLine {
  readonly cls: string;
  readonly text: string;
}

/** The log view's lines as the page shows them. */
async function shownLines(page: Page): Promise<ShownLine[]> {
  // (runs in the page: the DOM's types are not this project's, hence the casts)
  return page.locator('#logs-text > span').evaluateAll((spans: unknown[]) =>
    spans.map((s) => {
      const e = s as { className: string; textContent: string | null };
      return { cls: e.className, text: e.textContent ?? '' };
    }),
  );
}

/**
 * Fails unless the complete lines of one stream are `L<n> xxxxxxxx` with n going up by `step` each time: no
 * line missing, none twice, none torn. (The last line may be unfinished: it is left out.)
 */
function assertConsecutive(lines: readonly ShownLine[], cls: '' | 'err', step: number, what: string): void {
  const mine = lines.filter((l) => l.cls === cls && l.text.endsWith('\n')).map((l) => l.text);
  assert.ok(mine.length > 0, `${what}: no lines shown`);
  const whole = mine.flatMap((text, i) => {
    const m = /^L(\d+) x{8}\n$/.exec(text);
    return m ? [{ i, n: Number(m[1]) }] : [];
  });
  // the gaps first: what the view is there to show
  for (let k = 1; k < whole.length; k++) {
    const prev = whole[k - 1] as { i: number; n: number };
    const { i, n } = whole[k] as { i: number; n: number };
    if (n !== prev.n + step) {
      assert.fail(`${what}: L${prev.n} is followed by L${n} (line ${i} of ${mine.length}): ${JSON.stringify(mine.slice(Math.max(0, i - 3), i + 3))}`);
    }
  }
  const torn = mine.filter((text) => !/^L\d+ x{8}\n$/.test(text));
  assert.deepEqual(torn, [], `${what}: every line whole (the tail is of whole lines)`);
}

// A review found the log view fetched the tail, then opened the live stream once that answer was back:
// what the program wrote in between (8 to 12 lines of one written every 2 ms) never reached the page, and
// no note said so. The view now asks the stream for the tail (`lines=`), one subscription for both.
test('web page in Chromium: the log view shows the end of the log and the live lines after it with none missing or twice, for both streams and for one', { skip }, async () => {
  const port = await freePort();
  const d = new Daemon(`${inetSection(port)}
[program:counter]
command = ${process.execPath} ${fixture('lines-forever.mjs')} 1 8 alternate
startsecs = 0
`);
  const profile = makeTmpDir('drover-chromium-');
  let context: BrowserContext | null = null;
  const pageErrors: string[] = [];
  try {
    await d.up();
    // more than the view's tail (200 lines of each stream) written before it opens
    let lastTail = '';
    await waitForValue(
      async () => {
        const t = await getJson(port, `/api/logs/tail?${new URLSearchParams({ process: 'counter:counter', stream: 'stdout', lines: '1' })}`);
        lastTail = JSON.stringify(t.body);
        const n = /^L(\d+) /.exec(String(t.body['data'] ?? ''))?.[1];
        return n !== undefined && Number(n) > 600 ? true : null;
      },
      'counter to write 600 lines',
      DEFAULT_TIMEOUT_MS,
      () => lastTail,
    );
    const opened = await openPage(port, profile);
    context = opened.context;
    const page = opened.page;
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.locator('tr.proc[data-name="counter:counter"][data-state="running"]').waitFor();

    // stdout + stderr (the default): the tails of both, then the live lines of both
    await page.locator('tr.proc[data-name="counter:counter"] button[data-action="logs"]').click();
    await waitInLogView(page, page.locator('#logs-status', { hasText: 'live' }), 'the log view live');
    // the tails and at least 200 live lines after them
    await waitInLogView(page, page.locator('#logs-text > span:nth-child(600)'), '600 lines in the log view');
    const both = await shownLines(page);
    assertConsecutive(both, '', 2, 'stdout + stderr view, stdout');
    assertConsecutive(both, 'err', 2, 'stdout + stderr view, stderr');
    assert.deepEqual(both.filter((l) => l.cls === 'sys'), [], 'no note in the view (nothing lost, no reconnection)');

    // stdout alone: the view opens again on that stream
    await page.locator('#logs-stream').selectOption('stdout');
    await waitInLogView(page, page.locator('#logs-status', { hasText: 'live' }), 'the stdout view live');
    await waitInLogView(page, page.locator('#logs-text > span:nth-child(400)'), '400 lines in the stdout view');
    const out = await shownLines(page);
    assert.equal(out.filter((l) => l.cls === 'err').length, 0, 'no stderr line in the stdout view');
    assertConsecutive(out, '', 2, 'stdout view');
    assert.deepEqual(out.filter((l) => l.cls === 'sys'), [], 'no note in the stdout view');
    assert.deepEqual(pageErrors, [], 'no script errors on the page');
  } finally {
    await closeAll(context, profile, d);
  }
});

// The stream sends the tail again when EventSource reconnects: the view starts over from it, after a note,
// rather than showing those lines twice.
test('web page in Chromium: after drover restarts, the log view starts over from the tail, with a note, and shows no line twice', { skip }, async () => {
  const port = await freePort();
  const dir = makeTmpDir('drover-cli-');
  const log = join(dir, 'counter.log');
  const d = new Daemon(
    `${inetSection(port)}
[program:counter]
command = ${process.execPath} ${fixture('lines-forever.mjs')} 20 8
stdout_logfile = ${log}
startsecs = 0
`,
    { dir },
  );
  const profile = makeTmpDir('drover-chromium-');
  let context: BrowserContext | null = null;
  try {
    await d.up();
    const opened = await openPage(port, profile);
    context = opened.context;
    const page = opened.page;
    await page.goto(`http://127.0.0.1:${port}/?log=${encodeURIComponent('counter:counter')}`);
    await waitInLogView(page, page.locator('#logs-status', { hasText: 'live' }), 'the log view live');
    await waitInLogView(page, page.locator('#logs-text > span:nth-child(10)'), '10 lines in the log view');
    await d.cli(['down']);
    await waitInLogView(page, page.locator('#logs-status', { hasText: 'reconnecting…' }), 'the log view reconnecting');
    // the program starts counting again, at the end of the same log file
    await d.up();
    await waitInLogView(page, page.locator('#logs-status', { hasText: 'live' }), 'the log view live again');
    await waitInLogView(page, page.locator('#logs-text > span.sys', { hasText: 'reconnected' }), 'the note in the log view');
    // the tail (200 lines) and live lines after it
    await waitInLogView(page, page.locator('#logs-text > span:nth-child(220)'), '220 lines in the log view');
    const lines = await shownLines(page);
    assert.equal(lines[0]?.cls, 'sys', `the view starts with the note: ${JSON.stringify(lines.slice(0, 3))}`);
    assert.match(lines[0]?.text ?? '', /reconnected .*: the last 200 lines again, then live/);
    // the rest is a run of the file's lines: what the view showed before is not kept above the tail again
    const shown = lines
      .slice(1)
      .map((l) => l.text)
      .join('');
    const file = readFileSync(log, 'utf8');
    assert.ok(file.startsWith(shown) || file.includes(`\n${shown}`), `the view shows the log as it is:\n${shown}\n--- the file:\n${file}`);
  } finally {
    await closeAll(context, profile, d);
  }
});

test('web page in Chromium: the process list follows a USR2 to the new master (its pid in the header) and says so when drover stops, not "reconnecting…" for ever', { skip }, async () => {
  const port = await freePort();
  const d = new Daemon(`${inetSection(port)}
[program:sleeper]
command = sleep 1000
startsecs = 0
`);
  const profile = makeTmpDir('drover-chromium-');
  let context: BrowserContext | null = null;
  const conn = async (page: Page): Promise<string> => JSON.stringify(await page.locator('#conn').textContent({ timeout: DEFAULT_TIMEOUT_MS }).catch(() => '(unread)'));
  try {
    await d.up();
    const opened = await openPage(port, profile);
    context = opened.context;
    const page = opened.page;
    await page.locator('#conn[data-state="live"]').waitFor();
    await page.locator('#info', { hasText: `pid ${d.pid}` }).waitFor();
    const pidfile = join(d.dir, '.drover', 'drover.pid');
    const old = d.pid;
    process.kill(old, 'SIGUSR2');
    const fresh = await waitForValue(
      async () => {
        const pid = Number(readFileSync(pidfile, 'utf8').trim());
        return pid !== old && pid > 0 ? pid : null;
      },
      'the new master in the pidfile',
    );
    d.seen.add(fresh);
    d.pid = fresh;
    // the stream ended with `end: reexec`; the page reconnects to the new master and shows its pid
    await page
      .locator('#info', { hasText: `pid ${fresh}` })
      .waitFor()
      .catch(async (err: unknown) => {
        throw new Error(`the header never named the new master ${fresh}: ${(err as Error).message}\nconn: ${await conn(page)}; info: ${JSON.stringify(await page.locator('#info').textContent())}`);
      });
    await page.locator('#conn[data-state="live"]').waitFor();
    await d.cli(['down']);
    await page
      .locator('#conn', { hasText: 'drover has stopped' })
      .waitFor()
      .catch(async (err: unknown) => {
        throw new Error(`the page did not say drover stopped: ${(err as Error).message}\nconn: ${await conn(page)}`);
      });
  } finally {
    await closeAll(context, profile, d);
  }
});
