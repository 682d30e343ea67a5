import { assertEvent, assign, emit, fromPromise, setup, type SnapshotFrom } from 'xstate';
import type { ContainerStatus, FileOp } from './container-types.js';

/**
 * A container's gofer (docs/LIFECYCLE.md, "Gofer"): created (bundle validated, mounts
 * resolved) → running (rootfs prepared, serving) → paused (queues writes) ⇄ running →
 * stopped (mounts undone). A failure stops it and keeps the error for the caller.
 *
 * It follows its container by being told the container's OCI status (`gofer.follow`), and
 * takes what it allows from where it is: it serves once its container is created, running
 * (`run` may start the program at once: creating → running), or stopped (the bundle's rootfs
 * then); it holds writes while its container is paused; it stops serving once the container is
 * deleted. What goes backwards, or says where it already is, is not taken. Leaving paused, it
 * says what becomes of the writes it held (`gofer.held`): written once the container runs again,
 * failed otherwise (stopped while frozen, deleted, the gofer stopped or undone).
 *
 * The machine is pure: its work is three invoked actors, provided by the actor layer
 * (src/actors/gofer-actor.ts) and swapped by tests: `validateBundle` (while validating),
 * `preparePlan` (while preparing: every path resolved inside the rootfs, the plan written)
 * and `undoFiles` (while undoing: everything the container had on disk removed).
 *
 * A file operation (`gofer.file`) is an event it answers at once, by emitting how it is served
 * (`gofer.fileServe`: now, or held until the container is thawed, a write while paused); it is
 * refused while the gofer validates, prepares, undoes or has stopped.
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
  /** its container's OCI status, after each change */
  | { type: 'gofer.follow'; status: ContainerStatus }
  | { type: 'gofer.undo' }
  | { type: 'gofer.stop' }
  | { type: 'gofer.failed'; error: string }
  | { type: 'gofer.file'; op: FileOp };

/**
 * How a file operation is served (now, or held until the container is thawed), and what becomes
 * of the writes held while paused once it leaves paused (written, or failed: their root is gone).
 */
export type GoferEmitted = { type: 'gofer.fileServe'; held: boolean } | { type: 'gofer.held'; write: boolean };

export type GoferStatus = 'created' | 'running' | 'paused' | 'stopped';

const nothing = fromPromise<unknown, unknown>(async () => undefined);
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
/** A guard: the container's status the gofer is told is this one. */
const told = (status: ContainerStatus) => ({ event }: { event: GoferEvent }) => event.type === 'gofer.follow' && event.status === status;

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
    containerCreated: told('created'),
    containerRunning: told('running'),
    containerPaused: told('paused'),
    containerStopped: told('stopped'),
    containerDeleted: told('deleted'),
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
    writeHeld: emit({ type: 'gofer.held', write: true }),
    failHeld: emit({ type: 'gofer.held', write: false }),
  },
}).createMachine({
  id: 'gofer',
  initial: 'created',
  context: ({ input }) => ({ id: input.id, error: null, validated: input.validated ?? false }),
  on: {
    // Whatever it was doing, the container's filesystem side can be undone (delete, a failed
    // create); a write it held is for a root that goes.
    'gofer.undo': { target: '.undoing', actions: 'failHeld' },
  },
  states: {
    created: {
      on: {
        'gofer.validate': { target: 'validating' },
        'gofer.prepare': { guard: 'validated', target: 'preparing' },
        // Its container is no more creating. Running at once: `run`'s nsinit started the program
        // itself (or a re-adopted container runs). Paused: a re-adopted one. Stopped: the
        // bundle's rootfs is served. A `creating` is where it is already: not taken.
        'gofer.follow': [
          { guard: 'containerCreated', target: 'running' },
          { guard: 'containerRunning', target: 'running' },
          { guard: 'containerPaused', target: 'paused' },
          { guard: 'containerStopped', target: 'running' },
          { guard: 'containerDeleted', target: 'stopped' },
        ],
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
        // Stopped, it serves on (the bundle's rootfs); running, it is there; creating or
        // created would go backwards: not taken.
        'gofer.follow': [
          { guard: 'containerPaused', target: 'paused' },
          { guard: 'containerDeleted', target: 'stopped' },
        ],
        'gofer.stop': { target: 'stopped' },
        'gofer.failed': { target: 'stopped', actions: 'recordError' },
        'gofer.file': { actions: 'serveNow' },
      },
    },
    paused: {
      on: {
        // Thawed: the held writes are written, in order. Stopped while frozen: it serves again
        // (the bundle's rootfs), and the held writes fail: the root they were for is gone.
        // Creating or created would go backwards: not taken.
        'gofer.follow': [
          { guard: 'containerRunning', target: 'running', actions: 'writeHeld' },
          { guard: 'containerStopped', target: 'running', actions: 'failHeld' },
          { guard: 'containerDeleted', target: 'stopped', actions: 'failHeld' },
        ],
        'gofer.stop': { target: 'stopped', actions: 'failHeld' },
        'gofer.failed': { target: 'stopped', actions: ['recordError', 'failHeld'] },
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
