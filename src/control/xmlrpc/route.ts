// The /RPC2 route: supervisor's XML-RPC over the control server. A POST whose body is not a valid method
// call gets a fault (PARSE_ERROR, INVALID_REQUEST); other HTTP methods get 405. A method never crashes the
// daemon: an unexpected error becomes a FAILED fault, as in supervisor's multicall.
import type { ServerResponse } from 'node:http';
import type { ControlApi } from '../api.js';
import type { RouteHandler } from '../server.js';
import { decodeMethodCall, encodeFault, encodeResponse, XmlRpcDecodeError } from './codec.js';
import { RpcFault } from './faults.js';
import { callMethod, type MethodContext } from './methods.js';

/** supervisor's path for XML-RPC. */
export const XMLRPC_PATH = '/RPC2';

/** The /RPC2 route for one supervisor. */
export function xmlRpcRoute(api: ControlApi): RouteHandler {
  return {
    prefix: XMLRPC_PATH,
    async handle(req, res, body) {
      if (req.method !== 'POST') {
        const text = `XML-RPC at ${XMLRPC_PATH} takes POST requests only\n`;
        res.writeHead(405, { allow: 'POST', 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      const after: (() => void)[] = [];
      const ctx: MethodContext = { api, afterResponse: (fn) => after.push(fn) };
      let xml: string;
      try {
        const call = decodeMethodCall(body);
        xml = encodeResponse(await callMethod(ctx, call.methodName, call.params));
      } catch (err) {
        after.length = 0; // a failed call has no follow-up
        if (err instanceof RpcFault) xml = encodeFault(err.faultCode, err.faultString);
        else if (err instanceof XmlRpcDecodeError) xml = encodeFault(err.faultCode, err.message);
        else {
          const fault = new RpcFault('FAILED', (err as Error).message);
          xml = encodeFault(fault.faultCode, fault.faultString);
        }
      }
      sendXml(res, xml, () => {
        for (const fn of after) fn();
      });
    },
  };
}

// --- internal ---

function sendXml(res: ServerResponse, xml: string, onSent: () => void): void {
  res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8', 'content-length': Buffer.byteLength(xml) });
  // 'finish': the answer is handed to the OS before anything (a shutdown) may close the connection
  res.end(xml, onSent);
}
