import type { SnapshotFrom } from 'xstate';
import { bundleFiles, containerSetup, liveFiles } from './container-setup.js';
import { checkpointing, creating, deleting, execing, killing, pausing, resuming, starting, stopping, updating } from './container-between.js';

/**
 * The OCI container lifecycle (docs/LIFECYCLE.md, "Container"). The machine drives it: an
 * operation is an event, accepted only where the lifecycle allows it (a refusal is the
 * machine's own answer, `refusal()`); an accepted operation enters an in-between state
 * (starting, pausing, resuming, killing, …; container-between.ts) that invokes its effect, an
 * actor provided by key (`ContainerEffectKey`), and settles on the effect's `onDone` or
 * `onError`. Every accepted operation ends with an outcome in the context (`outcome`, numbered
 * by `seq`): what the actor layer answers its caller. Facts (the init started, the init exited)
 * are events too: in a settled state the exit stops the container at once; an in-between state
 * records it and settles once its effect has answered, so that every operation gets its outcome.
 * A file operation is an event the machine answers at once by emitting where it is served
 * (`container.fileRoot`), in any state but deleting and deleted.
 *
 * Pure: the effects' defaults do nothing (container-setup.ts); the actor layer provides runa's
 * (one provision per daemon, src/actors/container-actor.ts), and tests swap them.
 */

export * from './container-types.js';

export const containerMachine = containerSetup.createMachine({
  id: 'container',
  initial: 'creating',
  context: ({ input }) => ({
    id: input.id, exitStatus: null, pendingSignals: [], settled: 'creating', programStarted: false, followed: null, seq: 0, outcome: null,
  }),
  states: {
    creating,
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
        'container.file': liveFiles,
        'sandbox.pause': { target: 'created', actions: { type: 'answer', params: { value: false } } },
        'sandbox.resume': { target: 'created', actions: { type: 'answer', params: { value: false } } },
        'sandbox.stop': { target: 'stopping', actions: { type: 'begin', params: { from: 'created' } } },
        // The program started without this daemon's start (one that died between the gate and its record).
        'process.started': { target: 'running', actions: 'programStarted' },
        'process.exited': { target: 'stopped', actions: 'recordExit' },
      },
    },
    starting,
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
        'container.file': liveFiles,
        'sandbox.pause': { target: 'pausing', actions: [{ type: 'begin', params: { from: 'running' } }, { type: 'follow', params: { state: 'paused' } }] },
        'sandbox.resume': { target: 'running', actions: { type: 'answer', params: { value: false } } },
        'sandbox.stop': { target: 'stopping', actions: { type: 'begin', params: { from: 'running' } } },
        'process.started': { target: 'running', actions: 'programStarted' },
        'process.exited': { target: 'stopped', actions: 'recordExit' },
      },
    },
    pausing,
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
        // Served in the frozen container's root: its gofer holds the writes until it is thawed.
        'container.file': liveFiles,
        'sandbox.pause': { target: 'paused', actions: { type: 'answer', params: { value: false } } },
        'sandbox.resume': { target: 'resuming', actions: [{ type: 'begin', params: { from: 'paused' } }, { type: 'follow', params: { state: 'running' } }] },
        'sandbox.stop': { target: 'stopping', actions: { type: 'begin', params: { from: 'paused' } } },
        'process.started': { target: 'paused', actions: 'programStarted' },
        'process.exited': { target: 'stopped', actions: 'recordExit' },
      },
    },
    resuming,
    stopped: {
      on: {
        // --all on a stopped container: nothing left to signal.
        'container.kill': { guard: 'isAll', target: 'stopped', actions: { type: 'answer', params: {} } },
        'container.delete': { target: 'deleting', actions: { type: 'begin', params: { from: 'stopped' } } },
        // No init: the bundle's rootfs, as the container left it.
        'container.file': bundleFiles,
        'sandbox.pause': { target: 'stopped', actions: { type: 'answer', params: { value: false } } },
        'sandbox.resume': { target: 'stopped', actions: { type: 'answer', params: { value: false } } },
        'sandbox.stop': { target: 'stopped', actions: { type: 'answer', params: {} } },
      },
    },
    killing,
    execing,
    updating,
    checkpointing,
    stopping,
    deleting,
    deleted: { type: 'final' },
  },
});

export type ContainerMachine = typeof containerMachine;
export type ContainerSnapshot = SnapshotFrom<typeof containerMachine>;
