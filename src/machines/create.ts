import { assign, fromPromise, setup, type SnapshotFrom } from 'xstate';
import { failed, succeeded, type Outcome } from './outcome.js';

/**
 * A container's create (docs/LIFECYCLE.md, "Create"), until its Container actor takes over: one
 * step after the other, each an effect provided by key (src/actors/create-effects.ts) and
 * swapped by tests:
 * - claiming: the id is free; its state dir is claimed, marked as a create in progress; its gofer is made;
 * - validating: the bundle (by the gofer), the sandbox it joins, the console;
 * - makingCgroups: its cgroup, with its limits applied, and its Intel RDT class (linux.intelRdt);
 * - planning: the seccomp filter, and the plan nsinit follows (by the gofer);
 * - registering: the Container actor, its state written, the intent cleared, its sandbox told → done.
 * The context keeps the steps done so far (`done`). A step that fails leads to undoing, which is
 * given exactly those, and undoes them in the reverse order (`undo`) → failed; a step undoes its
 * own part of what it made before it failed. The outcome (the last step's output: the plan and
 * the warnings, or the failed step's error) is the machine's output.
 */

export type CreateStep = 'claim' | 'validate' | 'makeCgroups' | 'plan' | 'register';
export const CREATE_STEPS: CreateStep[] = ['claim', 'validate', 'makeCgroups', 'plan', 'register'];

/** The effects by key: each step's, and the undo of the steps done. */
export type CreateEffectKey = CreateStep | 'undo';
export const CREATE_EFFECT_KEYS: CreateEffectKey[] = [...CREATE_STEPS, 'undo'];

export interface CreateInput { id: string }

export interface CreateContext {
  id: string;
  /** the steps done so far, in order */
  done: CreateStep[];
  /** the step that failed, if one did */
  failedStep: CreateStep | null;
  outcome: Outcome | null;
}

export type CreateEvent = { type: 'create.run' };

/** What the undo effect is given: the steps to undo, the last done first. */
export interface UndoInput { steps: CreateStep[] }

const nothing = fromPromise<unknown, unknown>(async () => undefined);

/** The state of each step, and the one after it. */
export const STEP_STATE: Record<CreateStep, string> = {
  claim: 'claiming', validate: 'validating', makeCgroups: 'makingCgroups', plan: 'planning', register: 'registering',
};

const createSetup = setup({
  types: {
    input: {} as CreateInput,
    context: {} as CreateContext,
    events: {} as CreateEvent,
    output: {} as Outcome | null,
  },
  actors: {
    claim: nothing, validate: nothing, makeCgroups: nothing, plan: nothing, register: nothing,
    undo: fromPromise<unknown, UndoInput>(async () => undefined),
  },
  actions: {
    stepDone: assign(({ context }, params: { step: CreateStep }) => ({ done: [...context.done, params.step] })),
    /** the last step's output is the create's answer */
    answer: assign(({ event }) => ({ outcome: succeeded(1, event) })),
    fail: assign(({ event }, params: { step: CreateStep }) => ({ outcome: failed(1, event), failedStep: params.step })),
  },
});

/** One step's state: invoke its effect; on to the next step, or to undoing with its error. */
function step(key: CreateStep, next: CreateStep | null) {
  return createSetup.createStateConfig({
    invoke: {
      id: key, src: key as 'claim',
      onDone: next
        ? { target: STEP_STATE[next], actions: { type: 'stepDone', params: { step: key } } }
        : { target: 'done', actions: [{ type: 'stepDone', params: { step: key } }, 'answer'] },
      onError: { target: 'undoing', actions: { type: 'fail', params: { step: key } } },
    },
  });
}

export const creationMachine = createSetup.createMachine({
  id: 'create',
  initial: 'idle',
  context: ({ input }) => ({ id: input.id, done: [], failedStep: null, outcome: null }),
  states: {
    idle: { on: { 'create.run': 'claiming' } },
    claiming: step('claim', 'validate'),
    validating: step('validate', 'makeCgroups'),
    makingCgroups: step('makeCgroups', 'plan'),
    planning: step('plan', 'register'),
    registering: step('register', null),
    /** Exactly what was done is undone, the last first; the create fails with its step's error either way. */
    undoing: {
      invoke: {
        id: 'undo', src: 'undo', input: ({ context }) => ({ steps: [...context.done].reverse() }),
        onDone: 'failed',
        onError: 'failed',
      },
    },
    done: { type: 'final' },
    failed: { type: 'final' },
  },
  output: ({ context }) => context.outcome,
});

export type CreationMachine = typeof creationMachine;
export type CreationSnapshot = SnapshotFrom<typeof creationMachine>;

/** The create's state as one name (its step, or done, failed). */
export const createState = (s: CreationSnapshot): string => String(s.value);
