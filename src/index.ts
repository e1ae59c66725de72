// drover's public API for worker modules: `import { defineWorker } from 'drover'`.
export { defineWorker } from './worker/index.js';
export type { JobWorker, WorkerContext } from './worker/index.js';
