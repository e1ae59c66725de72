// Job workers: run the queued jobs, `concurrency` at a time per process. A job that throws is retried with
// a growing delay and, after its last attempt, lands in the dead-letter list (drover queue dead resize).
import { defineWorker } from 'drover';

export default defineWorker({
  setup(ctx) {
    ctx.log(`resizer ${ctx.id} ready, ${ctx.concurrency} at a time`);
  },
  async run(ctx) {
    await ctx.queue('resize').process(async (task) => {
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 200)); // the "work"
      if (Math.random() < 0.05) throw new Error(`could not read ${task.data.image}`);
      const n = await ctx.state.increment('resized');
      // a lock around a read-modify-write of several keys (one key alone would just use compareAndSet)
      const l = await ctx.lock('report');
      try {
        await ctx.state.set('last-by', { worker: ctx.name, image: task.data.image, n });
      } finally {
        await l.release();
      }
    });
    ctx.log('stopping: in-flight jobs are done');
  },
});
