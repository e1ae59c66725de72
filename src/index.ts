// drover's public API: for worker modules (`import { defineWorker } from 'drover'`) and typed configs
// (`import { defineConfig } from 'drover'`).
export { defineWorker } from './worker/index.js';
export type { JobWorker, WorkerContext } from './worker/index.js';
export { lock, queue, state, withLock, SharedRequestError } from './primitives/api.js';
export type { Lock, LockOptions, ProcessOptions, PushOptions, Queue, QueueStats, SharedState, Task, TakeOptions, DeadTask, NackResult } from './primitives/api.js';
export { defineConfig } from './config/define.js';
export type { ConfigContext, ConfigInput, DroverConfig, KeyInput, ProgramConfig, SectionInput } from './config/define.js';
