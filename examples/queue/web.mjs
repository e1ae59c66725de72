// HTTP workers: enqueue jobs, report progress. `import from 'drover'` reaches the master's queue and state
// from any worker process.
import { queue, state } from 'drover';

const resize = queue('resize');

export default async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method === 'POST' && url.pathname === '/resize') {
    const n = Math.min(1000, Number(url.searchParams.get('n') ?? '1') || 1);
    const ids = [];
    for (let i = 0; i < n; i++) ids.push(await resize.push({ image: `img-${Date.now()}-${i}.png`, width: 320 }));
    res.end(`queued ${ids.length} job(s): ${ids[0]}…${ids.at(-1)}\n`);
    return;
  }
  if (url.pathname === '/stats') {
    const body = { resized: (await state.get('resized')) ?? 0, lastBy: await state.get('last-by'), queue: await resize.stats() };
    res.setHeader('content-type', 'application/json');
    res.end(`${JSON.stringify(body, null, 2)}\n`);
    return;
  }
  res.statusCode = 404;
  res.end('POST /resize?n=N or GET /stats\n');
};
