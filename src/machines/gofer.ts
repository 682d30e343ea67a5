import { assertEvent, assign, emit, fromPromise, setup, type SnapshotFrom } from 'xstate';
import type { FileOp } from './container-types.js';

/**
 * A container's gofer (docs/LIFECYCLE.md, "Gofer"): created (bundle validated, mounts
 * resolved) → running (rootfs prepared, serving) → paused (queues writes) ⇄ running →
 * stopped (mounts undone). A failure stops it and keeps the error for the caller.
 *
 * The machine is pure: its work is three invoked actors, provided by the actor layer
 * (src/actors/gofer-actor.ts) and swapped by tests: `validateBundle` (while validating),
 * `preparePlan` (while preparing: every path resolved inside the rootfs, the plan written)
 * and `undoFiles` (while undoing: everything the container had on disk removed).
 *
 * A file operation (`gofer.file`) is an event it answers at once, by emitting how it is served
 * (`gofer.fileServe`: now, or held until the container is thawed, a write while paused); it is
 * refused while the gofer validates, prepares, undoes or has stopped. `gofer.serve` while paused
 * (the container stopped while frozen: its root is gone) serves again, and the held writes fail.
 */

export interface GoferInput {
  id: string;
  /** a re-adopted container's gofer: its bundle was validated long ago */
  validated?: boolean;
}

export interface GoferContext {
  /** The container this gofer serves. */
  id: string;
  /** Why the gofer failed, if it did. */
  error: string | null;
  /** The bundle has been validated (prepare needs it). */
  validated: boolean;
}

export type GoferEvent =
  | { type: 'gofer.validate'; bundle: string }
  | { type: 'gofer.prepare'; input: unknown }
  | { type: 'gofer.serve' }
  | { type: 'gofer.pause' }
  | { type: 'gofer.resume' }
  | { type: 'gofer.undo' }
  | { type: 'gofer.stop' }
  | { type: 'gofer.failed'; error: string }
  | { type: 'gofer.file'; op: FileOp };

/** How a file operation is served: now, or held until the container is thawed. */
export type GoferEmitted = { type: 'gofer.fileServe'; held: boolean };

export type GoferStatus = 'created' | 'running' | 'paused' | 'stopped';

const nothing = fromPromise<unknown, unknown>(async () => undefined);
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

export const goferMachine = setup({
  types: {
    input: {} as GoferInput,
    context: {} as GoferContext,
    events: {} as GoferEvent,
    emitted: {} as GoferEmitted,
  },
  actors: {
    validateBundle: nothing,
    preparePlan: nothing,
    undoFiles: nothing,
  },
  guards: {
    validated: ({ context }) => context.validated,
    isWrite: ({ event }) => event.type === 'gofer.file' && event.op === 'write',
  },
  actions: {
    recordError: assign({
      error: ({ event }) => {
        assertEvent(event, 'gofer.failed');
        return event.error;
      },
    }),
    recordInvokeError: assign({ error: ({ event }) => message((event as { error?: unknown }).error) }),
    markValidated: assign({ validated: true }),
    serveNow: emit({ type: 'gofer.fileServe', held: false }),
    holdWrite: emit({ type: 'gofer.fileServe', held: true }),
  },
}).createMachine({
  id: 'gofer',
  initial: 'created',
  context: ({ input }) => ({ id: input.id, error: null, validated: input.validated ?? false }),
  on: {
    // Whatever it was doing, the container's filesystem side can be undone (delete, a failed create).
    'gofer.undo': { target: '.undoing' },
  },
  states: {
    created: {
      on: {
        'gofer.validate': { target: 'validating' },
        'gofer.prepare': { guard: 'validated', target: 'preparing' },
        'gofer.serve': { target: 'running' },
        'gofer.stop': { target: 'stopped' },
        // A failure during create fails the create.
        'gofer.failed': { target: 'stopped', actions: 'recordError' },
        // The bundle's rootfs, before the container has a root of its own.
        'gofer.file': { actions: 'serveNow' },
      },
    },
    validating: {
      invoke: {
        src: 'validateBundle',
        input: ({ event }: { event: GoferEvent }) => (event as { bundle?: string }).bundle,
        onDone: { target: 'created', actions: 'markValidated' },
        onError: { target: 'stopped', actions: 'recordInvokeError' },
      },
    },
    preparing: {
      invoke: {
        src: 'preparePlan',
        input: ({ event }: { event: GoferEvent }) => (event as { input?: unknown }).input,
        onDone: { target: 'created' },
        onError: { target: 'stopped', actions: 'recordInvokeError' },
      },
    },
    running: {
      on: {
        'gofer.pause': { target: 'paused' },
        'gofer.stop': { target: 'stopped' },
        'gofer.failed': { target: 'stopped', actions: 'recordError' },
        'gofer.file': { actions: 'serveNow' },
      },
    },
    paused: {
      on: {
        'gofer.resume': { target: 'running' },
        // The container stopped while frozen: the root its held writes were for is gone.
        'gofer.serve': { target: 'running' },
        'gofer.stop': { target: 'stopped' },
        'gofer.failed': { target: 'stopped', actions: 'recordError' },
        // Reads are served; writes wait for the container to be thawed.
        'gofer.file': [{ guard: 'isWrite', actions: 'holdWrite' }, { actions: 'serveNow' }],
      },
    },
    undoing: {
      invoke: {
        src: 'undoFiles',
        onDone: { target: 'stopped' },
        onError: { target: 'stopped', actions: 'recordInvokeError' },
      },
    },
    stopped: {},
  },
});

export type GoferMachine = typeof goferMachine;
export type GoferSnapshot = SnapshotFrom<typeof goferMachine>;

export function goferStatus(snapshot: GoferSnapshot): GoferStatus {
  switch (snapshot.value) {
    case 'validating': case 'preparing': return 'created';
    case 'undoing': return 'stopped';
    default: return snapshot.value;
  }
}

/** Whether the gofer is doing its work (validating, preparing or undoing). */
export function goferBusy(snapshot: GoferSnapshot): boolean {
  return snapshot.value === 'validating' || snapshot.value === 'preparing' || snapshot.value === 'undoing';
}
