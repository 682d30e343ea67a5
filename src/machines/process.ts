import { assertEvent, assign, fromPromise, setup, type SnapshotFrom } from 'xstate';
import { failed, succeeded, type Outcome } from './outcome.js';

/**
 * A container's init or an exec'd process (docs/LIFECYCLE.md, "Process"). Two regions side by
 * side:
 * - `life`: created (monitor spawned, gate closed) → running (user program exec'd) → paused
 *   (cgroup frozen) ⇄ running → stopped (exit status recorded, `128+signal` if signalled);
 * - `monitor`: its dealings with the process's nsinit monitor, one at a time: attaching
 *   (connect and check it is the expected monitor), gating (exec the user program) and
 *   signalling each invoke their effect, provided by key by the actor layer
 *   (src/actors/process-actor.ts) and swapped by tests, and go back to idle on `onDone` or
 *   `onError`, with the answer as the outcome in the context.
 * The monitor answers for the process's state, so its requests are taken whatever the process's
 * life is.
 */

export type ProcessRole = 'init' | 'exec';

export interface ProcessInput {
  role: ProcessRole;
  pid?: number;
}


export interface ProcessContext {
  pid: number | null;
  exitStatus: number | null;
  role: ProcessRole;
  /** Requests to the monitor taken so far; `outcome` is the last one's. */
  seq: number;
  outcome: Outcome | null;
}

export type ProcessEvent =
  | { type: 'process.start'; pid?: number }
  | { type: 'process.pause' }
  | { type: 'process.resume' }
  | { type: 'process.exited'; exitStatus: number }
  | { type: 'monitor.attach'; socket: string; expectedPid: number | null }
  | { type: 'monitor.gate' }
  | { type: 'monitor.signal'; signal: number };

/** A request to the monitor, as its effect is given it. */
export type MonitorRequest = Extract<ProcessEvent, { type: `monitor.${string}` }>;
const nothing = fromPromise<unknown, MonitorRequest>(async () => undefined);

export type ProcessStatus = 'created' | 'running' | 'paused' | 'stopped';


/** One monitor request's in-between state: invoke its effect, then idle again with the answer. */
const request = (src: 'attachMonitor' | 'openGate' | 'signalProcess') => ({
  invoke: {
    id: src, src, input: ({ event }: { event: ProcessEvent }) => event as MonitorRequest,
    onDone: { target: 'idle', actions: 'done' as const },
    onError: { target: 'idle', actions: 'fail' as const },
  },
});

export const processMachine = setup({
  types: {
    input: {} as ProcessInput,
    context: {} as ProcessContext,
    events: {} as ProcessEvent,
  },
  actors: {
    attachMonitor: nothing,
    openGate: nothing,
    signalProcess: nothing,
  },
  actions: {
    recordPid: assign({
      pid: ({ context, event }) => {
        assertEvent(event, 'process.start');
        return event.pid ?? context.pid;
      },
    }),
    recordExit: assign({
      exitStatus: ({ event }) => {
        assertEvent(event, 'process.exited');
        return event.exitStatus;
      },
    }),
    begin: assign(({ context }) => ({ seq: context.seq + 1, outcome: null })),
    done: assign(({ context, event }) => ({ outcome: succeeded(context.seq, event) })),
    fail: assign(({ context, event }) => ({ outcome: failed(context.seq, event) })),
  },
}).createMachine({
  id: 'process',
  type: 'parallel',
  context: ({ input }) => ({ pid: input.pid ?? null, exitStatus: null, role: input.role, seq: 0, outcome: null }),
  states: {
    life: {
      initial: 'created',
      states: {
        created: {
          on: {
            'process.start': { target: 'running', actions: 'recordPid' },
            'process.exited': { target: 'stopped', actions: 'recordExit' },
          },
        },
        running: {
          on: {
            'process.pause': { target: 'paused' },
            'process.exited': { target: 'stopped', actions: 'recordExit' },
          },
        },
        paused: {
          on: {
            'process.resume': { target: 'running' },
            'process.exited': { target: 'stopped', actions: 'recordExit' },
          },
        },
        stopped: {},
      },
    },
    monitor: {
      initial: 'idle',
      states: {
        idle: {
          on: {
            'monitor.attach': { target: 'attaching', actions: 'begin' },
            'monitor.gate': { target: 'gating', actions: 'begin' },
            'monitor.signal': { target: 'signalling', actions: 'begin' },
          },
        },
        attaching: request('attachMonitor'),
        gating: request('openGate'),
        signalling: request('signalProcess'),
      },
    },
  },
});

export type ProcessMachine = typeof processMachine;
export type ProcessSnapshot = SnapshotFrom<typeof processMachine>;

export function processStatus(snapshot: ProcessSnapshot): ProcessStatus {
  return (snapshot.value as { life: ProcessStatus }).life;
}

/** Whether no request to the monitor is in flight. */
export function monitorIdle(snapshot: ProcessSnapshot): boolean {
  return (snapshot.value as { monitor: string }).monitor === 'idle';
}
