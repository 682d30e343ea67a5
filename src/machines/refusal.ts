/**
 * A refused operation, as a value: `code` for programs, `message` for people.
 *
 * Codes:
 * - `invalid_state`: the operation is not allowed in the current state; the message is
 *   runsc's `requireStatus` wording, `cannot <op> <kind> "<id>" in state <state>`.
 * - `not_running`: `kill` (without `--all`) of a stopped container; the message is
 *   runc's `container not running`, which callers match on.
 * - `paused`: `exec` into a paused container without `--ignore-paused`, in runc's words
 *   (runc then exits 255).
 */
export type RefusalCode = 'invalid_state' | 'not_running' | 'paused';

export interface Refusal {
  readonly code: RefusalCode;
  readonly message: string;
}

/** The one wording for "not in this state": `cannot pause container "x" in state created`. */
export function invalidState(op: string, kind: string, id: string, state: string): Refusal {
  return { code: 'invalid_state', message: `cannot ${op} ${kind} "${id}" in state ${state}` };
}

export const notRunning: Refusal = { code: 'not_running', message: 'container not running' };

export const execPaused: Refusal = { code: 'paused', message: 'cannot exec in a paused container (use --ignore-paused to override)' };
