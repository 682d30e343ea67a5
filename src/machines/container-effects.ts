import { fromPromise, setup, spawnChild } from 'xstate';

/**
 * A container's effects, as actors spawned by key: the cgroup's freezer, hooks, signals to
 * every process, the cgroup's removal and CRIU's dump. The container's actor asks for one
 * with a ticket and gets the effect's answer back by it (src/actors/effects.ts). The machine
 * keeps no state of its own: the container's lifecycle is the container machine's, and
 * persisting it never captures an effect in flight. The defaults do nothing; the actor layer
 * provides the real ones, and tests swap them.
 */
export type ContainerEffect =
  | { type: 'freezeCgroup' }
  | { type: 'thawCgroup' }
  | { type: 'runHooks'; kind: string; nsPid?: number; bestEffort?: boolean; state: Record<string, unknown> }
  | { type: 'signalAll'; signal: number }
  | { type: 'destroyCgroup' }
  | { type: 'checkpoint'; options: unknown };

export type ContainerEffectRequest = ContainerEffect & { ticket: number };
export const CONTAINER_EFFECTS = ['freezeCgroup', 'thawCgroup', 'runHooks', 'signalAll', 'destroyCgroup', 'checkpoint'] as const;

const nothing = fromPromise<unknown, ContainerEffectRequest>(async () => undefined);

export const containerEffectsMachine = setup({
  types: { events: {} as ContainerEffectRequest },
  actors: { freezeCgroup: nothing, thawCgroup: nothing, runHooks: nothing, signalAll: nothing, destroyCgroup: nothing, checkpoint: nothing },
}).createMachine({
  id: 'container-effects',
  on: {
    freezeCgroup: { actions: spawnChild('freezeCgroup', { input: ({ event }) => event }) },
    thawCgroup: { actions: spawnChild('thawCgroup', { input: ({ event }) => event }) },
    runHooks: { actions: spawnChild('runHooks', { input: ({ event }) => event }) },
    signalAll: { actions: spawnChild('signalAll', { input: ({ event }) => event }) },
    destroyCgroup: { actions: spawnChild('destroyCgroup', { input: ({ event }) => event }) },
    checkpoint: { actions: spawnChild('checkpoint', { input: ({ event }) => event }) },
  },
});
