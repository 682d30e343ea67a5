import { assertEvent, assign, setup, type SnapshotFrom } from 'xstate';

/**
 * A container's gofer (LIFECYCLE.md, "Gofer"): created (bundle validated, mounts
 * resolved) → running (rootfs prepared, serving) → paused (queues writes) ⇄ running →
 * stopped (mounts undone). A failure stops it and keeps the error for the caller.
 */

export interface GoferInput {
  id: string;
}

export interface GoferContext {
  /** The container this gofer serves. */
  id: string;
  /** Why the gofer failed, if it did. */
  error: string | null;
}

export type GoferEvent =
  | { type: 'gofer.serve' }
  | { type: 'gofer.pause' }
  | { type: 'gofer.resume' }
  | { type: 'gofer.stop' }
  | { type: 'gofer.failed'; error: string };

export type GoferStatus = 'created' | 'running' | 'paused' | 'stopped';

export const goferMachine = setup({
  types: {
    input: {} as GoferInput,
    context: {} as GoferContext,
    events: {} as GoferEvent,
  },
  actions: {
    recordError: assign({
      error: ({ event }) => {
        assertEvent(event, 'gofer.failed');
        return event.error;
      },
    }),
  },
}).createMachine({
  id: 'gofer',
  initial: 'created',
  context: ({ input }) => ({ id: input.id, error: null }),
  states: {
    created: {
      on: {
        'gofer.serve': { target: 'running' },
        'gofer.stop': { target: 'stopped' },
        // A failure during create fails the create.
        'gofer.failed': { target: 'stopped', actions: 'recordError' },
      },
    },
    running: {
      on: {
        'gofer.pause': { target: 'paused' },
        'gofer.stop': { target: 'stopped' },
        'gofer.failed': { target: 'stopped', actions: 'recordError' },
      },
    },
    paused: {
      on: {
        'gofer.resume': { target: 'running' },
        'gofer.stop': { target: 'stopped' },
        'gofer.failed': { target: 'stopped', actions: 'recordError' },
      },
    },
    stopped: {},
  },
});

export type GoferMachine = typeof goferMachine;
export type GoferSnapshot = SnapshotFrom<typeof goferMachine>;

export function goferStatus(snapshot: GoferSnapshot): GoferStatus {
  return snapshot.value;
}
