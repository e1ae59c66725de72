// `stdout_syslog = true`, `stderr_syslog = true` and the deprecated `stdout_logfile = syslog` send each line
// to /dev/log, `<14>TIME drover[PID]: NAME LINE`, as supervisord sends `NAME LINE` through syslog(3); the
// file log of the same stream still gets its lines. drover runs in a mount namespace of its own where
// /dev is a tmpfs with the usual devices and /dev/log is this test's datagram socket, bind-mounted (the
// machine's own /dev is left alone). Before, these keys were read and nothing was ever sent.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { closeFd } from '../../src/os/native.js';
import { bindDatagramSocket, receiveDatagram } from '../../src/os/native-net.js';
import { makeTmpDir, waitForCondition } from '../helpers/drover.js';
import { droverBin } from '../helpers/paths.js';

test('program output goes to syslog for stdout_syslog, stderr_syslog and stdout_logfile = syslog', async () => {
  const dir = makeTmpDir('drover-syslog-');
  const sock = join(dir, 'log.sock');
  const fd = bindDatagramSocket(sock);
  const conf = join(dir, 'supervisord.conf');
  writeFileSync(
    conf,
    [
      '[supervisord]',
      `logfile = ${join(dir, 'main.log')}`,
      `pidfile = ${join(dir, 'pid')}`,
      `childlogdir = ${dir}`,
      '[unix_http_server]',
      `file = ${join(dir, 'ctl.sock')}`,
      '[program:both]',
      `command = sh -c 'echo out-one; echo out-two; echo err-one >&2; exec sleep 1000'`,
      `stdout_logfile = ${join(dir, 'both.out')}`,
      'stdout_syslog = true',
      `stderr_logfile = ${join(dir, 'both.err')}`,
      'stderr_syslog = true',
      '[program:old]',
      `command = sh -c 'echo old-style; exec sleep 1000'`,
      'stdout_logfile = syslog',
      'stderr_logfile = NONE',
      '[program:quiet]',
      `command = sh -c 'echo not-for-syslog; exec sleep 1000'`,
      `stdout_logfile = ${join(dir, 'quiet.out')}`,
      '',
    ].join('\n'),
  );
  const { drover, output } = startWithDevLog(dir, sock, conf);
  const got: string[] = [];
  const receive = (): void => {
    for (let d = receiveDatagram(fd, 65536); d !== null; d = receiveDatagram(fd, 65536)) got.push(d.data.toString());
  };
  try {
    const wanted = ['both out-one', 'both out-two', 'both err-one', 'old old-style'];
    await waitForCondition(
      () => {
        receive();
        return wanted.every((w) => got.some((g) => g.endsWith(`: ${w}`)));
      },
      'the four lines at the syslog socket',
      { timeoutMs: 20_000, describe: () => `received: ${JSON.stringify(got)}\ndrover: ${output()}` },
    );
    for (const g of got) assert.match(g, /^<14>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d drover\[\d+\]: (both|old) \S+$/, `one line per datagram, in syslog's form: ${JSON.stringify(g)}`);
    assert.equal(got.length, 4, `each line once, and nothing of the program without syslog: ${JSON.stringify(got)}`);
    // the files still have their lines
    const files = { 'both.out': 'out-one\nout-two\n', 'both.err': 'err-one\n', 'quiet.out': 'not-for-syslog\n' };
    const read = (f: string): string => {
      try {
        return readFileSync(join(dir, f), 'utf8');
      } catch {
        return '(none)';
      }
    };
    await waitForCondition(() => Object.entries(files).every(([f, text]) => read(f) === text), 'the log files', {
      describe: () => JSON.stringify(Object.fromEntries(Object.keys(files).map((f) => [f, read(f)]))),
    });
  } finally {
    drover.kill('SIGTERM');
    if (drover.exitCode === null && drover.signalCode === null) await once(drover, 'exit');
    closeFd(fd);
  }
  assert.equal(drover.exitCode, 0, output());
});

/** Starts drover in a mount namespace of its own where /dev/log is the test's datagram socket `sock`. */
function startWithDevLog(dir: string, sock: string, conf: string): { drover: ChildProcess; output: () => string } {
  // a fresh /dev: the devices drover and sh need, and /dev/log bound to the test's socket
  const setup = [
    'set -e',
    'mount --make-rprivate /',
    `mkdir -p ${dir}/olddev && mount --bind /dev ${dir}/olddev`,
    'mount -t tmpfs tmpfs /dev',
    `for n in null zero random urandom tty full; do touch /dev/$n; mount --bind ${dir}/olddev/$n /dev/$n; done`,
    'mkdir /dev/shm /dev/pts; ln -s /proc/self/fd /dev/fd',
    'ln -s /proc/self/fd/0 /dev/stdin; ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr',
    `touch /dev/log && mount --bind ${sock} /dev/log`,
    `exec ${process.execPath} ${droverBin} up -c ${conf}`,
  ].join('\n');
  const drover = spawn('unshare', ['-m', 'sh', '-c', setup], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  drover.stdout.on('data', (c: Buffer) => (output += c.toString()));
  drover.stderr.on('data', (c: Buffer) => (output += c.toString()));
  return { drover, output: () => output };
}

// supervisord's `logfile = syslog` sends its own log there; drover took it for NONE and its log went nowhere
test('[supervisord] logfile = syslog: drover\'s own lines go to /dev/log', async () => {
  const dir = makeTmpDir('drover-syslog-');
  const sock = join(dir, 'log.sock');
  const fd = bindDatagramSocket(sock);
  const conf = join(dir, 'supervisord.conf');
  writeFileSync(conf, ['[supervisord]', 'logfile = syslog', `pidfile = ${join(dir, 'pid')}`, '[unix_http_server]', `file = ${join(dir, 'ctl.sock')}`, '[program:s]', 'command = sleep 1000', 'startsecs = 0', ''].join('\n'));
  const { drover, output } = startWithDevLog(dir, sock, conf);
  const got: string[] = [];
  try {
    await waitForCondition(
      () => {
        for (let d = receiveDatagram(fd, 65536); d !== null; d = receiveDatagram(fd, 65536)) got.push(d.data.toString());
        return got.some((g) => /: INFO spawned: s with pid \d+$/.test(g));
      },
      "drover's spawned line at the syslog socket",
      { timeoutMs: 20_000, describe: () => `received: ${JSON.stringify(got)}\ndrover: ${output()}` },
    );
    for (const g of got) assert.match(g, /^<14>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d drover\[\d+\]: [A-Z]+ \S/, `in syslog's form, without drover's own time: ${JSON.stringify(g)}`);
  } finally {
    drover.kill('SIGTERM');
    if (drover.exitCode === null && drover.signalCode === null) await once(drover, 'exit');
    closeFd(fd);
  }
  assert.equal(drover.exitCode, 0, output());
});
