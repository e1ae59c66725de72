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

/** Reads and checks the files; throws an Error that says which file and why. */
export function readTls(files: TlsFiles): ServerOptions {
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
  try {
    createSecureContext({ cert, key, ...ciphers }); // a key that does not match, or a file that is not PEM
  } catch (err) {
    throw new Error(`certfile ${files.cert} and keyfile ${files.key}: ${(err as Error).message}`);
  }
  if (ca !== undefined) {
    try {
      createSecureContext({ ca });
    } catch (err) {
      throw new Error(`ca_certs ${files.ca}: ${(err as Error).message}`);
    }
  }
  // optional: Node would accept a certificate that does not verify (rejectUnauthorized false); httpsServer
  // closes such a connection, as Python's CERT_OPTIONAL fails its handshake
  return { cert, key, ...ciphers, ...(ca !== undefined ? { ca } : {}), requestCert: files.clientCerts !== 'none', rejectUnauthorized: files.clientCerts === 'required' };
}

/**
 * An HTTPS server with these options. With cert_reqs = optional a client may come without a certificate;
 * one whose certificate ca_certs does not vouch for is closed before a request is read.
 */
export function httpsServer(options: ServerOptions, listener: RequestListener): Server {
  const server = createServer(options, listener);
  if (options.requestCert === true && options.rejectUnauthorized === false) {
    server.prependListener('secureConnection', (socket: TLSSocket) => {
      if (!socket.authorized && Object.keys(socket.getPeerCertificate()).length > 0) socket.destroy();
    });
  }
  return server;
}
