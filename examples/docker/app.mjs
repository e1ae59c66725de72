// The app behind nginx: a drover HTTP worker on [socket:app]. It answers /api/hello and queues jobs for the
// worker program; the queue and the shared counter live in the drover master (docs/shared.md).
import { queue, state } from 'drover';

const jobs = queue('jobs');

export default async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method === 'POST' && url.pathname === '/api/jobs') {
    const n = Math.min(100, Number(url.searchParams.get('n') ?? '1') || 1);
    for (let i = 0; i < n; i++) await jobs.push({ n: i });
    res.end(`queued ${n} job(s)\n`);
    return;
  }
  if (url.pathname === '/api/stats') {
    res.setHeader('content-type', 'application/json');
    res.end(`${JSON.stringify({ done: (await state.get('done')) ?? 0, queue: await jobs.stats() })}\n`);
    return;
  }
  if (url.pathname === '/api/hello') {
    res.end(`hello from the app, pid ${process.pid}\n`);
    return;
  }
  res.statusCode = 404;
  res.end('GET /api/hello, POST /api/jobs?n=N, GET /api/stats\n');
};
