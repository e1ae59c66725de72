// A plain request listener: drover listens on the inherited socket, drains it on stop, recycles it.
export default (req, res) => {
  res.end(`hello from worker ${process.env.DROVER_WORKER_ID} (pid ${process.pid})\n`);
};
