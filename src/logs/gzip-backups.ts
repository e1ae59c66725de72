// The gzip of a log's rotated file (logfile_gzip): file.1 compressed to file.1.gz off the event loop, while
// later rotations may shift it to file.2 and beyond (or past the last backup kept).
import { closeSync, constants, createReadStream, createWriteStream, fchmodSync, fstatSync, openSync, renameSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { randomHex } from '../os/random.js';
import type { PinnedDir } from '../os/safe-dir.js';
import { backupName } from './lines.js';

const require = createRequire(import.meta.url);

/** node:zlib, loaded by the first gzip of a rotated file (compress = true): most daemons never need it */
function zlib(): typeof import('node:zlib') {
  return require('node:zlib') as typeof import('node:zlib');
}

/** A gzip of a rotated file in progress; `index` follows the file as later rotations shift it. */
interface GzipJob {
  index: number;
}

/** The gzips in progress of one log's rotated files. */
export class GzipBackups {
  /** jobs running, and the promises that settle when each is done; empty when none runs */
  private readonly jobs = new Set<GzipJob>();
  private readonly done = new Set<Promise<void>>();

  /**
   * `path`: the live log file; `backups`: how many rotated files are kept (a job whose file was shifted past
   * that is dropped); `report`: where failures are said (never throws).
   */
  constructor(
    private readonly path: string,
    private readonly backups: number,
    private readonly report: (message: string) => void,
  ) {}

  /**
   * A rotation moved every backup up one usable name (the next number, unless one is taken by something
   * not ours): the files being compressed too. `next`: where backup N went (Infinity: dropped).
   */
  shift(next: (index: number) => number): void {
    for (const job of this.jobs) job.index = next(job.index);
  }

  /** Resolves once no gzip runs. */
  async settled(): Promise<void> {
    while (this.done.size > 0) await Promise.all([...this.done]);
  }

  /**
   * Compresses file.N (`index`, 1 unless that name was taken; read through `srcFd`, the descriptor it was
   * written through, which this job closes) to file.N.gz off the event loop (zlib runs on the thread pool). The output goes to a temp file with a
   * random name, created exclusively and without following links, mode 0600 until it is complete.
   */
  start(srcFd: number, dir: PinnedDir, index: number): void {
    const src = backupName(this.path, index, false);
    const tmp = `${basename(this.path)}.gz-tmp-${randomHex(8)}`;
    let out: number;
    let jobDir: PinnedDir;
    let fileMode: number;
    try {
      // the gzipped copy gets the rotated file's mode once it is complete
      fileMode = fstatSync(srcFd).mode & 0o777;
      jobDir = dir.dup();
    } catch (err) {
      closeSync(srcFd);
      this.report(`gzip of ${src}: ${(err as Error).message}`);
      return;
    }
    try {
      out = openSync(jobDir.at(tmp), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    } catch (err) {
      closeSync(srcFd);
      jobDir.close();
      this.report(`gzip of ${src}: ${(err as Error).message}`);
      return;
    }
    const job: GzipJob = { index };
    this.jobs.add(job);
    /** `out` is closed here only (the stream has autoClose off), exactly once: its number may be reused after */
    let outOpen = true;
    const closeOut = (): void => {
      if (!outOpen) return;
      outOpen = false;
      closeSync(out);
    };
    // start: 0 reads by position: the descriptor was appending, so its offset is at the end
    const done = pipeline(createReadStream('', { fd: srcFd, start: 0 }), zlib().createGzip(), createWriteStream('', { fd: out, autoClose: false }))
      .then(() => {
        this.jobs.delete(job);
        fchmodSync(out, fileMode);
        closeOut();
        if (job.index > this.backups) {
          removeIfExists(jobDir.at(tmp));
          return;
        }
        renameSync(jobDir.at(tmp), jobDir.at(basename(backupName(this.path, job.index, true))));
        removeIfExists(jobDir.at(basename(backupName(this.path, job.index, false))));
      })
      .catch((err: unknown) => {
        this.jobs.delete(job);
        closeOut();
        removeIfExists(jobDir.at(tmp));
        this.report(`gzip of ${src}: ${(err as Error).message}`);
      })
      .finally(() => {
        jobDir.close();
        this.done.delete(done);
      });
    this.done.add(done);
  }
}

/** Removes `path`; nothing when it does not exist. */
export function removeIfExists(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    // ENOENT: nothing to remove
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
