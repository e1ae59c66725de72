// An Express app: export the app (a request listener) and let drover listen. Needs `npm i express`
// next to this file; drover itself does not depend on Express.
import express from 'express';

const app = express();
app.get('/', (req, res) => res.send(`express in worker ${process.env.DROVER_WORKER_ID}\n`));
export default app;
