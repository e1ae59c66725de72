import { test } from 'node:test';
import assert from 'node:assert/strict';
import { editDistance, nearestKey } from '../../../src/config/nearest.js';
import { SCHEMA, sectionKind } from '../../../src/config/schema.js';

test('every default in the table parses with its own parser', () => {
  for (const [kind, table] of Object.entries(SCHEMA)) {
    for (const [key, spec] of Object.entries(table)) {
      if (spec.default === null) continue;
      assert.doesNotThrow(() => spec.parse(spec.default as string), `${kind}.${key} default ${spec.default}`);
      assert.ok(spec.doc.length > 0, `${kind}.${key} has doc text`);
    }
  }
});

test('supervisor defaults for program keys', () => {
  const p = SCHEMA.program;
  assert.equal(p['priority']?.default, '999');
  assert.equal(p['autorestart']?.default, 'unexpected');
  assert.equal(p['startsecs']?.default, '1');
  assert.equal(p['stopwaitsecs']?.default, '10');
  assert.equal(p['stdout_logfile_maxbytes']?.default, '50MB');
});

test('nearest key by edit distance', () => {
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(nearestKey('autostrat', Object.keys(SCHEMA.program)), 'autostart');
  assert.equal(nearestKey('stopwaitsec', Object.keys(SCHEMA.program)), 'stopwaitsecs');
  assert.equal(nearestKey('zzzzzzzzzz', Object.keys(SCHEMA.program)), null);
});

test('section kinds, including the [drover] spelling', () => {
  assert.deepEqual(sectionKind('program:web'), { kind: 'program', name: 'web' });
  assert.deepEqual(sectionKind('drover'), { kind: 'supervisord', name: '' });
  assert.deepEqual(sectionKind('rpcinterface:supervisor'), { kind: 'ignored' });
  assert.equal(sectionKind('progam:web'), null);
});
