// Worker modules written by tests import 'drover' by name: link the package into the temp dir.
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './paths.js';
import { startRedis } from './redis.js';

/** Makes `import ... from 'drover'` resolve to this repository from modules in `dir`. */
export function linkDrover(dir: string): void {
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  symlinkSync(repoRoot, join(dir, 'node_modules', 'drover'));
}

/** The shared backends every queue/state/lock integration test runs on (issue 5: "same API, same tests"). */
export const SHARED_BACKENDS = ['memory', 'redis'] as const;
export type SharedBackendName = (typeof SHARED_BACKENDS)[number];

/**
 * Prepares `backend` for a drover started from `dir`: for Redis, a private redis-server in `dir`. `section`
 * goes at the top of the config file (empty for memory); `stop` ends the server after drover's teardown.
 */
export async function useSharedBackend(backend: SharedBackendName, dir: string): Promise<{ section: string; stop: () => Promise<void> }> {
  if (backend === 'memory') return { section: '', stop: async () => {} };
  const server = await startRedis(dir);
  return { section: `[drover]\nshared_backend = ${server.url}\n\n`, stop: () => server.stop() };
}
