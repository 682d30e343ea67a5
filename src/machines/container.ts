import { assertEvent, assign, fromPromise, setup, type SnapshotFrom } from 'xstate';
import { failed, outputOf, succeeded, type Outcome } from './outcome.js';

/**
 * The OCI container lifecycle (docs/LIFECYCLE.md, "Container"). The machine drives it: an
 * operation is an event, accepted only where the lifecycle allows it (a refusal is the
 * machine's own answer, `refusal()`); an accepted operation enters an in-between state
 * (starting, pausing, resuming, killing, …) that invokes its effect, an actor provided by key
 * (`ContainerEffectKey`), and settles on the effect's `onDone` or `onError`. Every accepted
 * operation ends with an outcome in the context (`outcome`, numbered by `seq`): what the actor
 * layer answers its caller. Facts (the init started, the init exited) are events too: in a
 * settled state the exit stops the container at once; an in-between state records it and
 * settles once its effect has answered, so that every operation gets its outcome.
 *
 * Pure: the effects' defaults do nothing; the actor layer provides runa's (one provision per
 * daemon, src/actors/container-actor.ts), and tests swap them.
 */

export const SIGKILL = 9;
/** How long stop and delete wait for a SIGKILLed init to be reported gone. */
export const KILL_WAIT_MS = 10_000;

export interface ContainerInput {
  id: string;
}

/** The settled states: what `state` reports and what is persisted. */
export type ContainerStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped' | 'deleted';
export type Settled = Exclude<ContainerStatus, 'deleted'>;

export type { Outcome } from './outcome.js';

export interface ContainerContext {
  id: string;
  /** Exit status of init (`128+signal` if signalled), once it has exited. */
  exitStatus: number | null;
  /** Signals sent while paused, delivered on resume (never SIGKILL). */
  pendingSignals: number[];
  /** Where the container was when the operation in progress began (an in-between state reports it). */
  settled: Settled;
  /** The user program runs, or ran (the monitor saw its execve): resume of a container paused before start starts it. */
  programStarted: boolean;
  /**
   * Where the sandbox's last order left this member. A caller that pauses a pod's containers one
   * by one after the pod (podman's `pod pause`) finds it paused already: that pause succeeds.
   */
  followed: 'paused' | 'running' | null;
  /** Operations accepted so far; `outcome` is the last one's. */
  seq: number;
  outcome: Outcome | null;
}

export type HookKind = 'prestart' | 'createRuntime' | 'createContainer';

export type ContainerEvent =
  /** create-time hooks at nsinit's hook points, while creating */
  | { type: 'container.hooks'; kind: HookKind; childPid: number }
  /** nsinit is up: attach to its monitor (null: whatever monitor is there, a create whose CLI vanished) */
  | { type: 'container.created'; monitorPid?: number | null; initPid?: number }
  | { type: 'container.start' }
  | { type: 'container.kill'; signal: number; all?: boolean; pid?: number }
  | { type: 'container.pause' }
  | { type: 'container.resume' }
  /** ignorePaused: runc's `exec --ignore-paused` (the process waits in the frozen cgroup) */
  | { type: 'container.exec'; ignorePaused?: boolean; request?: unknown }
  | { type: 'container.update'; resources?: unknown }
  | { type: 'container.checkpoint'; options?: unknown }
  | { type: 'container.delete'; force?: boolean }
  /** reads: accepted where the container has processes (never sent: `can()` answers them) */
  | { type: 'container.stats' }
  /** the sandbox's orders to its members (a no-op, answered false, where they do not apply) */
  | { type: 'sandbox.pause' }
  | { type: 'sandbox.resume' }
  | { type: 'sandbox.stop' }
  /** facts from the init's monitor */
  | { type: 'process.started' }
  | { type: 'process.exited'; exitStatus: number };

/** Effect inputs, by key. */
export interface EffectInputs {
  runHooks: { kind: HookKind; childPid: number };
  attach: { monitorPid: number | null; initPid: number | null };
  start: Record<string, never>;
  freeze: { from: Settled };
  resume: { queued: number[]; programStarted: boolean };
  signal: { signal: number; all: boolean; pid: number | null; from: Settled };
  prepareExec: { ignorePaused: boolean; request: unknown };
  update: { resources: unknown };
  checkpoint: { options: unknown };
  /** SIGKILL the init (thawed if frozen); answers whether there was one to wait for */
  stop: { from: Settled };
  /** checks nothing forbids the delete, and writes the intent */
  prepareDelete: { from: Settled; force: boolean };
  teardown: { from: Settled };
}
export type ContainerEffectKey = keyof EffectInputs;
export const CONTAINER_EFFECT_KEYS: ContainerEffectKey[] = [
  'runHooks', 'attach', 'start', 'freeze', 'resume', 'signal', 'prepareExec', 'update', 'checkpoint', 'stop', 'prepareDelete', 'teardown',
];

/** What the attach effect answers: the monitor's word. */
export interface AttachOutput { state: 'created' | 'running' }

const nothing = <I>() => fromPromise<unknown, I>(async () => undefined);


export const containerMachine = setup({
  types: {
    input: {} as ContainerInput,
    context: {} as ContainerContext,
    events: {} as ContainerEvent,
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
  },
}).createMachine({
  id: 'container',
  initial: 'creating',
  context: ({ input }) => ({
    id: input.id, exitStatus: null, pendingSignals: [], settled: 'creating', programStarted: false, followed: null, seq: 0, outcome: null,
  }),
  states: {
    creating: {
      initial: 'idle',
      states: {
        idle: {
          on: {
            'container.hooks': { target: 'hooks', actions: { type: 'begin', params: { from: 'creating' } } },
            'container.created': { target: 'attaching', actions: { type: 'begin', params: { from: 'creating' } } },
            'container.delete': { guard: 'isForced', target: '#container.deleting', actions: { type: 'begin', params: { from: 'creating' } } },
            'process.exited': { target: '#container.stopped', actions: 'recordExit' },
          },
        },
        hooks: {
          invoke: {
            id: 'runHooks', src: 'runHooks',
            input: ({ event }) => { assertEvent(event, 'container.hooks'); return { kind: event.kind, childPid: event.childPid }; },
            onDone: { target: 'idle', actions: 'done' },
            onError: { target: 'idle', actions: 'fail' },
          },
          on: { 'process.exited': { actions: 'recordExit' } },
        },
        attaching: {
          invoke: {
            id: 'attach', src: 'attach',
            input: ({ event }) => { assertEvent(event, 'container.created'); return { monitorPid: event.monitorPid ?? null, initPid: event.initPid ?? null }; },
            onDone: [
              { guard: 'exited', target: '#container.stopped', actions: 'done' },
              { guard: 'helloRunning', target: '#container.running', actions: ['programStarted', 'done'] },
              { target: '#container.created', actions: 'done' },
            ],
            onError: [
              { guard: 'exited', target: '#container.stopped', actions: 'fail' },
              { target: 'idle', actions: 'fail' },
            ],
          },
          on: { 'process.exited': { actions: 'recordExit' } },
        },
      },
    },
    created: {
      on: {
        'container.start': { target: 'starting', actions: { type: 'begin', params: { from: 'created' } } },
        'container.kill': { target: 'killing', actions: { type: 'begin', params: { from: 'created' } } },
        'container.pause': { target: 'pausing', actions: [{ type: 'begin', params: { from: 'created' } }, { type: 'follow', params: { state: null } }] },
        // runc runs an exec'd process in a created container: it joins the namespaces while the init waits.
        'container.exec': { target: 'execing', actions: { type: 'begin', params: { from: 'created' } } },
        'container.update': { target: 'updating', actions: { type: 'begin', params: { from: 'created' } } },
        // runc deletes a created container (killing its waiting init); the OCI spec would refuse.
        'container.delete': { target: 'deleting', actions: { type: 'begin', params: { from: 'created' } } },
        // Self-transitions name their target: a targetless, action-less transition makes can() false.
        'container.stats': { target: 'created' },
        'sandbox.pause': { target: 'created', actions: { type: 'answer', params: { value: false } } },
        'sandbox.resume': { target: 'created', actions: { type: 'answer', params: { value: false } } },
        'sandbox.stop': { target: 'stopping', actions: { type: 'begin', params: { from: 'created' } } },
        // The program started without this daemon's start (one that died between the gate and its record).
        'process.started': { target: 'running', actions: 'programStarted' },
        'process.exited': { target: 'stopped', actions: 'recordExit' },
      },
    },
    starting: {
      invoke: {
        id: 'start', src: 'start', input: () => ({}),
        onDone: [
          { guard: 'exited', target: 'stopped', actions: ['programStarted', 'done'] },
          { target: 'running', actions: ['programStarted', 'done'] },
        ],
        onError: [
          { guard: 'exited', target: 'stopped', actions: 'fail' },
          { target: 'created', actions: 'fail' },
        ],
      },
      on: {
        'process.started': { actions: 'programStarted' },
        'process.exited': { actions: 'recordExit' },
      },
    },
    running: {
      on: {
        'container.kill': { target: 'killing', actions: { type: 'begin', params: { from: 'running' } } },
        'container.pause': { target: 'pausing', actions: [{ type: 'begin', params: { from: 'running' } }, { type: 'follow', params: { state: null } }] },
        // The sandbox resumed it already: this resume is that one.
        'container.resume': { guard: { type: 'followed', params: { state: 'running' } }, target: 'running', actions: [{ type: 'follow', params: { state: null } }, { type: 'answer', params: {} }] },
        'container.exec': { target: 'execing', actions: { type: 'begin', params: { from: 'running' } } },
        'container.update': { target: 'updating', actions: { type: 'begin', params: { from: 'running' } } },
        'container.checkpoint': { target: 'checkpointing', actions: { type: 'begin', params: { from: 'running' } } },
        'container.delete': { guard: 'isForced', target: 'deleting', actions: { type: 'begin', params: { from: 'running' } } },
        'container.stats': { target: 'running' },
        'sandbox.pause': { target: 'pausing', actions: [{ type: 'begin', params: { from: 'running' } }, { type: 'follow', params: { state: 'paused' } }] },
        'sandbox.resume': { target: 'running', actions: { type: 'answer', params: { value: false } } },
        'sandbox.stop': { target: 'stopping', actions: { type: 'begin', params: { from: 'running' } } },
        'process.started': { target: 'running', actions: 'programStarted' },
        'process.exited': { target: 'stopped', actions: 'recordExit' },
      },
    },
    pausing: {
      invoke: {
        id: 'freeze', src: 'freeze', input: ({ context }) => ({ from: context.settled }),
        onDone: [
          { guard: 'exited', target: 'stopped', actions: 'done' },
          { target: 'paused', actions: { type: 'doneWith', params: { value: true } } },
        ],
        onError: [
          { guard: 'exited', target: 'stopped', actions: 'fail' },
          { guard: { type: 'from', params: { state: 'created' } }, target: 'created', actions: ['fail', { type: 'follow', params: { state: null } }] },
          { target: 'running', actions: ['fail', { type: 'follow', params: { state: null } }] },
        ],
      },
      on: { 'process.exited': { actions: 'recordExit' }, 'process.started': { actions: 'programStarted' } },
    },
    paused: {
      on: {
        // Queued until resume; SIGKILL (and kill --pid) go through at once.
        'container.kill': [
          { guard: 'queues', target: 'paused', actions: ['queueSignal', { type: 'answer', params: {} }] },
          { target: 'killing', actions: { type: 'begin', params: { from: 'paused' } } },
        ],
        // The sandbox paused it already: this pause is that one.
        'container.pause': { guard: { type: 'followed', params: { state: 'paused' } }, target: 'paused', actions: [{ type: 'follow', params: { state: null } }, { type: 'answer', params: {} }] },
        'container.resume': { target: 'resuming', actions: [{ type: 'begin', params: { from: 'paused' } }, { type: 'follow', params: { state: null } }] },
        'container.exec': { guard: 'ignoresPaused', target: 'execing', actions: { type: 'begin', params: { from: 'paused' } } },
        'container.update': { target: 'updating', actions: { type: 'begin', params: { from: 'paused' } } },
        'container.checkpoint': { target: 'checkpointing', actions: { type: 'begin', params: { from: 'paused' } } },
        'container.delete': { guard: 'isForced', target: 'deleting', actions: { type: 'begin', params: { from: 'paused' } } },
        'container.stats': { target: 'paused' },
        'sandbox.pause': { target: 'paused', actions: { type: 'answer', params: { value: false } } },
        'sandbox.resume': { target: 'resuming', actions: [{ type: 'begin', params: { from: 'paused' } }, { type: 'follow', params: { state: 'running' } }] },
        'sandbox.stop': { target: 'stopping', actions: { type: 'begin', params: { from: 'paused' } } },
        'process.started': { target: 'paused', actions: 'programStarted' },
        'process.exited': { target: 'stopped', actions: 'recordExit' },
      },
    },
    resuming: {
      invoke: {
        id: 'resume', src: 'resume', input: ({ context }) => ({ queued: context.pendingSignals, programStarted: context.programStarted }),
        onDone: [
          { guard: 'exited', target: 'stopped', actions: 'done' },
          { target: 'running', actions: ['clearSignals', 'programStarted', { type: 'doneWith', params: { value: true } }] },
        ],
        onError: [
          { guard: 'exited', target: 'stopped', actions: 'fail' },
          { target: 'paused', actions: ['fail', { type: 'follow', params: { state: null } }] },
        ],
      },
      on: { 'process.exited': { actions: 'recordExit' }, 'process.started': { actions: 'programStarted' } },
    },
    stopped: {
      on: {
        // --all on a stopped container: nothing left to signal.
        'container.kill': { guard: 'isAll', target: 'stopped', actions: { type: 'answer', params: {} } },
        'container.delete': { target: 'deleting', actions: { type: 'begin', params: { from: 'stopped' } } },
        'sandbox.pause': { target: 'stopped', actions: { type: 'answer', params: { value: false } } },
        'sandbox.resume': { target: 'stopped', actions: { type: 'answer', params: { value: false } } },
        'sandbox.stop': { target: 'stopped', actions: { type: 'answer', params: {} } },
      },
    },
    // Operations that leave the lifecycle where it was: back to where they began, or stopped if the init exited meanwhile.
    killing: settling('signal', ({ event, context }) => {
      assertEvent(event, 'container.kill');
      return { signal: event.signal, all: event.all ?? false, pid: event.pid ?? null, from: context.settled };
    }),
    execing: settling('prepareExec', ({ event }) => {
      assertEvent(event, 'container.exec');
      return { ignorePaused: event.ignorePaused ?? false, request: event.request };
    }),
    updating: settling('update', ({ event }) => { assertEvent(event, 'container.update'); return { resources: event.resources }; }),
    checkpointing: settling('checkpoint', ({ event }) => { assertEvent(event, 'container.checkpoint'); return { options: event.options }; }),
    /** The sandbox stops its members: SIGKILL, and wait for the exit (a while at most). */
    stopping: {
      invoke: {
        id: 'stop', src: 'stop', input: ({ context }) => ({ from: context.settled }),
        onDone: [{ guard: 'waits' }, ...back({ type: 'doneWith', params: {} })],
        onError: back({ type: 'doneWith', params: {} }),
      },
      after: { killWait: back({ type: 'doneWith', params: {} }) },
      on: {
        'process.exited': { target: 'stopped', actions: ['recordExit', { type: 'doneWith', params: {} }] },
        'process.started': { actions: 'programStarted' },
      },
    },
    deleting: {
      initial: 'checking',
      states: {
        /** nothing forbids it (a member of a paused sandbox cannot die), and the intent is on disk */
        checking: {
          invoke: {
            id: 'prepareDelete', src: 'prepareDelete',
            input: ({ context, event }) => ({ from: context.settled, force: event.type === 'container.delete' && event.force === true }),
            onDone: 'killingInit',
            onError: back('fail', '#container.'),
          },
        },
        killingInit: {
          invoke: {
            id: 'stop', src: 'stop', input: ({ context }) => ({ from: context.settled }),
            onDone: [{ guard: 'waits' }, { target: 'tearingDown' }],
            onError: 'tearingDown',
          },
          after: { killWait: 'tearingDown' },
          on: { 'process.exited': { target: 'tearingDown', actions: 'recordExit' } },
        },
        tearingDown: {
          invoke: {
            id: 'teardown', src: 'teardown', input: ({ context }) => ({ from: context.settled }),
            onDone: { target: '#container.deleted', actions: 'done' },
            onError: { target: '#container.deleted', actions: 'fail' },
          },
        },
      },
      on: { 'process.exited': { actions: 'recordExit' }, 'process.started': { actions: 'programStarted' } },
    },
    deleted: { type: 'final' },
  },
});

/** Transitions back to where the operation began (`prefix` '#container.' from a nested state), or to stopped if the init exited meanwhile. */
function back(action: 'done' | 'fail' | { type: 'doneWith'; params: { value?: unknown } }, prefix = '') {
  return [
    { guard: 'exited' as const, target: `${prefix}stopped`, actions: action },
    ...(['creating', 'created', 'paused', 'stopped', 'running'] as const).map((state) => ({
      guard: { type: 'from' as const, params: { state } }, target: `${prefix}${state}`, actions: action,
    })),
    { target: `${prefix}running`, actions: action },
  ];
}

/** An in-between state that invokes one effect and goes back where its operation began. */
function settling(src: 'signal' | 'prepareExec' | 'update' | 'checkpoint', input: (a: { context: ContainerContext; event: ContainerEvent }) => unknown) {
  return {
    invoke: { id: src, src, input: input as never, onDone: back('done'), onError: back('fail') },
    on: { 'process.exited': { actions: 'recordExit' as const }, 'process.started': { actions: 'programStarted' as const } },
  };
}

export type ContainerMachine = typeof containerMachine;
export type ContainerSnapshot = SnapshotFrom<typeof containerMachine>;

