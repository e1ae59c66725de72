// Typed config → INI document: each typed value becomes the INI text that means it, at its property path;
// values a key cannot take are reported with the path. And the table: every key takes a typed value.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createIniDocument, type IniDocument } from '../../../src/config/ini.js';
import { SCHEMA, defaultOf, type KeySpec } from '../../../src/config/schema.js';
import { TYPED_SECTIONS, readTypedConfig } from '../../../src/config/typed.js';
import { keyValuePairs } from '../../../src/config/datatypes.js';

const FILE = '/srv/app/drover.config.ts';

function read(value: unknown): IniDocument {
  const doc = createIniDocument();
  readTypedConfig(doc, value, FILE);
  return doc;
}

function text(doc: IniDocument, section: string, key: string): string | undefined {
  return doc.sections.get(section)?.entries.get(key)?.value;
}

test('sections are named as in the INI, and each value keeps its property path as its position', () => {
  const doc = read({ supervisord: { loglevel: 'debug' }, programs: { web: { command: 'node app.js' } }, groups: { g: { programs: ['web'] } }, fcgi_programs: { f: { command: 'x' } }, eventlisteners: { e: { command: 'y' } }, sockets: { s: { bind: '127.0.0.1:1' } } });
  assert.deepEqual([...doc.sections.keys()], ['supervisord', 'program:web', 'group:g', 'fcgi-program:f', 'eventlistener:e', 'socket:s']);
  assert.deepEqual(doc.sections.get('program:web')?.entries.get('command')?.pos, { file: FILE, line: 0, path: 'programs.web.command' });
  assert.deepEqual(doc.sections.get('program:web')?.pos, { file: FILE, line: 0, path: 'programs.web' });
  assert.equal(doc.errors.length, 0);
});

test('numbers, booleans, arrays and octal numbers become the INI text the parsers read', () => {
  const doc = read({ programs: { web: { numprocs: 3, autostart: false, exitcodes: [0, 2], umask: 0o027, stopwaitsecs: 2.5, sockets: ['a', 'b'] } }, include: { files: ['conf.d/*.conf', 'more/*.ini'] }, unix_http_server: { chmod: 0o600 } });
  assert.equal(text(doc, 'program:web', 'numprocs'), '3');
  assert.equal(text(doc, 'program:web', 'autostart'), 'false');
  assert.equal(text(doc, 'program:web', 'exitcodes'), '0, 2');
  assert.equal(text(doc, 'program:web', 'umask'), '27');
  assert.equal(text(doc, 'program:web', 'stopwaitsecs'), '2.5');
  assert.equal(text(doc, 'program:web', 'sockets'), 'a, b');
  assert.equal(text(doc, 'include', 'files'), 'conf.d/*.conf more/*.ini');
  assert.equal(text(doc, 'unix_http_server', 'chmod'), '600');
});

test('an environment object is written as KEY="value" pairs that read back to the same object', () => {
  const env = { A: 'plain', B: 'with, comma and space', C: 'say "hi" now', D: "it's", E: 42, F: true, G: '%(here)s/x' };
  const doc = read({ programs: { web: { environment: env } } });
  const raw = text(doc, 'program:web', 'environment') as string;
  assert.deepEqual(keyValuePairs(raw), { A: 'plain', B: 'with, comma and space', C: 'say "hi" now', D: "it's", E: '42', F: 'true', G: '%(here)s/x' });
});

test('a value a key cannot take is reported at its property path, with what was expected', () => {
  const doc = read({ programs: { web: { command: { '\u0000': 'a function' }, numprocs: [1], environment: { 'BAD KEY': 'x', Q: `'quoted'`, BOTH: `'"` }, exitcodes: [0, { x: 1 }], autostart: { yes: true } } } });
  const byPath = new Map(doc.errors.map((e) => [e.pos.path, e]));
  assert.match(byPath.get('programs.web.command')?.message ?? '', /is a function/);
  assert.match(byPath.get('programs.web.numprocs')?.message ?? '', /is an array, but this key takes one value/);
  assert.match(byPath.get('programs.web.environment["BAD KEY"]')?.message ?? '', /not a variable name/);
  assert.match(byPath.get('programs.web.exitcodes[1]')?.message ?? '', /not a string or a number/);
  assert.match(byPath.get('programs.web.autostart')?.message ?? '', /is an object/);
  assert.equal(byPath.get('programs.web.numprocs')?.section, 'program:web');
  assert.equal(byPath.get('programs.web.numprocs')?.key, 'numprocs');
});

test('environment values supervisor\'s format cannot carry are refused, not changed', () => {
  for (const value of [`'quoted'`, `both ' and "`, `"x`]) {
    const doc = read({ programs: { web: { environment: { V: value } } } });
    assert.equal(doc.errors.length, 1, value);
    assert.equal(doc.errors[0]?.pos.path, 'programs.web.environment.V');
  }
});

test('an unknown top-level key is a warning naming the nearest known one; a non-object export is an error', () => {
  const doc = read({ program: { web: {} } });
  assert.match(doc.warnings[0]?.message ?? '', /unknown top-level key, ignored \(did you mean "programs"\?\)/);
  assert.equal(read([1, 2]).errors.length, 1);
  assert.match(read({ programs: { web: 'node app.js' } }).errors[0]?.message ?? '', /is not an object of keys/);
});

test('null and undefined leave a key (or a section) unset', () => {
  const doc = read({ programs: { web: { command: 'x', numprocs: null, user: undefined }, gone: null }, supervisord: null });
  assert.deepEqual([...doc.sections.keys()], ['program:web']);
  assert.deepEqual([...(doc.sections.get('program:web')?.entries.keys() ?? [])], ['command']);
});

test('every key of every section a typed config names takes its default written as a typed value', () => {
  // the table is the only list of keys: a key added to it (ready, depends_on, …) is covered without a change here
  for (const [top, where] of Object.entries(TYPED_SECTIONS)) {
    const table = SCHEMA[where.kind] as Readonly<Record<string, KeySpec<unknown>>>;
    for (const [key, spec] of Object.entries(table)) {
      if (spec.default === null) continue;
      const parsed = defaultOf(spec);
      const typed = Array.isArray(parsed) ? parsed : typeof parsed === 'number' || typeof parsed === 'boolean' ? parsed : spec.default;
      const section = 'prefix' in where ? { x: { [key]: typed } } : { [key]: typed };
      const doc = read({ [top]: section });
      assert.deepEqual(doc.errors, [], `${top}.${key}`);
      const name = 'prefix' in where ? `${where.prefix}:x` : where.section;
      const written = text(doc, name, key) as string;
      assert.deepEqual(spec.parse(written), parsed, `${top}.${key}: ${JSON.stringify(typed)} → ${JSON.stringify(written)}`);
    }
  }
});
