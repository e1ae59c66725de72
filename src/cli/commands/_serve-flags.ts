// gunicorn options that `drover serve` does not take, each with where its job is done instead, so that a
// gunicorn command line brought over is refused with a reason rather than "Unknown option" alone.
// (gunicorn's names for the options it does take are in serve.ts's option table: -t, --pid, --log-file.)

const NOT_TAKEN: Readonly<Record<string, string>> = {
  '-c': 'a Python config file; give the options on the command line, or write a drover config and run `drover up`',
  '--config': 'a Python config file; give the options on the command line, or write a drover config and run `drover up`',
  '-k': 'every worker is a Node process with an event loop (gunicorn\'s async workers); there is no worker class to choose',
  '--worker-class': 'every worker is a Node process with an event loop (gunicorn\'s async workers); there is no worker class to choose',
  '--threads': 'a Node worker serves its requests on one event loop; use -w for more processes',
  '--worker-connections': 'a Node worker takes as many connections as it is given; set server.maxConnections in an exported http.Server',
  '--preload': 'each worker loads the app itself, so HUP can roll the workers onto new code (docs/decisions.md)',
  '--limit-request-line': 'set in the app: an exported http.Server\'s maxHeaderSize (Node\'s --max-http-header-size)',
  '--limit-request-fields': 'set in the app: an exported http.Server\'s maxHeadersCount',
  '--limit-request-field_size': 'set in the app: an exported http.Server\'s maxHeaderSize (Node\'s --max-http-header-size)',
  '--proxy-protocol': 'drover does not read the PROXY protocol; behind a proxy, use --forwarded-allow-ips and X-Forwarded-*',
  '--proxy-allow-from': 'drover does not read the PROXY protocol; behind a proxy, use --forwarded-allow-ips and X-Forwarded-*',
  '--capture-output': 'the workers\' output is always captured: printed in the foreground and kept in RUNTIME_DIR/logs (--access-logfile FILE sends their stdout to FILE)',
  '--print-config': 'use --check-config, and read RUNTIME_DIR/serve.ini (the config drover runs)',
  '--worker-tmp-dir': 'workers report their heartbeat over IPC, with no file',
  '--ssl-version': 'Node negotiates the TLS version; --ciphers limits the suites',
  '--reload-engine': '--reload watches with the kernel\'s inotify',
  '--reload-extra-file': '--reload watches the app\'s directory; for other files write watch = in a drover config',
  '--log-config': 'drover\'s log has one format; --log-level sets its level',
  '--log-syslog': 'set logfile = syslog in a drover config',
  '--statsd-host': 'drover exposes /metrics for Prometheus ([inet_http_server])',
  '--pythonpath': 'a Python option',
  '--paste': 'a Python option',
  '--initgroups': 'workers run with --user\'s primary group only',
};

/** The message for the first gunicorn option in `argv` that drover serve does not take, or null. */
export function gunicornOnly(argv: readonly string[]): string | null {
  for (const arg of argv) {
    if (arg === '--') break;
    const flag = arg.startsWith('--') ? arg.split('=', 1)[0] as string : arg.slice(0, 2);
    const why = NOT_TAKEN[flag];
    if (why !== undefined) return `gunicorn's ${flag} is not taken by drover serve: ${why}`;
  }
  return null;
}
