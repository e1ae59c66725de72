// Crashes every few seconds, to show autorestart: drover restarts it within milliseconds.
const lifeMs = 3000 + Math.floor(Math.random() * 2000);
console.log(`working (pid ${process.pid}); will crash in ${lifeMs} ms`);
setTimeout(() => {
  console.error('crashing on purpose');
  process.exit(1);
}, lifeMs);
