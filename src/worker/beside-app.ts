// Listeners of drover's own on events whose mere listener changes what Node's http server does: it emits
// 'checkContinue', 'checkExpectation', 'upgrade' and 'connect' only when somebody listens for them, and
// otherwise answers the request itself (100 Continue, 417) or as an ordinary request, or closes the
// connection. A listener of drover's alone would change that for an app that has none, so drover's are
// there only beside the app's: before one the app has, or as it adds its first, and removed once no
// listener but drover's is left (the app's last one removed, or a `once` one spent).
import type { Server } from 'node:http';

/** Events of an http.Server that Node treats differently once anybody listens for them. */
export type ConditionalEvent = 'checkContinue' | 'checkExpectation' | 'upgrade' | 'connect';

/** drover's listeners, on any server: what is not one of them is the app's */
const drovers = new WeakSet<object>();

/** Runs `listener` first on each of `events` while, and only while, the app also listens for it. */
export function listenBesideApp(server: Server, events: readonly ConditionalEvent[], listener: (...args: never[]) => void): void {
  const watched = new Set<string | symbol>(events);
  const ours = new Set<ConditionalEvent>();
  const fn = listener as (...args: unknown[]) => void;
  drovers.add(fn);
  const add = (event: ConditionalEvent): void => {
    if (ours.has(event)) return;
    ours.add(event);
    server.prependListener(event, fn);
  };
  const appListens = (event: string | symbol): boolean => server.listeners(event).some((l) => !drovers.has(l));
  for (const event of events) if (appListens(event)) add(event);
  server.on('newListener', (event: string | symbol, added: unknown) => {
    if (watched.has(event) && typeof added === 'function' && !drovers.has(added)) add(event as ConditionalEvent);
  });
  server.on('removeListener', (event: string | symbol) => {
    if (!watched.has(event) || !ours.has(event as ConditionalEvent) || appListens(event)) return;
    ours.delete(event as ConditionalEvent);
    server.removeListener(event, fn);
  });
}
