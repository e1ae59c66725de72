// A fetch-style app (the shape Hono, itty-router and other web-standard frameworks export): drover adapts
// Node's request to a Request and writes the Response back. With Hono: `export default app`.
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/json') return Response.json({ worker: process.env.DROVER_WORKER_ID, pid: process.pid });
    return new Response(`fetch handler in worker ${process.env.DROVER_WORKER_ID}\n`);
  },
};
