// The container machine's parts by name (src/machines/container.ts): its effects (defaults that
// do nothing, provided by the actor layer), delays, guards and actions.
import { assertEvent, assign, emit, fromPromise, setup } from 'xstate';
import { failed, outputOf, succeeded } from './outcome.js';
import {
  KILL_WAIT_MS, SIGKILL,
  type AttachOutput, type ContainerContext, type ContainerEmitted, type ContainerEvent, type ContainerInput, type EffectInputs, type FileRoot, type Settled,
} from './container-types.js';

const nothing = <I>() => fromPromise<unknown, I>(async () => undefined);

export const containerSetup = setup({
  types: {
    input: {} as ContainerInput,
    context: {} as ContainerContext,
    events: {} as ContainerEvent,
    emitted: {} as ContainerEmitted,
  },
  actors: {
    runHooks: nothing<EffectInputs['runHooks']>(),
    attach: fromPromise<AttachOutput, EffectInputs['attach']>(async () => ({ state: 'created' })),
    start: nothing<EffectInputs['start']>(),
    freeze: nothing<EffectInputs['freeze']>(),
    resume: nothing<EffectInputs['resume']>(),
    signal: nothing<EffectInputs['signal']>(),
    prepareExec: nothing<EffectInputs['prepareExec']>(),
    update: nothing<EffectInputs['update']>(),
    checkpoint: nothing<EffectInputs['checkpoint']>(),
    stop: fromPromise<boolean, EffectInputs['stop']>(async () => false),
    prepareDelete: nothing<EffectInputs['prepareDelete']>(),
    teardown: nothing<EffectInputs['teardown']>(),
  },
  delays: { killWait: KILL_WAIT_MS },
  guards: {
    isForced: ({ event }) => event.type === 'container.delete' && event.force === true,
    ignoresPaused: ({ event }) => event.type === 'container.exec' && event.ignorePaused === true,
    isAll: ({ event }) => event.type === 'container.kill' && event.all === true,
    /** paused: a signal but SIGKILL waits for resume (with or without --all) */
    queues: ({ event }) => event.type === 'container.kill' && event.signal !== SIGKILL && event.pid === undefined,
    exited: ({ context }) => context.exitStatus !== null,
    from: ({ context }, params: { state: Settled }) => context.settled === params.state,
    followed: ({ context }, params: { state: 'paused' | 'running' }) => context.followed === params.state,
    helloRunning: ({ event }) => (outputOf(event) as AttachOutput | undefined)?.state === 'running',
    /** the stop effect found an init to wait for */
    waits: ({ event }) => outputOf(event) === true,
  },
  actions: {
    /** An operation begins: where from, and its number. */
    begin: assign(({ context }, params: { from: Settled }) => ({ settled: params.from, seq: context.seq + 1, outcome: null })),
    /** An operation accepted and answered at once, without an effect. */
    answer: assign(({ context }, params: { value?: unknown }) => ({ seq: context.seq + 1, outcome: { seq: context.seq + 1, ok: true as const, value: params.value } })),
    /** The operation in progress answered: its effect's output. */
    done: assign(({ context, event }) => ({ outcome: succeeded(context.seq, event) })),
    /** The operation in progress answered without a value of its effect's. */
    doneWith: assign(({ context }, params: { value?: unknown }) => ({ outcome: { seq: context.seq, ok: true as const, value: params.value } })),
    fail: assign(({ context, event }) => ({ outcome: failed(context.seq, event) })),
    queueSignal: assign({
      pendingSignals: ({ context, event }) => {
        assertEvent(event, 'container.kill');
        return [...context.pendingSignals, event.signal];
      },
    }),
    clearSignals: assign({ pendingSignals: () => [] }),
    programStarted: assign({ programStarted: () => true }),
    follow: assign((_, params: { state: 'paused' | 'running' | null }) => ({ followed: params.state })),
    recordExit: assign({
      exitStatus: ({ event }) => {
        assertEvent(event, 'process.exited');
        return event.exitStatus;
      },
      // Signals still queued can no longer be delivered once init is gone.
      pendingSignals: () => [],
    }),
    /** A file operation's answer, where it is served: it touches neither the context nor the operation in flight. */
    liveRoot: emit({ type: 'container.fileRoot', root: 'live' satisfies FileRoot }),
    bundleRoot: emit({ type: 'container.fileRoot', root: 'bundle' satisfies FileRoot }),
  },
});

/** A file operation served inside the live container's root. */
export const liveFiles = { actions: 'liveRoot' } as const;
/** A file operation served in the bundle's rootfs. */
export const bundleFiles = { actions: 'bundleRoot' } as const;
/** In an in-between state: inside the live root, unless the init has exited meanwhile. */
export const filesBetween = [{ guard: 'exited', ...bundleFiles }, liveFiles] as const;
