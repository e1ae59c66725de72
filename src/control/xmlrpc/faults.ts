// supervisor's XML-RPC fault codes (supervisor/xmlrpc.py Faults), unchanged: clients such as supervisorctl
// branch on the numbers. Two more, from the XML-RPC interoperability spec, for bodies that are not a
// method call at all (supervisord answers those with HTTP 400; a fault tells an XML-RPC client why).
import type { CommandErrorCode } from '../../core/types.js';
import { DroverError } from '../../errors.js';

export const Faults = {
  UNKNOWN_METHOD: 1,
  INCORRECT_PARAMETERS: 2,
  BAD_ARGUMENTS: 3,
  SIGNATURE_UNSUPPORTED: 4,
  SHUTDOWN_STATE: 6,
  BAD_NAME: 10,
  BAD_SIGNAL: 11,
  NO_FILE: 20,
  NOT_EXECUTABLE: 21,
  FAILED: 30,
  ABNORMAL_TERMINATION: 40,
  SPAWN_ERROR: 50,
  ALREADY_STARTED: 60,
  NOT_RUNNING: 70,
  SUCCESS: 80,
  ALREADY_ADDED: 90,
  STILL_RUNNING: 91,
  CANT_REREAD: 92,
  /** drover: the body is not well-formed XML (or uses DOCTYPE/entities, or is nested too deeply) */
  PARSE_ERROR: -32700,
  /** drover: well-formed XML that is not a valid XML-RPC methodCall */
  INVALID_REQUEST: -32600,
} as const;

export type FaultName = keyof typeof Faults;

/**
 * A fault to answer; `faultString` follows supervisor's "NAME" or "NAME: detail". Its `code` is one for
 * every fault (which fault is `faultCode`), and none that faultOfErrorCode maps, so a fault thrown inside
 * a log read is never wrapped a second time.
 */
export class RpcFault extends DroverError {
  readonly faultCode: number;
  readonly faultString: string;
  constructor(
    readonly fault: FaultName,
    detail?: string,
  ) {
    const text = detail === undefined ? fault : `${fault}: ${detail}`;
    super('E_RPC_FAULT', text);
    this.faultCode = Faults[fault];
    this.faultString = text;
  }
}

/** How each control-command error code reads in supervisor's terms. */
export const FAULT_OF_COMMAND_CODE: Readonly<Record<CommandErrorCode, FaultName>> = {
  E_BAD_NAME: 'BAD_NAME',
  E_ALREADY_STARTED: 'ALREADY_STARTED',
  E_NOT_RUNNING: 'NOT_RUNNING',
  E_SPAWN: 'SPAWN_ERROR',
  E_NO_FILE: 'NO_FILE',
  E_NOT_EXECUTABLE: 'NOT_EXECUTABLE',
  E_ABNORMAL_TERMINATION: 'ABNORMAL_TERMINATION',
  E_SHUTTING_DOWN: 'SHUTDOWN_STATE',
  E_STILL_RUNNING: 'STILL_RUNNING',
  E_ALREADY_ADDED: 'ALREADY_ADDED',
  E_FAILED: 'FAILED',
  // supervisorctl prints "abnormal termination": the process did not get to run
  E_DEPENDENCY: 'ABNORMAL_TERMINATION',
  // the process runs, under the previous master of a USR2 (stopping it): supervisorctl prints "already started"
  E_PREVIOUS_MASTER: 'ALREADY_STARTED',
  // supervisor's restart ends its master too: the nearest of its faults
  E_REEXEC: 'SHUTDOWN_STATE',
  // the new workers failed to start: supervisor's nearest fault for a start that failed
  E_KEPT_OLD_WORKERS: 'SPAWN_ERROR',
};

/** The fault name for a `code` such as "E_NO_FILE" (log read errors), or null when it has none. */
export function faultOfErrorCode(code: string): FaultName | null {
  const fromCommand = (FAULT_OF_COMMAND_CODE as Readonly<Record<string, FaultName>>)[code];
  if (fromCommand && Object.hasOwn(FAULT_OF_COMMAND_CODE, code)) return fromCommand;
  const bare = code.startsWith('E_') ? code.slice(2) : code;
  return Object.hasOwn(Faults, bare) ? (bare as FaultName) : null;
}
