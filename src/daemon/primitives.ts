// Opening the shared primitives for the workers (queues, state, locks; docs/shared.md): in this process,
// optionally journaled, or in a Redis server. With a journal, requests wait behind a gate until it is
// loaded; a re-exec'd master loads it only once the old master has exited (until then the old one appends).
import type { Config } from '../config/types.js';
import type { Logger } from '../logs/logger.js';
import type { SharedBackend } from '../primitives/backend.js';
import { attachJournal, SharedGate } from '../primitives/durable.js';
import { MemoryBackend } from '../primitives/memory-backend.js';
import { SharedService } from '../primitives/service.js';

export interface OpenPrimitives {
  readonly service: SharedService;
  /** open once the journal (if any) is loaded */
  readonly gate: SharedGate;
  /** Loads the journal and opens the gate; returns why it could not, or null. */
  openGate(): string | null;
}

/** Connects the backend; throws with a message (passwords redacted) when Redis cannot be reached. */
export async function openPrimitives(config: Config, logger: Logger, opts: { deferJournal: boolean }): Promise<OpenPrimitives> {
  const { supervisord } = config;
  const memoryBackend = supervisord.sharedBackend === 'memory' ? new MemoryBackend(undefined, null, supervisord.sharedMaxBytes) : null;
  let backend: SharedBackend;
  if (memoryBackend) backend = memoryBackend;
  else {
    // loaded only for a Redis backend: its module and scripts are memory a memory backend does not need
    const { RedisBackend } = await import('../primitives/redis-backend.js');
    try {
      backend = await RedisBackend.connect({
        url: supervisord.sharedBackend,
        prefix: supervisord.sharedPrefix,
        livenessMs: supervisord.sharedLivenessMs,
        onError: (m) => logger.warn(redactUrl(m)),
        onInfo: (m) => logger.info(m),
      });
    } catch (err) {
      throw new Error(redactUrl((err as Error).message), { cause: err });
    }
    logger.info(`shared backend: Redis at ${redactUrl(supervisord.sharedBackend)} (prefix ${supervisord.sharedPrefix})`);
  }
  const service = new SharedService(backend, (m) => logger.warn(m));
  const gate = new SharedGate();
  const journalFile = supervisord.journal;
  const openGate = (): string | null => {
    // the config refuses a journal with a Redis backend
    if (journalFile !== null && memoryBackend !== null) {
      try {
        attachJournal(memoryBackend, journalFile, (m) => logger.warn(m), {
          fsyncEachBatch: supervisord.journalFsync,
          onError: (m) => logger.error(m),
          onRecovered: (m) => logger.info(m),
        });
      } catch (err) {
        return (err as Error).message;
      }
      const restored = memoryBackend.queueStats(null).reduce((n, q) => n + q.ready + q.delayed, 0);
      logger.info(`journal ${journalFile}: ${restored} task(s) restored${supervisord.journalFsync ? '; fsync after every batch (journal_fsync)' : ''}`);
    }
    gate.open();
    return null;
  };
  // Without a journal there is nothing to hand over (memory: the new master starts empty, as documented;
  // Redis: both masters share the server), so a re-exec'd master's gate opens at once too.
  if (!opts.deferJournal || journalFile === null) {
    const problem = openGate();
    if (problem !== null) {
      await backend.close();
      throw new Error(problem);
    }
  }
  return { service, gate, openGate: () => (gate.isOpen ? null : openGate()) };
}

/** A backend URL or a message naming it, with any password replaced by *** (it goes to logs). */
function redactUrl(text: string): string {
  return text.replace(/(rediss?:\/\/[^:@/\s]*:)[^@\s]*@/g, '$1***@');
}
