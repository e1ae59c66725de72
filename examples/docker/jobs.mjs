// The queue worker: takes the app's jobs, `concurrency` at a time per process, and logs each one to stdout,
// which drover passes on to the container's log with a "jobs_N | " prefix.
import { defineWorker } from 'drover';

export default defineWorker({
  async run(ctx) {
    await ctx.queue('jobs').process(async (task) => {
      await new Promise((r) => setTimeout(r, 20)); // the "work"
      const done = await ctx.state.increment('done');
      ctx.log(`done job ${task.id} (${done} in all)`);
    });
  },
});
