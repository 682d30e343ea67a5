import { assertEvent, assign, fromPromise, setup, spawnChild, type SnapshotFrom } from 'xstate';

/**
 * A container's init or an exec'd process (docs/LIFECYCLE.md, "Process"): created (monitor
 * spawned, gate closed) → running (user program exec'd) → paused (cgroup frozen) ⇄
 * running → stopped (exit status recorded, `128+signal` if signalled).
 *
 * Its dealings with the process's nsinit monitor are actors it spawns by key, provided by
 * the actor layer (src/actors/process-actor.ts) and swapped by tests: `attachMonitor`
 * (connect and check it is the expected monitor), `openGate` (exec the user program) and
 * `signalProcess`. Each request carries a ticket, by which its answer goes back.
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
}

export type ProcessEvent =
  | { type: 'process.start'; pid?: number }
  | { type: 'process.pause' }
  | { type: 'process.resume' }
  | { type: 'process.exited'; exitStatus: number }
  | { type: 'monitor.attach'; ticket: number; socket: string; expectedPid: number | null }
  | { type: 'monitor.gate'; ticket: number }
  | { type: 'monitor.signal'; ticket: number; signal: number };

/** What a monitor effect is given: the request, ticket included. */
export type MonitorRequest = Extract<ProcessEvent, { type: `monitor.${string}` }>;
const nothing = fromPromise<unknown, MonitorRequest>(async () => undefined);

export type ProcessStatus = 'created' | 'running' | 'paused' | 'stopped';

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
  },
}).createMachine({
  id: 'process',
  initial: 'created',
  context: ({ input }) => ({ pid: input.pid ?? null, exitStatus: null, role: input.role }),
  on: {
    // Requests to the monitor run beside the lifecycle: the monitor answers for the process's state.
    'monitor.attach': { actions: spawnChild('attachMonitor', { input: ({ event }) => event as MonitorRequest }) },
    'monitor.gate': { actions: spawnChild('openGate', { input: ({ event }) => event as MonitorRequest }) },
    'monitor.signal': { actions: spawnChild('signalProcess', { input: ({ event }) => event as MonitorRequest }) },
  },
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
});

export type ProcessMachine = typeof processMachine;
export type ProcessSnapshot = SnapshotFrom<typeof processMachine>;

export function processStatus(snapshot: ProcessSnapshot): ProcessStatus {
  return snapshot.value;
}
