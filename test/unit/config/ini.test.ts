import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createIniDocument, expandHere, findCommentStart, getEntry, readIni } from '../../../src/config/ini.js';

function read(text: string) {
  const doc = createIniDocument();
  readIni(doc, text, '/etc/x.conf');
  return doc;
}

test('inline comments need whitespace before ; or #', () => {
  const doc = read('[s]\na = 1 ; gone\nb = x;y\nc = p #q\nd: v\t# tab\n');
  assert.equal(getEntry(doc, 's', 'a')?.value, '1');
  assert.equal(getEntry(doc, 's', 'b')?.value, 'x;y');
  assert.equal(getEntry(doc, 's', 'c')?.value, 'p');
  assert.equal(getEntry(doc, 's', 'd')?.value, 'v');
  assert.equal(findCommentStart('  ; whole line'), 0);
});

test('keys are lowercased, sections keep case, first delimiter wins', () => {
  const doc = read('[Program:Web]\nCommand = a=b:c\nurl: http://x\n');
  assert.equal(getEntry(doc, 'Program:Web', 'command')?.value, 'a=b:c');
  assert.equal(getEntry(doc, 'Program:Web', 'url')?.value, 'http://x');
});

test('continuation lines and kept empty lines', () => {
  const doc = read('[s]\ncmd = a\n  b\n\n  c\nnext = 1\n');
  assert.equal(getEntry(doc, 's', 'cmd')?.value, 'a\nb\n\nc');
  assert.equal(getEntry(doc, 's', 'next')?.value, '1');
});

test('duplicate sections merge and duplicate keys override, with warnings', () => {
  const doc = read('[s]\na=1\nb=1\n[t]\n[s]\na=2\n');
  assert.equal(getEntry(doc, 's', 'a')?.value, '2');
  assert.equal(getEntry(doc, 's', 'a')?.pos.line, 6);
  assert.equal(getEntry(doc, 's', 'b')?.value, '1');
  assert.equal(doc.warnings.length, 2);
  assert.match(doc.warnings[0]?.message ?? '', /declared again/);
});

test('[DEFAULT] values are visible in every section', () => {
  const doc = read('[DEFAULT]\nx=1\n[s]\n[t]\nx=2\n');
  assert.equal(getEntry(doc, 's', 'x')?.value, '1');
  assert.equal(getEntry(doc, 't', 'x')?.value, '2');
});

test('a comment that cuts an open quote is a warning', () => {
  const doc = read('[p]\ncommand=sh -c "a ; b"\n');
  assert.equal(getEntry(doc, 'p', 'command')?.value, 'sh -c "a');
  assert.match(doc.warnings[0]?.message ?? '', /starts a comment/);
});

test('errors: key before a section, and a line that is not key=value', () => {
  assert.match(read('a=1\n').errors[0]?.message ?? '', /before any \[section\]/);
  const doc = read('[s]\nnonsense\n');
  assert.equal(doc.errors[0]?.pos.line, 2);
});

test('expandHere replaces %(here)s text, copying defaults into sections', () => {
  const doc = read('[DEFAULT]\nd=%(here)s/d\n[s]\na=%(here)s/a\n');
  expandHere(doc, '/srv');
  assert.equal(getEntry(doc, 's', 'a')?.value, '/srv/a');
  assert.equal(doc.sections.get('s')?.entries.get('d')?.value, '/srv/d');
});

test('keep: sections it refuses are followed but not stored; the kept ones read as in a full reading', () => {
  const text = [
    '[DEFAULT]',
    'd = 1',
    '[program:a]',
    'command = x',
    '  [supervisorctl]', // a continuation line of command, not a header
    '  username = evil',
    '',
    'b = y',
    '[unix_http_server]',
    'file = /s.sock ; comment',
    'password = p',
    '  q',
    '[program:b]',
    'c = 1',
    'c = 2',
    '[unix_http_server]',
    'username = u',
  ].join('\n');
  const keep = (s: string): boolean => s.startsWith('unix_http_server') || s === 'supervisorctl';
  const lean = createIniDocument();
  readIni(lean, text, '/etc/x.conf', keep);
  assert.deepEqual([...lean.sections.keys()], ['unix_http_server']);
  const full = read(text);
  assert.deepEqual(lean.sections.get('unix_http_server'), full.sections.get('unix_http_server'));
  assert.deepEqual(lean.defaults, full.defaults);
  assert.equal(getEntry(lean, 'unix_http_server', 'password')?.value, 'p\nq');
  // the repeated key of a skipped section warns in a full reading only; the repeated kept section in both
  assert.equal(full.warnings.length, 2);
  assert.equal(lean.warnings.length, 1);
  assert.match(lean.warnings[0]?.message ?? '', /declared again/);
});

test('keep: a syntax error in a refused section is still an error, at its line', () => {
  const doc = createIniDocument();
  readIni(doc, '[unix_http_server]\nfile=/s\n[program:a]\ncommand=x\nnonsense\n', '/etc/x.conf', (s) => s === 'unix_http_server');
  assert.equal(doc.errors.length, 1);
  assert.equal(doc.errors[0]?.pos.line, 5);
  const before = createIniDocument();
  readIni(before, 'a=1\n[program:a]\n', '/etc/x.conf', () => false);
  assert.match(before.errors[0]?.message ?? '', /before any \[section\]/);
});

test('a section name may hold U+2028 and U+2029, as in Python (and a ":" in it does not make it a key line)', () => {
  const doc = read('[s]\n[program:a\u2028b\u2029c]\ncommand = x\n');
  assert.deepEqual(doc.errors, []);
  assert.deepEqual([...doc.sections.keys()], ['s', 'program:a\u2028b\u2029c']);
  assert.equal(getEntry(doc, 'program:a\u2028b\u2029c', 'command')?.value, 'x');
  assert.equal(doc.sections.get('s')?.entries.size, 0);
});

// A refused section's lines are mostly read by char codes (skimRefused), the rest in full: on random
// configs, a keep-mode reading must store exactly what a full reading stores for the kept sections, with
// the same errors, whatever the refused sections hold (indents of every ASCII and Unicode space, inline and
// whole-line comments, headers with "]" inside or text after, lines without a key, \r\n and \r).
test('keep: on random configs, the kept sections, [DEFAULT] and the errors are those of a full reading', () => {
  let seed = 20261204;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)] as T;
  const sp = (): string => pick(['', '', '', ' ', '  ', '\t', ' \t', '\v', '\f', '\u00a0', '\u2028', '\ufeff', '    ']);
  const word = (): string => pick(['a', 'command', 'file', 'x y', 'é', 'k\u00a0', 'p=q', 'v:w', '', '[', ']', ';c', '#c', 'x;y', 'x #y', '"q ;', "'", '\u3000']);
  const header = (): string =>
    pick(['[program:a]', '[program:b]', '[supervisord]', '[unix_http_server]', '[supervisorctl]', '[DEFAULT]', '[a]b]', '[]', '[', '[x] tail', '[ spaced ]', '[é]', '[p;c]', '[q] ;c', '[\u2028]']);
  const line = (): string => {
    const r = rnd();
    if (r < 0.15) return sp() + header() + pick(['', '', ' ', ' ;x', ' #y']);
    if (r < 0.55) return sp() + word() + word() + sp() + pick(['=', ':', ' = ', ': ', '==', '=:']) + sp() + word() + word() + sp();
    if (r < 0.65) return '';
    if (r < 0.72) return sp() + pick([';', '#']) + word();
    if (r < 0.85) return pick(['  ', '\t', '   ', ' ']) + word() + word();
    return sp() + word() + sp();
  };
  const keep = (s: string): boolean => s === 'supervisord' || s === 'supervisorctl' || s.startsWith('unix_http_server');
  const stored = (doc: ReturnType<typeof createIniDocument>, only: (s: string) => boolean): string =>
    JSON.stringify({
      sections: [...doc.sections].filter(([name]) => only(name)).map(([name, s]) => [name, s.pos, [...s.entries]]),
      defaults: [...doc.defaults],
      errors: doc.errors,
    });
  for (let i = 0; i < 3000; i++) {
    const eol = pick(['\n', '\n', '\r\n', '\r']);
    const lines = Array.from({ length: 1 + Math.floor(rnd() * 25) }, line);
    const text = (rnd() < 0.3 ? '[program:z]' + eol : '') + lines.join(eol) + pick(['', eol]);
    const full = createIniDocument();
    readIni(full, text, 'f');
    const kept = createIniDocument();
    readIni(kept, text, 'f', keep);
    assert.equal(stored(kept, () => true), stored(full, keep), JSON.stringify(text));
  }
});
