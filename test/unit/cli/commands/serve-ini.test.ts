import { test } from 'node:test';
import assert from 'node:assert/strict';
import { iniValue } from '../../../../src/cli/commands/_serve-ini.js';
import { expand } from '../../../../src/config/expand.js';
import { createIniDocument, readIni } from '../../../../src/config/ini.js';

const NASTY = [' ;a', ';b', 'c;d', ' #e', '#f', '%g', '%%', '%(here)s', "q'\"", ' lead', 'trail ', '\tboth\t', 'a ; b # c %% d', ' ; ', '', '=:[x]'];
const names = new Map([['here', '/etc/drover']]);

/** The value of `k` as the config loader reads it: the INI line, then `expansions` rounds of %-expansion. */
function readBack(written: string, expansions: 1 | 2): string {
  const doc = createIniDocument();
  readIni(doc, `[s]\nk = ${written}\nnext = 1\n`, '/etc/drover/serve.ini');
  let value = doc.sections.get('s')?.entries.get('k')?.value ?? '(missing)';
  for (let i = 0; i < expansions; i++) value = expand(value, names);
  return value;
}

test('iniValue: the INI reader and the expansion give back the value (comments, trimmed ends, %)', () => {
  for (const v of NASTY) assert.equal(readBack(iniValue(v), 1), v, JSON.stringify(v));
});

test('iniValue for a key expanded twice (a log file) gives back the value', () => {
  for (const v of NASTY) assert.equal(readBack(iniValue(v, 2), 2), v, JSON.stringify(v));
});

test('iniValue leaves a plain value as it is', () => {
  assert.equal(iniValue('/srv/app/app.mjs'), '/srv/app/app.mjs');
  assert.equal(iniValue('a;b#c'), 'a;b#c');
});
