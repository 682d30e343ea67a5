// Reading the container machine: which state a snapshot is in, the OCI status it reports, why
// an operation is refused, and the pure step of an operation settled by its effects' answers.
import { getNextSnapshot, transition } from 'xstate';
import { execPaused, invalidState, notRunning, type Refusal } from './refusal.js';
import { containerMachine, type ContainerEffectKey, type ContainerEmitted, type ContainerEvent, type ContainerSnapshot, type ContainerStatus, type FileOp, type FileRoot } from './container.js';

/** The top-level state a snapshot is in (settled or in-between). */
export function containerState(snapshot: ContainerSnapshot): string {
  const v = snapshot.value as unknown;
  return typeof v === 'string' ? v : Object.keys(v as object)[0];
}

/** Whether the machine is between operations (no effect in flight). */
export function isSettled(snapshot: ContainerSnapshot): boolean {
  const s = containerState(snapshot);
  return s === 'created' || s === 'running' || s === 'paused' || s === 'stopped' || s === 'deleted' || snapshot.matches({ creating: 'idle' });
}

/**
 * The OCI status: a settled state's own; an in-between state reports where its operation began
 * (stopped once the init has exited, running once a starting program runs).
 */
export function containerStatus(snapshot: ContainerSnapshot): ContainerStatus {
  const s = containerState(snapshot);
  const ctx = snapshot.context;
  switch (s) {
    case 'creating': case 'created': case 'running': case 'paused': case 'stopped': case 'deleted':
      return s;
    case 'starting':
      return ctx.exitStatus !== null ? 'stopped' : ctx.programStarted ? 'running' : 'created';
    default:
      return ctx.exitStatus !== null && ctx.settled !== 'creating' ? 'stopped' : ctx.settled;
  }
}

/** The verb each operation stands for in `cannot <op> container …`. */
const containerOps: Record<ContainerEvent['type'], string> = {
  'container.hooks': 'run hooks of',
  'container.created': 'create',
  'container.start': 'start',
  'container.kill': 'kill',
  'container.pause': 'pause',
  'container.resume': 'resume',
  'container.exec': 'exec',
  'container.update': 'update',
  'container.checkpoint': 'checkpoint',
  'container.delete': 'delete',
  'container.stats': 'read the stats of',
  'container.file': 'reach the files of',
  'sandbox.pause': 'pause',
  'sandbox.resume': 'resume',
  'sandbox.stop': 'stop',
  'process.started': 'record the start of',
  'process.exited': 'record the exit of',
};

/**
 * Why `event` cannot happen now, or null if it can. Codes (see refusal.ts):
 * `not_running` for kill without `all` of a stopped container and for stats without processes
 * (runc's `container not running`), `paused` for exec into a paused container without
 * --ignore-paused, `invalid_state` for everything else (`cannot <op> container "<id>" in state <state>`;
 * a file operation: `cannot write a file in container "<id>" in state deleting`, the one refusal
 * that can name an in-between state, as it is not queued behind the operation in flight).
 */
export function refusal(snapshot: ContainerSnapshot, event: ContainerEvent): Refusal | null {
  if (snapshot.can(event)) return null;
  const state = containerStatus(snapshot);
  if (event.type === 'container.kill' && state === 'stopped') return notRunning;
  if (event.type === 'container.stats') return notRunning;
  if (event.type === 'container.exec' && state === 'paused') return execPaused;
  if (event.type === 'container.file') {
    return invalidState(`${event.op} a file in`, 'container', snapshot.context.id, containerState(snapshot) === 'deleting' ? 'deleting' : state);
  }
  return invalidState(containerOps[event.type], 'container', snapshot.context.id, state);
}

/** What the machine's default effects answer: `attach` finds a waiting monitor, `stop` no init to wait for. */
export function defaultOutput(key: ContainerEffectKey): unknown {
  return key === 'attach' ? { state: 'created' } : key === 'stop' ? false : undefined;
}

/**
 * The pure step of an operation: `event`, then the answer of each effect it invokes (by
 * `outputs`, else the defaults, or `errors`' error for a key named there) until the machine
 * settles or waits for a fact. Tests and the model use it: no actor runs.
 */
export function settle(
  snapshot: ContainerSnapshot, event: ContainerEvent,
  { outputs = {}, errors = {} }: { outputs?: Partial<Record<ContainerEffectKey, unknown>>; errors?: Partial<Record<ContainerEffectKey, unknown>> } = {},
): ContainerSnapshot {
  let s = getNextSnapshot(containerMachine, snapshot, event);
  for (let i = 0; i < 8 && !isSettled(s); i++) {
    const key = Object.keys(s.children)[0] as ContainerEffectKey | undefined;
    if (!key) break; // waiting for a fact (stop: the init's exit)
    s = getNextSnapshot(containerMachine, s, (key in errors
      ? { type: `xstate.error.actor.${key}`, error: errors[key] }
      : { type: `xstate.done.actor.${key}`, output: key in outputs ? outputs[key] : defaultOutput(key) }) as never);
  }
  return s;
}

/**
 * The machine's answer to a file operation, as a pure step (what its actor emits on
 * `container.file`): where it is served, or null where the machine refuses it. Tests and the
 * model use it: no actor runs.
 */
export function fileRoot(snapshot: ContainerSnapshot, op: FileOp): FileRoot | null {
  const event = { type: 'container.file', op } as const;
  if (snapshot.status !== 'active' || !snapshot.can(event)) return null;
  const [, actions] = transition(containerMachine, snapshot, event);
  const emitted = (actions as Array<{ type: string; params?: unknown }>).find((a) => a.type === 'xstate.emit')?.params as { event: ContainerEmitted } | undefined;
  return emitted?.event.root ?? null;
}
