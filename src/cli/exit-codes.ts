// The one exit-code table for every drover command (LSB style, as supervisorctl uses it).
// A code is never renumbered or reused; docs/exit-codes.md lists the same table.
export const EXIT = {
  /** success */
  OK: 0,
  /** generic failure: a command was understood but did not succeed */
  FAILURE: 1,
  /** usage error or invalid configuration */
  USAGE: 2,
  /** `status`: a matched program is not running */
  NOT_RUNNING_STATUS: 3,
  /** insufficient privilege */
  NO_PERMISSION: 4,
  /** the supervisor is not running (no control socket answers) */
  SUPERVISOR_NOT_RUNNING: 7,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
