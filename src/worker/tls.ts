// HTTPS for the servers a worker makes: certfile and keyfile, ciphers, and client certificates (ca_certs, cert_reqs),
// as gunicorn's options of the same names. Each worker reads the files as it starts, as the program's user,
// and checks them at once, so a pair that does not match or a file it cannot read stops the worker with the
// file and the reason, not its first connection.
import { readFileSync } from 'node:fs';
import type { RequestListener, Server } from 'node:http';
import { createServer, type ServerOptions } from 'node:https';
import { createSecureContext, type TLSSocket } from 'node:tls';
import { WORKER_ENV } from '../ipc/protocol.js';

/** cert_reqs, as the master passes it (config/types.ts ClientCerts; a worker imports nothing from config/) */
type ClientCerts = 'none' | 'optional' | 'required';

export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  /** ca_certs: what vouches for client certificates; null: none given */
  readonly ca: string | null;
  readonly clientCerts: ClientCerts;
  /** ciphers: an OpenSSL cipher list; null: Node's */
  readonly ciphers: string | null;
}

/** The files the master passed (certfile and keyfile both set); null: plain HTTP. */
export function tlsFilesFrom(env: NodeJS.ProcessEnv): TlsFiles | null {
  const cert = env[WORKER_ENV.certFile];
  const key = env[WORKER_ENV.keyFile];
  if (cert === undefined || key === undefined) return null;
  const asked = env[WORKER_ENV.clientCerts];
  const clientCerts: ClientCerts = asked === 'optional' || asked === 'required' ? asked : 'none';
  return { cert, key, ca: env[WORKER_ENV.caFile] ?? null, clientCerts, ciphers: env[WORKER_ENV.ciphers] ?? null };
}

/** The files read, and the server options made of them. */
export interface Tls {
  readonly files: TlsFiles;
  readonly options: ServerOptions;
}

/** Reads the files; throws an Error that says which file and why. What is in them is checked by httpsServer. */
export function readTls(files: TlsFiles): Tls {
  const read = (what: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read the ${what} ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); it is read by each worker, as the program's user`);
    }
  };
  const cert = read('certificate (certfile)', files.cert);
  const key = read('private key (keyfile)', files.key);
  const ca = files.ca === null ? undefined : read('CA certificates (ca_certs)', files.ca);
  const ciphers = files.ciphers === null ? {} : { ciphers: files.ciphers };
  // optional: Node would accept a certificate that does not verify (rejectUnauthorized false); httpsServer
  // closes such a connection, as Python's CERT_OPTIONAL fails its handshake
  const options = { cert, key, ...ciphers, ...(ca !== undefined ? { ca } : {}), requestCert: files.clientCerts !== 'none', rejectUnauthorized: files.clientCerts === 'required' };
  return { files, options };
}

/**
 * An HTTPS server with these options. With cert_reqs = optional a client may come without a certificate;
 * one whose certificate ca_certs does not vouch for is closed before a request is read. A key that does
 * not match its certificate, or a file that is not PEM, throws an Error that names the file: the server
 * builds the one TLS context, and only then are the parts tried apart to say which one is wrong.
 */
export function httpsServer(tls: Tls, listener: RequestListener): Server {
  let server: Server;
  try {
    server = createServer(tls.options, listener);
  } catch (err) {
    throw new Error(whichFile(tls, err as Error));
  }
  if (tls.options.requestCert === true && tls.options.rejectUnauthorized === false) {
    server.prependListener('secureConnection', (socket: TLSSocket) => {
      if (!socket.authorized && Object.keys(socket.getPeerCertificate()).length > 0) socket.destroy();
    });
  }
  return server;
}

// --- internal ---

/** Why the TLS context could not be made, with the file to blame. */
function whichFile({ files, options }: Tls, err: Error): string {
  try {
    createSecureContext({ cert: options.cert, key: options.key, ciphers: options.ciphers });
  } catch (pair) {
    return `certfile ${files.cert} and keyfile ${files.key}: ${(pair as Error).message}`;
  }
  if (options.ca !== undefined) {
    try {
      createSecureContext({ ca: options.ca });
    } catch (ca) {
      return `ca_certs ${files.ca}: ${(ca as Error).message}`;
    }
  }
  return err.message;
}
