// Error classes shared by every layer. Every error class in src/ derives from DroverError and carries a
// stable string `code` that is never renumbered or reused (test/unit/errors.test.ts checks both).

export class DroverError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Where in a config file a problem is, and what was wrong with which value. */
export interface ConfigErrorDetail {
  readonly file: string;
  /** 1-based; 0 when the problem is not tied to a line (e.g. a missing file) */
  readonly line: number;
  /** a typed config's property path, e.g. "programs.web.numprocs" (then line is 0) */
  readonly path?: string;
  /** section name as written, e.g. "program:web"; empty when not in a section */
  readonly section: string;
  readonly key: string | null;
  readonly message: string;
  readonly got?: string;
  readonly expected?: string;
}

/**
 * Formats `FILE:LINE: [section] key: message (got …, expected …)`, or for a typed config
 * `FILE: programs.web.numprocs: message (got …, expected …)`.
 */
export function formatConfigProblem(d: ConfigErrorDetail): string {
  const where = d.line > 0 ? `${d.file}:${d.line}:` : `${d.file}:`;
  const path = d.path === undefined ? null : propertyPath(d.path, d.key);
  const section = path !== null && path !== '' ? ` ${path}:` : d.section ? ` [${d.section}]` : '';
  const key = path === null && d.key ? ` ${d.key}:` : '';
  const extra: string[] = [];
  if (d.got !== undefined) extra.push(`got ${JSON.stringify(d.got)}`);
  if (d.expected !== undefined) extra.push(`expected ${d.expected}`);
  const tail = extra.length ? ` (${extra.join(', ')})` : '';
  return `${where}${section}${key} ${d.message}${tail}`;
}

/** A typed config's property path, ending in `key` when the problem is about a key of the path's object. */
export function propertyPath(path: string, key: string | null): string {
  if (key === null || path.split(/[.[]/).some((part) => part === key)) return path;
  return path === '' ? key : `${path}.${key}`;
}

export class ConfigError extends DroverError {
  readonly detail: ConfigErrorDetail;
  constructor(detail: ConfigErrorDetail, options?: { cause?: unknown }) {
    super('E_CONFIG', formatConfigProblem(detail), options);
    this.detail = detail;
  }
}

export class UsageError extends DroverError {
  constructor(message: string) {
    super('E_USAGE', message);
  }
}

export class InvariantError extends DroverError {
  constructor(message: string) {
    super('E_INVARIANT', message);
  }
}

/**
 * What was thrown, as text, whatever it was (`throw` takes any value): an Error's stack (`'stack'`) or
 * message, else the value as a string. Never throws itself: a value String() cannot convert (an object
 * without a prototype, a toString that throws) is named by its tag, so the code reporting an error cannot
 * fail in turn.
 */
export function describeThrown(err: unknown, form: 'stack' | 'message' = 'message'): string {
  try {
    const e = err as { stack?: unknown; message?: unknown } | null | undefined;
    return String(form === 'stack' ? (e?.stack ?? e?.message ?? err) : (e?.message ?? err));
  } catch {
    try {
      return Object.prototype.toString.call(err);
    } catch {
      return '(a value that cannot be shown)';
    }
  }
}
