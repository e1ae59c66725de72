// One HTTP GET on a fresh connection (no keep-alive), for checking what a worker answers.
import { get } from 'node:http';

export interface TextAnswer {
  readonly status: number;
  readonly body: string;
  readonly headers: Record<string, unknown>;
}

/** GET http://127.0.0.1:PORT/PATH and read the whole body. */
export function fetchText(port: number, path = '/'): Promise<TextAnswer> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    }).on('error', reject);
  });
}
