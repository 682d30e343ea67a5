import { assertEvent, assign, fromPromise, setup, type SnapshotFrom } from 'xstate';

/**
 * A sandbox (pod): the root container plus the subcontainers that join it (docs/LIFECYCLE.md,
 * "Sandbox"; runsc's pods). Its status comes from its root container's:
 * - created when the root is created, running when the root starts;
 * - paused and resumed as a whole: when the root pauses, every member is paused
 *   (`pauseMembers`), and when it resumes, so do they (`resumeMembers`);
 * - stopped when the root stops: every member is stopped first (`stopMembers`);
 * - removed when its last container, root or member, is deleted.
 * Members join only a running sandbox.
 *
 * The machine is pure: the effects on members are the invoked actors `pauseMembers`,
 * `resumeMembers` and `stopMembers`, provided by the actor layer (src/actors/sandbox-actor.ts)
 * and swapped by tests. Their defaults do nothing.
 */

export interface SandboxInput {
  id: string;
  /** members (root excluded) already there: a daemon re-adopting a sandbox */
  members?: string[];
  /** false when re-adopting a sandbox whose root was deleted */
  rootPresent?: boolean;
}

export interface SandboxContext {
  /** the sandbox id: its root container's id */
  id: string;
  /** subcontainers not yet deleted (the root is not one of them) */
  members: string[];
  /** whether the root container is still there (not deleted) */
  rootPresent: boolean;
  /** members that an effect on the whole sandbox could not reach, with why */
  errors: string[];
}

export type SandboxEvent =
  | { type: 'root.running' }
  | { type: 'root.paused' }
  | { type: 'root.stopped' }
  | { type: 'root.deleted' }
  | { type: 'member.joined'; id: string }
  | { type: 'member.left'; id: string };

export type SandboxStatus = 'created' | 'running' | 'paused' | 'stopped' | 'removed';

/** What an effect on members reports: the members it could not bring along, with why. */
export interface MembersOutcome { failed: string[] }
type MembersInput = { sandbox: string; members: string[] };
const nothing = fromPromise<MembersOutcome, MembersInput>(async () => ({ failed: [] }));

export const sandboxMachine = setup({
  types: {
    input: {} as SandboxInput,
    context: {} as SandboxContext,
    events: {} as SandboxEvent,
  },
  actors: {
    pauseMembers: nothing,
    resumeMembers: nothing,
    stopMembers: nothing,
  },
  guards: {
    isNewMember: ({ context, event }) => {
      assertEvent(event, 'member.joined');
      return event.id !== context.id && !context.members.includes(event.id);
    },
    empty: ({ context }) => !context.rootPresent && context.members.length === 0,
  },
  actions: {
    addMember: assign({
      members: ({ context, event }) => {
        assertEvent(event, 'member.joined');
        return [...context.members, event.id];
      },
    }),
    removeMember: assign({
      members: ({ context, event }) => {
        assertEvent(event, 'member.left');
        return context.members.filter((m) => m !== event.id);
      },
    }),
    rootGone: assign({ rootPresent: false }),
    recordFailures: assign({
      errors: ({ context, event }) => {
        const out = (event as { output?: MembersOutcome }).output;
        const err = (event as { error?: unknown }).error;
        if (out) return [...context.errors, ...out.failed].slice(-20);
        return [...context.errors, String((err as Error)?.message ?? err)].slice(-20);
      },
    }),
  },
}).createMachine({
  id: 'sandbox',
  initial: 'created',
  context: ({ input }) => ({ id: input.id, members: input.members ?? [], rootPresent: input.rootPresent ?? true, errors: [] }),
  on: {
    // A member may be deleted in any state; the sandbox goes when its last container does.
    'member.left': { actions: 'removeMember' },
  },
  states: {
    created: {
      on: {
        'root.running': { target: 'running' },
        'root.paused': { target: 'paused' },
        'root.stopped': { target: 'stopping' },
        'root.deleted': { target: 'stopping', actions: 'rootGone' },
      },
    },
    running: {
      on: {
        // Subcontainers join only a running sandbox: the event is handled in this state alone.
        'member.joined': { guard: 'isNewMember', actions: 'addMember' },
        'root.paused': { target: 'pausing' },
        'root.stopped': { target: 'stopping' },
        'root.deleted': { target: 'stopping', actions: 'rootGone' },
      },
    },
    pausing: {
      invoke: {
        src: 'pauseMembers',
        input: ({ context }) => ({ sandbox: context.id, members: context.members }),
        onDone: { target: 'paused', actions: 'recordFailures' },
        onError: { target: 'paused', actions: 'recordFailures' },
      },
      on: {
        'root.stopped': { target: 'stopping' },
        'root.deleted': { target: 'stopping', actions: 'rootGone' },
      },
    },
    paused: {
      on: {
        'root.running': { target: 'resuming' },
        'root.stopped': { target: 'stopping' },
        'root.deleted': { target: 'stopping', actions: 'rootGone' },
      },
    },
    resuming: {
      invoke: {
        src: 'resumeMembers',
        input: ({ context }) => ({ sandbox: context.id, members: context.members }),
        onDone: { target: 'running', actions: 'recordFailures' },
        onError: { target: 'running', actions: 'recordFailures' },
      },
      on: {
        'root.stopped': { target: 'stopping' },
        'root.deleted': { target: 'stopping', actions: 'rootGone' },
      },
    },
    stopping: {
      invoke: {
        src: 'stopMembers',
        input: ({ context }) => ({ sandbox: context.id, members: context.members }),
        onDone: { target: 'stopped', actions: 'recordFailures' },
        onError: { target: 'stopped', actions: 'recordFailures' },
      },
      on: {
        'root.deleted': { actions: 'rootGone' },
      },
    },
    stopped: {
      always: { guard: 'empty', target: 'removed' },
      on: {
        'root.deleted': { actions: 'rootGone' },
      },
    },
    removed: { type: 'final' },
  },
});

export type SandboxMachine = typeof sandboxMachine;
export type SandboxSnapshot = SnapshotFrom<typeof sandboxMachine>;

/** The sandbox's status as users see it: an effect in progress counts as the state it leaves. */
export function sandboxStatus(snapshot: SandboxSnapshot): SandboxStatus {
  switch (snapshot.value) {
    case 'pausing': case 'stopping': return 'running';
    case 'resuming': return 'paused';
    default: return snapshot.value;
  }
}

/** Whether the sandbox is between two settled states (an effect on its members runs). */
export function sandboxSettling(snapshot: SandboxSnapshot): boolean {
  return snapshot.value === 'pausing' || snapshot.value === 'resuming' || snapshot.value === 'stopping';
}
