// Trace conformance (`runa debug --check`, src/machines/conformance.ts): histories recorded as
// the daemon records them conform on every path of the container model, and the steps a machine
// forbids are reported with why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, fromPromise, waitFor } from 'xstate';
import { getSimplePaths } from 'xstate/graph';
import { CONTAINER_EFFECT_KEYS, checkHistory, containerMachine, containerState, defaultOutput, isSettled, type RecordedStep } from '../src/machines/index.js';
import { modelKey, settledLogic, type ModelEvent } from './helpers/container-model.js';

const EVENTS: ModelEvent[] = [
  { type: 'container.created' }, { type: 'container.start' }, { type: 'container.pause' }, { type: 'container.resume' },
  { type: 'container.kill', signal: 9 }, { type: 'container.delete' }, { type: 'container.delete', force: true },
  { type: 'process.exited', exitStatus: 137 }, { type: 'container.start', fail: 'start' }, { type: 'container.pause', fail: 'freeze' },
];

/**
 * Record a container actor's transitions as the daemon does (src/actors/container-actor.ts): the
 * event the machine took, the top-level states. A file operation goes beside each step (and
 * while its effect runs), as the daemon takes them: it records nothing, and no step after it is
 * put down to it.
 */
function recorded(events: ModelEvent[]): Promise<RecordedStep[]> {
  let failing: string | null = null;
  const machine = containerMachine.provide({
    actors: Object.fromEntries(CONTAINER_EFFECT_KEYS.map((k) => [k, fromPromise(async () => { if (failing === k) throw new Error(`${k} failed`); return defaultOutput(k); })])) as never,
  });
  const history: RecordedStep[] = [];
  let cause = 'state';
  const actor = createActor(machine, {
    input: { id: 'h' },
    inspect: (ev) => { if (ev.type === '@xstate.event' && ev.actorRef === actor) cause = ev.event.type; },
  });
  let last = containerState(actor.getSnapshot());
  actor.subscribe((s) => {
    const now = containerState(s);
    if (now !== last) history.push({ actor: 'container:h', kind: 'transition', type: cause, from: last, to: now });
    last = now;
  });
  actor.start();
  return (async () => {
    const file = () => { if (actor.getSnapshot().can({ type: 'container.file', op: 'read' })) actor.send({ type: 'container.file', op: 'read' }); };
    for (const { fail, ...e } of events) {
      failing = fail ?? null;
      file();
      actor.send(e as never);
      file();
      await waitFor(actor, (s) => isSettled(s) || s.status === 'done');
    }
    return history;
  })();
}

test('the history of every simple path of the container model conforms', async () => {
  const paths = getSimplePaths(settledLogic, { input: { id: 'model' }, events: EVENTS, serializeState: modelKey });
  assert.ok(paths.length > 20, `${paths.length} paths`);
  let steps = 0;
  for (const p of paths) {
    const events = p.steps.map((s) => s.event as ModelEvent).filter((e) => (e.type as string) !== 'xstate.init');
    const history = await recorded(events);
    steps += history.length;
    assert.deepEqual(checkHistory(history), [], events.map((e) => e.type + (e.fail ? '!' : '')).join(' → '));
    assert.ok(!history.some((h) => h.type === 'container.file'), 'a file operation is no step of the lifecycle');
  }
  assert.ok(steps > 100, `${steps} recorded steps`);
});

test('a step the model forbids is reported with why: no such transition, a missing step, a companion that skipped a state', () => {
  const history: RecordedStep[] = [
    { actor: 'container:x', kind: 'transition', type: 'xstate.done.actor.attach', from: 'creating', to: 'created' },
    { actor: 'container:x', kind: 'message', type: 'process.attach' },
    { actor: 'container:x', kind: 'transition', type: 'container.start', from: 'created', to: 'paused' },
    { actor: 'container:x', kind: 'transition', type: 'xstate.done.actor.freeze', from: 'pausing', to: 'paused' },
    { actor: 'process:x/init', kind: 'transition', type: 'state', from: 'created', to: 'paused' },
    { actor: 'gofer:x', kind: 'transition', type: 'state', from: 'created', to: 'running' },
  ];
  const bad = checkHistory(history);
  assert.deepEqual(bad.map((b) => [b.index, b.why]), [
    [2, 'the container machine has no transition created → paused on container.start'],
    [3, 'container:x was in paused, not pausing: a step is missing'],
    [4, 'the process machine has no transition created → paused'],
  ]);
  // The create's own event only moves the machine inside creating (to attaching): the step to created is the attach's answer.
  assert.match(checkHistory([{ actor: 'container:y', kind: 'transition', type: 'container.created', from: 'creating', to: 'created' }])[0].why, /no transition creating → created on container\.created/);
});
