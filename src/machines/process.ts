import { assertEvent, assign, setup, type SnapshotFrom } from 'xstate';

/**
 * A container's init or an exec'd process (LIFECYCLE.md, "Process"): created (monitor
 * spawned, gate closed) → running (user program exec'd) → paused (cgroup frozen) ⇄
 * running → stopped (exit status recorded, `128+signal` if signalled).
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
  | { type: 'process.exited'; exitStatus: number };

export type ProcessStatus = 'created' | 'running' | 'paused' | 'stopped';

export const processMachine = setup({
  types: {
    input: {} as ProcessInput,
    context: {} as ProcessContext,
    events: {} as ProcessEvent,
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
