// A typed config's module is evaluated once per `drover up`. The foreground master replaces itself with a
// Node that has the daemon's flags (execve), and `up -d` starts the daemon as a new process; both used to
// evaluate the module again, so whatever it does (fetch a secret, ask for a token, count) happened twice,
// and a slow module made the start twice as slow. The process that evaluated it hands the result on: as
// JSON in an unlinked file whose descriptor the next process inherits, named with the config's path in
// DROVER_TYPED_EVALUATION (fd:path). The next process takes it only for the same path, then closes it and
// drops the variable, so no program inherits either.
import { closeSync, fstatSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TypedEvaluation } from '../config/typed.js';
import { randomHex } from '../os/random.js';

export const TYPED_EVALUATION_ENV = 'DROVER_TYPED_EVALUATION';

/** A descriptor holding `evaluation` of `file`, and the variable that names it; null when it cannot be made. */
export function handOverEvaluation(file: string, evaluation: TypedEvaluation): { fd: number; env: Record<string, string> } | null {
  const path = join(tmpdir(), `drover-typed-${randomHex(8)}.json`);
  let fd: number;
  try {
    fd = openSync(path, 'wx+', 0o600);
  } catch {
    return null; // no temporary directory to write: the next process evaluates the module itself
  }
  try {
    unlinkSync(path);
    const bytes = Buffer.from(JSON.stringify(evaluation));
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at, at);
  } catch {
    closeSync(fd);
    return null;
  }
  return { fd, env: { [TYPED_EVALUATION_ENV]: `${fd}:${file}` } };
}

/**
 * The evaluation of `file` that the process before this one handed on, or undefined (none, another file's,
 * or unreadable). The variable is removed from `env` either way. The descriptor is closed once it is known
 * to be the handed-on file (an unlinked regular file): a number named by a stray variable may be a socket
 * this process was passed.
 */
export function takeEvaluation(env: Record<string, string | undefined>, file: string): TypedEvaluation | undefined {
  const named = env[TYPED_EVALUATION_ENV];
  if (named === undefined) return undefined;
  delete env[TYPED_EVALUATION_ENV];
  const m = /^(\d+):(.*)$/s.exec(named);
  if (m === null || m[2] !== file) return undefined;
  const fd = Number(m[1]);
  let size: number;
  try {
    const st = fstatSync(fd);
    if (fd < 3 || !st.isFile() || st.nlink !== 0) return undefined;
    size = st.size;
  } catch {
    return undefined; // not open
  }
  try {
    const bytes = Buffer.alloc(size);
    for (let at = 0; at < size; ) {
      const n = readSync(fd, bytes, at, size - at, at);
      if (n === 0) return undefined;
      at += n;
    }
    const value = JSON.parse(bytes.toString('utf8')) as TypedEvaluation;
    return typeof value === 'object' && value !== null && typeof value.ok === 'boolean' ? value : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
