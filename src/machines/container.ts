import { assertEvent, assign, setup, type SnapshotFrom } from 'xstate';
import { execPaused, invalidState, notRunning, type Refusal } from './refusal.js';

/**
 * The OCI container lifecycle (docs/LIFECYCLE.md, "Container"), as the single answer to
 * "can this happen now". Pure: the actor layer asks `snapshot.can(event)`, does the
 * effect, then sends the event. Every cell the table marks "error" is left unhandled,
 * so `can()` is false there and sending it changes nothing.
 */

export const SIGKILL = 9;

export interface ContainerInput {
  id: string;
}

export interface ContainerContext {
  id: string;
  /** Exit status of init (`128+signal` if signalled), once it has exited. */
  exitStatus: number | null;
  /** Signals sent while paused, delivered by the actor layer on resume (never SIGKILL). */
  pendingSignals: number[];
}

export type ContainerEvent =
  | { type: 'container.created' }
  | { type: 'container.start' }
  | { type: 'container.kill'; signal: number; all?: boolean }
  | { type: 'container.pause' }
  | { type: 'container.resume' }
  /** ignorePaused: runc's `exec --ignore-paused` (the process waits in the frozen cgroup) */
  | { type: 'container.exec'; ignorePaused?: boolean }
  | { type: 'container.delete'; force?: boolean }
  | { type: 'process.exited'; exitStatus: number };

export type ContainerStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped' | 'deleted';

export const containerMachine = setup({
  types: {
    input: {} as ContainerInput,
    context: {} as ContainerContext,
    events: {} as ContainerEvent,
  },
  guards: {
    isForced: ({ event }) => event.type === 'container.delete' && event.force === true,
    ignoresPaused: ({ event }) => event.type === 'container.exec' && event.ignorePaused === true,
    isAll: ({ event }) => event.type === 'container.kill' && event.all === true,
  },
  actions: {
    queueSignal: assign({
      pendingSignals: ({ context, event }) => {
        assertEvent(event, 'container.kill');
        // SIGKILL is not queued: it must end a paused container (the actor layer thaws).
        return event.signal === SIGKILL ? context.pendingSignals : [...context.pendingSignals, event.signal];
      },
    }),
    clearSignals: assign({ pendingSignals: () => [] }),
    recordExit: assign({
      exitStatus: ({ event }) => {
        assertEvent(event, 'process.exited');
        return event.exitStatus;
      },
      // Signals still queued can no longer be delivered once init is gone.
      pendingSignals: () => [],
    }),
  },
}).createMachine({
  id: 'container',
  initial: 'creating',
  context: ({ input }) => ({ id: input.id, exitStatus: null, pendingSignals: [] }),
  states: {
    creating: {
      on: {
        'container.created': { target: 'created' },
        'container.delete': { guard: 'isForced', target: 'deleted' },
        'process.exited': { target: 'stopped', actions: 'recordExit' },
      },
    },
    created: {
      on: {
        'container.start': { target: 'running' },
        // Self-transitions name their target: a targetless, action-less transition makes can() false.
        'container.kill': { target: 'created' },
        'container.pause': { target: 'paused' },
        // runc runs an exec'd process in a created container: it joins the namespaces while the init waits.
        'container.exec': { target: 'created' },
        // runc deletes a created container (killing its waiting init); the OCI spec would refuse.
        'container.delete': { target: 'deleted' },
        'process.exited': { target: 'stopped', actions: 'recordExit' },
      },
    },
    running: {
      on: {
        'container.kill': { target: 'running' },
        'container.pause': { target: 'paused' },
        'container.exec': { target: 'running' },
        'container.delete': { guard: 'isForced', target: 'deleted' },
        'process.exited': { target: 'stopped', actions: 'recordExit' },
      },
    },
    paused: {
      on: {
        'container.kill': { target: 'paused', actions: 'queueSignal' },
        'container.resume': { target: 'running', actions: 'clearSignals' },
        'container.exec': { guard: 'ignoresPaused', target: 'paused' },
        'container.delete': { guard: 'isForced', target: 'deleted' },
        'process.exited': { target: 'stopped', actions: 'recordExit' },
      },
    },
    stopped: {
      on: {
        'container.kill': { guard: 'isAll', target: 'stopped' },
        'container.delete': { target: 'deleted' },
      },
    },
    deleted: { type: 'final' },
  },
});

export type ContainerMachine = typeof containerMachine;
export type ContainerSnapshot = SnapshotFrom<typeof containerMachine>;

export function containerStatus(snapshot: ContainerSnapshot): ContainerStatus {
  return snapshot.value;
}

/** The verb each event stands for in `cannot <op> container …`. */
const containerOps: Record<ContainerEvent['type'], string> = {
  'container.created': 'create',
  'container.start': 'start',
  'container.kill': 'kill',
  'container.pause': 'pause',
  'container.resume': 'resume',
  'container.exec': 'exec',
  'container.delete': 'delete',
  'process.exited': 'record the exit of',
};

/**
 * Why `event` cannot happen now, or null if it can. Codes (see refusal.ts):
 * `not_running` for kill without `all` of a stopped container (`container not running`),
 * `invalid_state` for everything else (`cannot <op> container "<id>" in state <state>`).
 */
export function refusal(snapshot: ContainerSnapshot, event: ContainerEvent): Refusal | null {
  if (snapshot.can(event)) return null;
  const state = containerStatus(snapshot);
  if (event.type === 'container.kill' && state === 'stopped') return notRunning;
  if (event.type === 'container.exec' && state === 'paused') return execPaused;
  return invalidState(containerOps[event.type], 'container', snapshot.context.id, state);
}
