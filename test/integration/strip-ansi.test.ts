// [supervisord] strip_ansi = true: programs' escape sequences are kept out of their log files and out of the
// events a listener gets, as supervisord keeps them out (checked against supervisord 4.2.5); without the
// setting they stay.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../helpers/paths.js';
import { eventRecords, makeTmpDir, startUp, teardown, waitForCondition, writeConfig } from '../helpers/drover.js';

const PRINT = String.raw`printf '\033[31mred\033[0m plain\n'; exec sleep 1000`;

/** The program's log file, and the body of the PROCESS_LOG_STDOUT event a listener got for its line. */
async function logOf(strip: boolean): Promise<{ file: string; event: string }> {
  const dir = makeTmpDir();
  const file = join(dir, 'color.log');
  const run = await startUp(
    writeConfig(
      dir,
      `[supervisord]
strip_ansi = ${strip}

[program:color]
command = sh -c "${PRINT}"
stdout_logfile = ${file}
startsecs = 0
stdout_events_enabled = true

[eventlistener:rec]
command = /usr/bin/python3 ${join(repoRoot, 'test', 'fixtures', 'listeners', 'record.py')}
events = PROCESS_LOG_STDOUT
environment = REC_OUT="${dir}/events.jsonl"
`,
    ),
  );
  try {
    let text = '';
    await waitForCondition(
      () => {
        try {
          text = readFileSync(file, 'latin1');
        } catch {
          return false;
        }
        return text.includes('plain');
      },
      'the program\'s line in its log',
      { describe: () => `${JSON.stringify(text)}\n${run.describe()}` },
    );
    type Rec = { headers?: { eventname: string }; payload?: string };
    const bodies = (): string[] => eventRecords<Rec>(dir).flatMap((r) => (r.headers?.eventname === 'PROCESS_LOG_STDOUT' ? [r.payload ?? ''] : []));
    await waitForCondition(() => bodies().length > 0, 'the listener to get the line', { describe: () => `${JSON.stringify(eventRecords(dir))}\n${run.describe()}` });
    return { file: text, event: (bodies()[0] ?? '').split('\n').slice(1).join('\n') };
  } finally {
    await teardown(run, [], dir);
  }
}

test('strip_ansi = true keeps escape sequences out of a program\'s log file and its PROCESS_LOG events; false keeps them', async () => {
  assert.deepEqual(await logOf(true), { file: 'red plain\n', event: 'red plain\n' });
  assert.deepEqual(await logOf(false), { file: '\x1b[31mred\x1b[0m plain\n', event: '\x1b[31mred\x1b[0m plain\n' });
});
