// Checks of JSON read from the network, for the JSON API's wire types (wire.ts). A body that arrives is
// `unknown`; a Check<T> says whether it is a T and, when it is not, where it differs and what was expected
// there, so a client either trusts the answer's type or says exactly what it could not read.
// The field checks given to `object` are typed against T: a check that lets through something T does not
// allow does not compile (a stricter one does).

export interface Check<T> {
  /** what a T is, for messages: "a number", "an object" */
  readonly expected: string;
  /** null when `v` is a T; otherwise what is wrong, e.g. `processes[2].pid: expected a number, got "7"` */
  problem(v: unknown, at?: string): string | null;
  /** whether `v` is a T */
  is(v: unknown): v is T;
}

export const isString: Check<string> = leaf('a string', (v) => typeof v === 'string');
export const isNumber: Check<number> = leaf('a number', (v) => typeof v === 'number');
export const isBoolean: Check<boolean> = leaf('true or false', (v) => typeof v === 'boolean');
/** Any JSON value, as long as it is there. */
export const isJson: Check<unknown> = leaf('a JSON value', (v) => v !== undefined);

/** A JSON object (not a list, not null) whose fields are yet to be checked. */
export function isJsonObject(v: unknown): v is Readonly<Record<string, unknown>> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Exactly one of `values`. */
export function oneOf<const L extends string | boolean>(values: readonly L[]): Check<L> {
  const allowed = new Set<unknown>(values);
  return leaf(values.map((v) => JSON.stringify(v)).join(' or '), (v) => allowed.has(v));
}

export function nullable<T>(check: Check<T>): Check<T | null> {
  const expected = `${check.expected} or null`;
  const inner = check.is;
  return make(expected, (v) => v === null || inner(v), (v, at) => {
    if (v === null) return null;
    const p = check.problem(v, at);
    // inside an object or list the inner check says where; a wrong scalar is told against both choices
    return p === null || typeof v === 'object' ? p : explain(at, expected, v);
  });
}

/** A field that may be absent (one that only some answers carry, or one added to the API later). */
export function optional<T>(check: Check<T>): Check<T | undefined> {
  const inner = check.is;
  return make(check.expected, (v) => v === undefined || inner(v), (v, at) => (v === undefined ? null : check.problem(v, at)));
}

export function listOf<T>(item: Check<T>): Check<T[]> {
  const inner = item.is;
  const test = (v: unknown): boolean => {
    if (!Array.isArray(v)) return false;
    for (let i = 0; i < v.length; i++) if (!inner(v[i])) return false;
    return true;
  };
  return make(`a list of ${item.expected}`, test, (v, at) => {
    if (!Array.isArray(v)) return explain(at, 'a list', v);
    for (let i = 0; i < v.length; i++) {
      const p = item.problem(v[i], `${at}[${i}]`);
      if (p !== null) return p;
    }
    return null;
  });
}

/** A check per field of T; each optional field of T takes an `optional(…)` check. */
export type Fields<T> = { readonly [K in keyof T]-?: object extends Pick<T, K> ? Check<T[K] | undefined> : Check<T[K]> };

/** A JSON object with (at least) the fields of T; other fields are left alone. */
export function object<T>(fields: Fields<T>): Check<T> {
  const checks: [string, Check<unknown>][] = Object.entries(fields);
  // parallel arrays and an indexed loop: this runs for every field of every process of a status
  const keys = checks.map(([key]) => key);
  const tests = checks.map(([, check]) => check.is);
  // only own fields count; on an object JSON.parse made, a key Object.prototype lacks is own or absent
  const inherited = keys.map((key) => key in Object.prototype);
  const test = (v: unknown): boolean => {
    if (!isJsonObject(v)) return false;
    const proto: unknown = Object.getPrototypeOf(v);
    const plain = proto === Object.prototype || proto === null;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const field = (plain && !inherited[i]) || Object.hasOwn(v, key) ? v[key] : undefined;
      if (!(tests[i] as (x: unknown) => boolean)(field)) return false;
    }
    return true;
  };
  return make('an object', test, (v, at) => {
    if (!isJsonObject(v)) return explain(at, 'an object', v);
    for (const [key, check] of checks) {
      const field = Object.hasOwn(v, key) ? v[key] : undefined;
      const p = check.problem(field, at ? `${at}.${key}` : key);
      if (p !== null) return p;
    }
    return null;
  });
}

// --- internal ---

/**
 * A check from a plain test and the function that says what is wrong. `test` runs on every answer, so it
 * builds no paths or messages (with 1000 processes in a status, building them was a fifth of the CLI's work);
 * `problem` runs only to explain a refusal.
 */
function make<T>(expected: string, test: (v: unknown) => boolean, problem: (v: unknown, at: string) => string | null): Check<T> {
  return { expected, problem: (v, at = '') => (test(v) ? null : problem(v, at)), is: test as (v: unknown) => v is T };
}

function leaf<T>(expected: string, test: (v: unknown) => boolean): Check<T> {
  return make(expected, test, (v, at) => explain(at, expected, v));
}

/** `at: expected X, got Y`, with Y cut short. */
function explain(at: string, expected: string, got: unknown): string {
  const shown = got === undefined ? 'nothing' : JSON.stringify(got);
  const value = shown.length > 60 ? `${shown.slice(0, 57)}...` : shown;
  return `${at ? `${at}: ` : ''}expected ${expected}, got ${value}`;
}
