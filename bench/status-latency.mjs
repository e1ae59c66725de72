// Status latency and idle cost with many programs: drover vs supervisord 4.2 (vs PM2) (issue 3).
//
// With N `sleep 100000` programs running under each tool, measures:
//   - the wall time of one status command, launch to exit, `--rounds` times each, tools interleaved:
//       `drover status --json -c FILE`            (drover's CLI, JSON API)
//       `drover status -c FILE`                   (the table, as people type it)
//       `supervisorctl -c FILE status` → drover     (supervisor's CLI against drover's XML-RPC, when it answers)
//       `supervisorctl -c FILE status` → supervisord
//       `node -e ''`                              (the floor for any Node CLI on this machine, for reference)
//   - the first `drover status` after a quiet spell (`--cold` times, each after COLD_IDLE_S seconds with no
//     request, when drover has stopped refreshing its /proc readings), beside supervisorctl → supervisord
//     and `node -e ''` after the same wait
//   - each daemon's RSS (VmRSS) `--settle` seconds after its start, before any status request (issue 16's
//     measure), and again at the end, after all the status calls (a daemon's heap keeps what answering grew)
//   - each daemon's idle CPU (utime+stime over `--idle` seconds, nothing asked of it), with PM2's God
//     daemon too when `--pm2` is given (slow to start 1000 apps).
// Every sleep carries DROVER_BENCH_MARKER=<run> in its environment; all are gone at the end.
//
// usage: node status-latency.mjs [--count 1000] [--rounds 20] [--idle 10] [--cold 3] [--settle 30] [--pm2]
//        (develop with --count 20 --rounds 3 --idle 2 --cold 1)
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import {
  DROVER_BIN,
  SUPERVISORCTL,
  countSupervisorStates,
  cpuPercentOver,
  environmentReport,
  findByCommAndEnv,
  fmtMiB,
  fmtMs,
  fmtRatio,
  killGroups,
  median,
  now,
  onCleanup,
  p90,
  readRssKiB,
  runCommand,
  runMain,
  table,
  tempDir,
  timeCommand,
  waitFor,
} from './lib.mjs';
import { createPm2, pm2SleepApps, sleepProgramSection, startSupervisord, supervisordHeader, writeFile } from './tools.mjs';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '20' },
    idle: { type: 'string', default: '10' },
    settle: { type: 'string', default: '30' },
    cold: { type: 'string', default: '3' },
    pm2: { type: 'boolean', default: false },
  },
});
const N = Number(values.count);
const ROUNDS = Number(values.rounds);
const IDLE_S = Number(values.idle);
const SETTLE_S = Number(values.settle);
const COLD_ROUNDS = Number(values.cold);
/** drover keeps its /proc readings fresh for 10 s after the last request (control/proc-sampler.ts) */
const COLD_IDLE_S = 11;
const MARKER = `status-${process.pid}-${Date.now().toString(36)}`;
const START_TIMEOUT_MS = 60_000 + N * 300;

/** Runs a command once; resolves to its wall time in ms, throwing if `ok(code, stdout)` says it failed. */
async function timeOnce(file, args, ok, env = process.env) {
  const r = await timeCommand(file, args, { timeoutMs: 60_000, env });
  if (r.timedOut) throw new Error(`${file} ${args.join(' ')} timed out after 60 s`);
  if (!ok(r.code, r.stdout)) throw new Error(`${file} ${args.join(' ')} → exit ${r.code}\n${r.stdout.slice(0, 300)}\n${r.stderr.slice(0, 500)}`);
  return r.ms;
}

async function startDroverDaemon(dir) {
  const conf = writeFile(dir, 'drover.conf', sleepProgramSection(N, MARKER));
  const up = await runCommand(process.execPath, [DROVER_BIN, 'up', '-d', '--no-wait', '-c', conf], {
    timeoutMs: START_TIMEOUT_MS,
    env: { ...process.env, DROVER_BENCH_MARKER: MARKER },
  });
  if (up.code !== 0) throw new Error(`drover up -d failed: ${up.stderr}`);
  const pid = Number(readFileSync(join(dir, '.drover', 'drover.pid'), 'utf8').trim());
  onCleanup(async () => {
    await runCommand(process.execPath, [DROVER_BIN, 'down', '--fast', '-c', conf], { timeoutMs: 60_000 }).catch(() => undefined);
  });
  let running = 0;
  await waitFor(
    async () => {
      const r = await runCommand(process.execPath, [DROVER_BIN, 'status', '--json', '-c', conf]);
      running = (JSON.parse(r.stdout).processes ?? []).filter((p) => p.state === 'running').length;
      return running === N ? true : null;
    },
    { timeoutMs: START_TIMEOUT_MS, intervalMs: 500, what: `drover to run ${N} (last ${running})` },
  );
  return { conf, pid };
}

async function startSupervisordDaemon(dir) {
  const header = supervisordHeader(dir, { minfds: Math.min(19_000, 100 + N * 8), minprocs: N + 100 });
  const conf = writeFile(dir, 'supervisord.conf', `${header}\n${sleepProgramSection(N, MARKER)}`);
  const s = await startSupervisord(conf, dir, { env: { ...process.env, DROVER_BENCH_MARKER: MARKER } });
  let last = {};
  await waitFor(
    async () => {
      if (s.child.exitCode !== null) throw new Error(`supervisord exited: ${s.output()}`);
      try {
        last = countSupervisorStates(await s.rpc('supervisor.getAllProcessInfo'));
      } catch {
        return null; // socket not up yet
      }
      return last.RUNNING === N ? true : null;
    },
    { timeoutMs: START_TIMEOUT_MS, intervalMs: 500, what: `supervisord to run ${N} (last ${JSON.stringify(last)})` },
  );
  return { conf, pid: s.pid, stop: () => s.stop('SIGTERM', 120_000) };
}

async function startPm2Daemon(dir) {
  const p = createPm2(join(dir, 'pm2-home'));
  await p.connect();
  await p.start(pm2SleepApps(N, MARKER));
  let online = 0;
  await waitFor(
    async () => {
      online = (await p.list()).filter((x) => x.pm2_env?.status === 'online').length;
      return online === N ? true : null;
    },
    { timeoutMs: START_TIMEOUT_MS, intervalMs: 1000, what: `PM2 to have ${N} online (last ${online})` },
  );
  return { pid: p.godPid(), stop: () => p.kill(120_000) };
}

async function main() {
  const command = `cd bench && node status-latency.mjs --count ${N} --rounds ${ROUNDS} --idle ${IDLE_S} --cold ${COLD_ROUNDS} --settle ${SETTLE_S}${values.pm2 ? ' --pm2' : ''}`;
  const out = [environmentReport(`Status latency and idle cost with ${N} programs`, command)];
  onCleanup(() => killGroups(findByCommAndEnv('sleep', `DROVER_BENCH_MARKER=${MARKER}`)));

  console.error(`starting drover with ${N} programs…`);
  const droverDir = tempDir('drover-bench-status-d-');
  const d = await startDroverDaemon(droverDir);
  console.error(`starting supervisord with ${N} programs…`);
  const supDir = tempDir('drover-bench-status-s-');
  const s = await startSupervisordDaemon(supDir);

  // RSS before anything is asked of either daemon, SETTLE_S after both have started
  console.error(`settling ${SETTLE_S} s before the first RSS reading…`);
  await new Promise((r) => setTimeout(r, SETTLE_S * 1000));
  const settledRss = { drover: readRssKiB(d.pid), supervisord: readRssKiB(s.pid) };

  const droverSock = `unix://${join(droverDir, '.drover', 'drover.sock')}`;
  const isStatus = (code) => code === 0 || code === 3;
  // NODE_EXTRA_CA_CERTS makes every Node start read a CA bundle (~2× start-up); measured both ways
  const plainEnv = { ...process.env };
  delete plainEnv.NODE_EXTRA_CA_CERTS;
  const commands = {
    'node -e ""': [process.execPath, ['-e', ''], (c) => c === 0],
    'drover status --json': [process.execPath, [DROVER_BIN, 'status', '--json', '-c', d.conf], (c, o) => isStatus(c) && o.includes('"processes"')],
    'node -e "" (no NODE_EXTRA_CA_CERTS)': [process.execPath, ['-e', ''], (c) => c === 0, plainEnv],
    'drover status --json (no NODE_EXTRA_CA_CERTS)': [process.execPath, [DROVER_BIN, 'status', '--json', '-c', d.conf], (c, o) => isStatus(c) && o.includes('"processes"'), plainEnv],
    'drover status (no NODE_EXTRA_CA_CERTS)': [process.execPath, [DROVER_BIN, 'status', '-c', d.conf], (c, o) => isStatus(c) && o.includes('s:s_0000'), plainEnv],
    'supervisorctl status → drover': [SUPERVISORCTL, ['-s', droverSock, 'status'], (c, o) => isStatus(c) && o.includes('s:s_0000')],
    'supervisorctl status → supervisord': [SUPERVISORCTL, ['-c', s.conf, 'status'], (c, o) => isStatus(c) && o.includes('s:s_0000')],
  };
  const times = Object.fromEntries(Object.keys(commands).map((k) => [k, []]));
  const failed = {};
  // one warm-up each, then rounds with the tools interleaved (rotating order)
  for (let round = -1; round < ROUNDS; round++) {
    const names = Object.keys(commands);
    const order = names.map((_, i) => names[(i + Math.max(round, 0)) % names.length]);
    for (const name of order) {
      if (failed[name]) continue;
      const [file, args, ok, env] = commands[name];
      try {
        const ms = await timeOnce(file, args, ok, env);
        if (round >= 0) times[name].push(ms);
      } catch (err) {
        failed[name] = err.message.split('\n').slice(0, 3).join(' / ');
        console.error(`${name}: ${failed[name]}`);
      }
    }
    if (round >= 0) console.error(`round ${round + 1}/${ROUNDS} done`);
  }

  out.push(`## \`status\` latency, ${N} programs, ${ROUNDS} rounds (wall time, launch to exit)`, '');
  const rows = Object.keys(commands).map((name) =>
    failed[name] && times[name].length === 0
      ? [name, 'n/a', 'n/a', `failed: ${failed[name].slice(0, 120)}`]
      : [name, fmtMs(median(times[name])), fmtMs(p90(times[name])), ''],
  );
  out.push(table(['command', 'median', 'p90', 'note'], rows), '');
  const dm = median(times['drover status --json']);
  const sm = median(times['supervisorctl status → supervisord']);
  if (Number.isFinite(dm) && Number.isFinite(sm)) out.push(`drover status --json / supervisorctl→supervisord: ${fmtRatio(dm, sm)}`, '');

  if (COLD_ROUNDS > 0) {
    // each daemon idle for COLD_IDLE_S before its request: drover reads every process's /proc figures again
    // node -e "" too: after a quiet spell this VM starts any process slower (caches, an idle vCPU)
    const cold = { 'node -e "" (no NODE_EXTRA_CA_CERTS)': [], 'drover status (no NODE_EXTRA_CA_CERTS)': [], 'supervisorctl status → supervisord': [] };
    for (let round = 0; round < COLD_ROUNDS; round++) {
      for (const name of Object.keys(cold)) {
        console.error(`cold ${round + 1}/${COLD_ROUNDS}: ${name} after ${COLD_IDLE_S} s quiet…`);
        await new Promise((r) => setTimeout(r, COLD_IDLE_S * 1000));
        const [file, args, ok, env] = commands[name];
        cold[name].push(await timeOnce(file, args, ok, env));
      }
    }
    out.push(`## The first \`status\` after ${COLD_IDLE_S} s without a request, ${COLD_ROUNDS} rounds`, '');
    out.push(table(['command', 'median', 'max'], Object.entries(cold).map(([name, t]) => [name, fmtMs(median(t)), fmtMs(Math.max(...t))])), '');
    const ratio = fmtRatio(median(cold['drover status (no NODE_EXTRA_CA_CERTS)']), median(cold['supervisorctl status → supervisord']));
    const overNode = fmtRatio(median(cold['drover status (no NODE_EXTRA_CA_CERTS)']), median(cold['node -e "" (no NODE_EXTRA_CA_CERTS)']));
    out.push(`drover status / supervisorctl→supervisord, each after a quiet spell: ${ratio}; drover status / node -e "": ${overNode}`, '');
  }

  console.error(`idle CPU over ${IDLE_S} s each…`);
  const daemons = [
    ['drover', d.pid],
    ['supervisord', s.pid],
  ];
  let pm2 = null;
  if (values.pm2) {
    console.error(`starting PM2 with ${N} apps…`);
    pm2 = await startPm2Daemon(tempDir('drover-bench-status-p-'));
    daemons.push(['pm2 (God daemon)', pm2.pid]);
  }
  const cost = [];
  for (const [name, pid] of daemons) {
    const cpu = await cpuPercentOver(pid, IDLE_S);
    const before = settledRss[name];
    cost.push([name, before === undefined ? 'n/a' : fmtMiB(before), fmtMiB(readRssKiB(pid)), `${cpu.toFixed(2)} %`]);
  }
  out.push(`## Daemon cost with ${N} programs running, idle`, '');
  out.push(table(['daemon', `RSS ${SETTLE_S} s after start, before any request`, 'RSS after the status calls', `idle CPU (one core, ${IDLE_S} s)`], cost), '');
  if (settledRss.drover && settledRss.supervisord) out.push(`RSS before any request, drover / supervisord: ${fmtRatio(settledRss.drover, settledRss.supervisord)}`, '');

  await s.stop();
  if (pm2) await pm2.stop();
  console.log(out.join('\n'));
}

await runMain(main);
