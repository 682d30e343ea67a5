import { assign, setup, type SnapshotFrom } from 'xstate';

/**
 * A sandbox (pod): the root container plus the subcontainers that join it
 * (LIFECYCLE.md, "Sandbox"). It follows its root container; `containers` counts the
 * root and every subcontainer not yet deleted, and the sandbox is `removed` when the
 * last one is deleted after it stopped.
 */

export interface SandboxInput {
  id: string;
}

export interface SandboxContext {
  id: string;
  /** Containers in the sandbox, root included: 1 when the root container is created. */
  containers: number;
}

export type SandboxEvent =
  | { type: 'sandbox.start' }
  | { type: 'sandbox.pause' }
  | { type: 'sandbox.resume' }
  | { type: 'sandbox.stop' }
  | { type: 'sandbox.container.added' }
  | { type: 'sandbox.container.removed' };

export type SandboxStatus = 'created' | 'running' | 'paused' | 'stopped' | 'removed';

export const sandboxMachine = setup({
  types: {
    input: {} as SandboxInput,
    context: {} as SandboxContext,
    events: {} as SandboxEvent,
  },
  guards: {
    hasSubcontainers: ({ context }) => context.containers > 1,
    isLastContainer: ({ context }) => context.containers === 1,
  },
  actions: {
    countAdded: assign({ containers: ({ context }) => context.containers + 1 }),
    countRemoved: assign({ containers: ({ context }) => context.containers - 1 }),
  },
}).createMachine({
  id: 'sandbox',
  initial: 'created',
  context: ({ input }) => ({ id: input.id, containers: 1 }),
  states: {
    created: {
      on: {
        'sandbox.start': { target: 'running' },
        'sandbox.stop': { target: 'stopped' },
      },
    },
    running: {
      on: {
        'sandbox.pause': { target: 'paused' },
        'sandbox.stop': { target: 'stopped' },
        // Subcontainers join only a running sandbox: the event is handled in this state alone.
        'sandbox.container.added': { target: 'running', actions: 'countAdded' },
        // Only a subcontainer can leave a live sandbox; the root stops it first.
        'sandbox.container.removed': { guard: 'hasSubcontainers', target: 'running', actions: 'countRemoved' },
      },
    },
    paused: {
      on: {
        'sandbox.resume': { target: 'running' },
        'sandbox.stop': { target: 'stopped' },
        'sandbox.container.removed': { guard: 'hasSubcontainers', target: 'paused', actions: 'countRemoved' },
      },
    },
    stopped: {
      on: {
        'sandbox.container.removed': [
          { guard: 'isLastContainer', target: 'removed', actions: 'countRemoved' },
          { target: 'stopped', actions: 'countRemoved' },
        ],
      },
    },
    removed: { type: 'final' },
  },
});

export type SandboxMachine = typeof sandboxMachine;
export type SandboxSnapshot = SnapshotFrom<typeof sandboxMachine>;

export function sandboxStatus(snapshot: SandboxSnapshot): SandboxStatus {
  return snapshot.value;
}
