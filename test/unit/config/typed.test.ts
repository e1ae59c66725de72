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

test('an octal key refuses a mode written as a decimal number (umask: 22, chmod: 700), naming the path and the fix', () => {
  const doc = read({ unix_http_server: { chmod: 700 }, programs: { a: { umask: 22 } }, supervisord: { umask: 77 }, sockets: { s: { bind: 'unix:/tmp/s.sock', mode: 644 } }, fcgi_programs: { f: { command: 'x', socket_mode: 400 } } });
  const byPath = new Map(doc.errors.map((e) => [e.pos.path, e]));
  assert.equal(byPath.get('unix_http_server.chmod')?.message, `700 is decimal here (octal 1274): write 0o700 or '700'`);
  assert.equal(byPath.get('unix_http_server.chmod')?.key, 'chmod');
  assert.equal(byPath.get('programs.a.umask')?.message, `22 is decimal here (octal 26): write 0o22 or '22'`);
  assert.match(byPath.get('supervisord.umask')?.message ?? '', /^77 is decimal here/);
  assert.match(byPath.get('sockets.s.mode')?.message ?? '', /^644 is decimal here/);
  assert.match(byPath.get('fcgi_programs.f.socket_mode')?.message ?? '', /^400 is decimal here/);
  assert.equal(doc.errors.length, 5);
  // the refused value is left out (nothing is silently reinterpreted)
  assert.equal(text(doc, 'unix_http_server', 'chmod'), undefined);
  assert.equal(text(doc, 'program:a', 'umask'), undefined);
});

test('an octal key refuses every decimal-looking number above 0o777, and the likely mistakes below it', () => {
  for (const mode of [600, 640, 644, 660, 664, 666, 700, 750, 755, 770, 775, 777, 1777, 400, 77]) {
    assert.equal(read({ unix_http_server: { chmod: mode } }).errors.length, 1, `chmod: ${mode}`);
  }
  for (const umask of [22, 27, 77, 70, 72, 20, 777]) {
    assert.equal(read({ programs: { a: { umask } } }).errors.length, 1, `umask: ${umask}`);
  }
});

test('an octal key takes 0o literals of usual modes and umasks, one-digit numbers, and any string', () => {
  const modes = [0o600, 0o640, 0o644, 0o660, 0o664, 0o666, 0o700, 0o750, 0o755, 0o770, 0o775, 0o777, 0o400, 0o500, 0o555, 0o000, 7];
  for (const mode of modes) {
    const doc = read({ unix_http_server: { chmod: mode } });
    assert.equal(doc.errors.length, 0, `chmod: 0o${mode.toString(8)}: ${doc.errors[0]?.message ?? ''}`);
    assert.equal(text(doc, 'unix_http_server', 'chmod'), mode.toString(8));
  }
  const umasks = [0o022, 0o027, 0o077, 0o002, 0o007, 0o037, 0o017, 0o070, 0o777, 0o770, 0];
  for (const umask of umasks) {
    const doc = read({ programs: { a: { umask } } });
    assert.equal(doc.errors.length, 0, `umask: 0o${umask.toString(8)}: ${doc.errors[0]?.message ?? ''}`);
    assert.equal(text(doc, 'program:a', 'umask'), umask.toString(8));
  }
  const strings = read({ unix_http_server: { chmod: '700' }, programs: { a: { umask: '022' } } });
  assert.equal(strings.errors.length, 0);
  assert.equal(text(strings, 'unix_http_server', 'chmod'), '700');
  assert.equal(text(strings, 'program:a', 'umask'), '022');
});
