// A job worker: setup once, run until drover asks it to stop (ctx.signal), then stop.
import { defineWorker } from 'drover';

export default defineWorker({
  setup(ctx) {
    ctx.log(`worker ${ctx.id} ready`);
  },
  async run(ctx) {
    let n = 0;
    while (!ctx.signal.aborted) {
      n += 1;
      if (n % 50 === 0) ctx.log(`worker ${ctx.id}: ${n} ticks`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  },
  stop(ctx) {
    ctx.log(`worker ${ctx.id} stopping cleanly`);
  },
});
