// The container machine's in-between states (src/machines/container.ts): each invokes its
// operation's effect by key and settles on the effect's `onDone` or `onError`; facts (the init
// started, exited) are recorded meanwhile, and file operations are served beside it.
import { assertEvent } from 'xstate';
import { bundleFiles, containerSetup, filesBetween } from './container-setup.js';
import type { ContainerContext, ContainerEvent } from './container-types.js';

/** What every in-between state takes while its effect runs: the facts, and file operations. */
const meanwhile = {
  'process.exited': { actions: 'recordExit' },
  'process.started': { actions: 'programStarted' },
  'container.file': filesBetween,
} as const;

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
  return containerSetup.createStateConfig({
    invoke: { id: src, src, input: input as never, onDone: back('done'), onError: back('fail') },
    on: meanwhile,
  });
}

/** Create, until nsinit's monitor answers: its hooks, then the attach to its monitor. No init runs a program yet: files are the bundle's. */
export const creating = containerSetup.createStateConfig({
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
  on: { 'container.file': bundleFiles },
});

export const starting = containerSetup.createStateConfig({
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
  on: meanwhile,
});

export const pausing = containerSetup.createStateConfig({
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
  on: meanwhile,
});

export const resuming = containerSetup.createStateConfig({
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
  on: meanwhile,
});

// Operations that leave the lifecycle where it was: back to where they began, or stopped if the init exited meanwhile.
export const killing = settling('signal', ({ event, context }) => {
  assertEvent(event, 'container.kill');
  return { signal: event.signal, all: event.all ?? false, pid: event.pid ?? null, from: context.settled };
});
export const execing = settling('prepareExec', ({ event }) => {
  assertEvent(event, 'container.exec');
  return { ignorePaused: event.ignorePaused ?? false, request: event.request };
});
export const updating = settling('update', ({ event }) => { assertEvent(event, 'container.update'); return { resources: event.resources }; });
export const checkpointing = settling('checkpoint', ({ event }) => { assertEvent(event, 'container.checkpoint'); return { options: event.options }; });

/** The sandbox stops its members: SIGKILL, and wait for the exit (a while at most). */
export const stopping = containerSetup.createStateConfig({
  invoke: {
    id: 'stop', src: 'stop', input: ({ context }) => ({ from: context.settled }),
    onDone: [{ guard: 'waits' }, ...back({ type: 'doneWith', params: {} })],
    onError: back({ type: 'doneWith', params: {} }),
  },
  after: { killWait: back({ type: 'doneWith', params: {} }) },
  on: {
    ...meanwhile,
    'process.exited': { target: 'stopped', actions: ['recordExit', { type: 'doneWith', params: {} }] },
  },
});

/** Delete: nothing forbids it, the init is killed (and waited for a while), then everything goes. It serves no file: the container is going. */
export const deleting = containerSetup.createStateConfig({
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
});
