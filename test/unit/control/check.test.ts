// Checks of JSON from the network (src/control/check.ts): what they let through, and that a refusal says
// where the value differs and what was expected there.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBoolean, isJson, isJsonObject, isNumber, isString, listOf, nullable, object, oneOf, optional, type Check } from '../../../src/control/check.js';

interface Proc {
  readonly name: string;
  readonly pid: number | null;
  readonly code?: 'E_A' | 'E_B';
  readonly tags: readonly string[];
}
const Proc: Check<Proc> = object<Proc>({ name: isString, pid: nullable(isNumber), code: optional(oneOf(['E_A', 'E_B'])), tags: listOf(isString) });
const Answer = object<{ ok: true; processes: readonly Proc[] }>({ ok: oneOf([true]), processes: listOf(Proc) });

test('scalars: each check takes its own type only', () => {
  assert.equal(isString.problem('x'), null);
  assert.equal(isString.problem(1), 'expected a string, got 1');
  assert.equal(isNumber.problem(0), null);
  assert.equal(isNumber.problem('7'), 'expected a number, got "7"');
  assert.equal(isBoolean.problem(false), null);
  assert.equal(isBoolean.problem(null), 'expected true or false, got null');
  assert.equal(oneOf(['running', 'stopped']).problem('running'), null);
  assert.equal(oneOf(['running', 'stopped']).problem('RUNNING'), 'expected "running" or "stopped", got "RUNNING"');
  assert.equal(isJson.problem(null), null, 'null is a JSON value');
  assert.equal(isJson.problem(undefined), 'expected a JSON value, got nothing');
});

test('an object with the right fields passes, extra fields included; is() agrees with problem()', () => {
  const good = { ok: true, processes: [{ name: 'a', pid: 12, tags: [] }, { name: 'b', pid: null, code: 'E_B', tags: ['x'], extra: 1 }] };
  assert.equal(Answer.problem(good), null);
  assert.equal(Answer.is(good), true);
  assert.equal(Answer.is({ ...good, ok: false }), false);
});

test('a refusal names the path to the first wrong field and what was expected there', () => {
  const base = { name: 'a', pid: 1, tags: ['t'] };
  const answer = (p: unknown): unknown => ({ ok: true, processes: [base, p] });
  assert.equal(Answer.problem(answer({ ...base, pid: '7' })), 'processes[1].pid: expected a number or null, got "7"');
  assert.equal(Answer.problem(answer({ ...base, tags: ['t', 3] })), 'processes[1].tags[1]: expected a string, got 3');
  assert.equal(Answer.problem(answer({ pid: 1, tags: [] })), 'processes[1].name: expected a string, got nothing');
  assert.equal(Answer.problem(answer({ ...base, code: 'E_C' })), 'processes[1].code: expected "E_A" or "E_B", got "E_C"');
  assert.equal(Answer.problem(answer('a')), 'processes[1]: expected an object, got "a"');
  assert.equal(Answer.problem({ ok: true, processes: {} }), 'processes: expected a list, got {}');
  assert.equal(Answer.problem([]), 'expected an object, got []');
  assert.equal(Answer.problem(null), 'expected an object, got null');
  const long = Answer.problem(answer({ ...base, name: ['x'.repeat(500)] })) ?? '';
  assert.ok(long.length < 120 && long.endsWith('...'), `a long value is cut short: ${long}`);
});

test('optional: absent passes, present must be right; nullable: null passes', () => {
  assert.equal(Proc.problem({ name: 'a', pid: null, tags: [] }), null);
  assert.equal(Proc.problem({ name: 'a', pid: null, tags: [], code: null }), 'code: expected "E_A" or "E_B", got null');
  assert.equal(Proc.problem({ name: 'a', tags: [] }), 'pid: expected a number or null, got nothing');
});

test('only own fields count: an inherited property does not stand in for a missing one', () => {
  const inherited = Object.create({ name: 'a' }) as object;
  Object.assign(inherited, { pid: 1, tags: [] });
  assert.equal(Proc.problem(inherited), 'name: expected a string, got nothing');
  assert.equal(object<{ constructor: string }>({ constructor: isString }).problem({}), 'constructor: expected a string, got nothing');
});

test('isJsonObject: objects only, not lists or null', () => {
  assert.equal(isJsonObject({}), true);
  assert.equal(isJsonObject([]), false);
  assert.equal(isJsonObject(null), false);
  assert.equal(isJsonObject('{}'), false);
});

test('field checks are typed against the type: a laxer check does not compile, a stricter one does', () => {
  // @ts-expect-error -- a nullable check for a field that is never null
  object<{ a: string }>({ a: nullable(isString) });
  // @ts-expect-error -- a string check for a number field
  object<{ a: number }>({ a: isString });
  // @ts-expect-error -- a required field checked as optional
  object<{ a: string }>({ a: optional(isString) });
  // @ts-expect-error -- a field left unchecked
  object<{ a: number; b: string }>({ a: isNumber });
  // @ts-expect-error -- a check of any string for a field of two values
  object<{ a: 'x' | 'y' }>({ a: isString });
  // stricter than the type: allowed, since whatever passes is still of the type
  assert.equal(object<{ a: number | null }>({ a: isNumber }).problem({ a: null }), 'a: expected a number, got null');
});
