// A tiny HTTP server for the demo: answers with its pid, so restarts are visible.
import { createServer } from 'node:http';
const port = Number(process.env.PORT ?? 8080);
createServer((req, res) => res.end(`hello from pid ${process.pid}\n`)).listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${port}`);
});
process.on('SIGTERM', () => {
  console.log('SIGTERM: closing');
  process.exit(0);
});
