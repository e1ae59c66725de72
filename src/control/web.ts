// The web page: `/` and its assets under `/ui/`. The files live in src/control/web/ and are copied beside
// this module by `npm run build` (scripts/copy-web-assets.mjs). Only the fixed table below is served: no
// part of a request path is ever used to open a file.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { sendError, sendMethodNotAllowed, type RouteHandler } from './server.js';

/** URL path → file in the assets directory and its content type. */
export const WEB_ASSETS: Readonly<Record<string, { readonly file: string; readonly type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  // supervisord's page is at /index.html: a bookmark of it opens this one
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/ui/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/ui/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/ui/icon.svg': { file: 'icon.svg', type: 'image/svg+xml' },
};

/** Where the built assets are: dist/src/control/web/ beside the compiled module. */
const ASSET_DIR = new URL('./web/', import.meta.url);

/**
 * The page forbids everything but its own origin: no inline script, no third-party anything, never in a
 * frame (clickjacking the stop buttons).
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

/**
 * The web page route. It is the catch-all (prefix "/"), so it goes last in the route list; any path not in
 * WEB_ASSETS gets the server's usual 404.
 */
export function webRoute(): RouteHandler {
  /** file contents and ETag per path, read on first use and kept */
  const cache = new Map<string, { body: Buffer; etag: string }>();
  return {
    prefix: '/',
    handle(req, res) {
      const [path = '/', query = ''] = (req.url ?? '/').split('?', 2);
      if (path === '/tail.html' && (req.method === 'GET' || req.method === 'HEAD')) {
        // supervisord's tail page (tail.html?processname=NAME): this page, with that process's log open
        const name = new URLSearchParams(query).get('processname');
        res.writeHead(302, { location: name ? `/?${new URLSearchParams({ log: name })}` : '/', 'content-length': 0 });
        res.end();
        return;
      }
      const asset = Object.hasOwn(WEB_ASSETS, path) ? WEB_ASSETS[path] : undefined;
      if (!asset) {
        sendError(res, 404, 'E_NOT_FOUND', `no such path: ${path}`);
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        sendMethodNotAllowed(res, req.method, path, ['GET', 'HEAD']);
        return;
      }
      let entry = cache.get(path);
      if (!entry) {
        const body = readAsset(asset.file, res);
        if (!body) return;
        entry = { body, etag: `"${createHash('sha1').update(body).digest('base64url').slice(0, 20)}"` };
        cache.set(path, entry);
      }
      const headers = { ...SECURITY_HEADERS, 'content-type': asset.type, 'cache-control': 'no-cache', etag: entry.etag };
      if (req.headers['if-none-match'] === entry.etag) {
        res.writeHead(304, headers);
        res.end();
        return;
      }
      res.writeHead(200, { ...headers, 'content-length': entry.body.length });
      res.end(req.method === 'HEAD' ? undefined : entry.body);
    },
  };
}

// --- internal ---

/** Reads one asset by its fixed file name; answers 500 and returns null when the build did not copy it. */
function readAsset(file: string, res: ServerResponse): Buffer | null {
  try {
    return readFileSync(new URL(file, ASSET_DIR));
  } catch (err) {
    // ENOENT: dist/ was built without the assets (tsc alone); say how to fix it
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    sendError(res, 500, 'E_INTERNAL', `web page asset ${file} is missing: run "npm run build"`);
    return null;
  }
}
