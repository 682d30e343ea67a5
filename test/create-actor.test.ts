// A create is an actor of its own (src/actors/create.ts, src/machines/create.ts): at
// `create:<id>` on the actors' bus, with a mailbox, watched by the inspector, its steps effects
// provided by key. Here its effects are swapped: each step is recorded, and a failure at each
// step in turn undoes exactly the steps done, the last first, and gives back the step's own error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getInitialSnapshot, getNextSnapshot } from 'xstate';
import { ActorBus } from '../src/actors/actor-bus.js';
import { CreateActor, createAddress, type CreateEffects } from '../src/actors/create.js';
import type { RegistryHost } from '../src/actors/registry-host.js';
import { CREATE_STEPS, creationMachine, checkHistory, type CreateStep, type RecordedStep } from '../src/machines/index.js';
import { RunaError } from '../src/errors.js';
import { Bus } from '../src/bus/bus.js';
import { Registry } from '../src/actors/registry.js';

function host(bus: ActorBus, watched: string[] = []): RegistryHost {
  return {
    root: '/nonexistent', actors: bus, watch: (_ref, address) => { watched.push(address); },
    containers: new Map(), sandboxes: new Map(), creating: new Map(),
    get: () => { throw new Error('no container'); }, add: () => { throw new Error('no container'); }, newSandbox: () => { throw new Error('no sandbox'); },
  };
}

const request = (id: string) => ({ type: 'container.create' as const, id, bundle: '/b' });
const REPLY = { id: 'x', stateDir: '/s', plan: '/p', warnings: [], notices: [] };

/** Effects that record each step, fail the one named, and answer the reply at the last. */
function recording(calls: string[], failAt: CreateStep | null): Partial<CreateEffects> {
  const effects: Partial<CreateEffects> = {
    undo: ({ steps }) => { calls.push(`undo ${steps.join(',')}`); },
  };
  for (const step of CREATE_STEPS) {
    effects[step] = () => {
      calls.push(step);
      if (step === failAt) throw new RunaError('invalid_argument', `${step}: refused`);
      return step === 'register' ? { ...REPLY } : undefined;
    };
  }
  return effects;
}

test('a create runs its steps in order and answers with the last one\'s reply; its actor leaves the bus once done', async () => {
  const bus = new ActorBus();
  const watched: string[] = [];
  const r = host(bus, watched);
  const calls: string[] = [];
  const c = new CreateActor('x', r, { effects: recording(calls, null) });
  r.creating.set('x', c);
  assert.deepEqual(watched, ['create:x'], 'the inspector is told of it');
  assert.equal(bus.has(createAddress('x')), true);
  const reply = await bus.request({ type: 'create.run', from: 'daemon:router', to: createAddress('x'), request: request('x') });
  assert.deepEqual(reply, REPLY);
  assert.deepEqual(calls, CREATE_STEPS);
  assert.equal(c.actor.getSnapshot().value, 'done');
  assert.deepEqual(c.actor.getSnapshot().context.done, CREATE_STEPS);
  assert.equal(bus.has(createAddress('x')), false, 'its address is gone');
  assert.equal(r.creating.size, 0);
  // Its steps, as the daemon records them, are the machine's own.
  const steps = c.history.last().filter((e) => e.kind === 'transition');
  assert.deepEqual(steps.map((e) => e.to), ['claiming', 'validating', 'makingCgroups', 'planning', 'registering', 'done']);
  assert.deepEqual(checkHistory(steps as RecordedStep[]), []);
});

for (const failAt of CREATE_STEPS) {
  test(`a create failing at ${failAt} undoes exactly the steps done before it, the last first, and fails with that step's error`, async () => {
    const bus = new ActorBus();
    const r = host(bus);
    const calls: string[] = [];
    const c = new CreateActor('y', r, { effects: recording(calls, failAt) });
    r.creating.set('y', c);
    await assert.rejects(bus.request({ type: 'create.run', from: 'daemon:router', to: createAddress('y'), request: request('y') }), (e: RunaError) => {
      assert.equal(e.code, 'invalid_argument');
      assert.equal(e.message, `${failAt}: refused`);
      return true;
    });
    const i = CREATE_STEPS.indexOf(failAt);
    const done = CREATE_STEPS.slice(0, i);
    assert.deepEqual(calls, [...CREATE_STEPS.slice(0, i + 1), `undo ${[...done].reverse().join(',')}`]);
    const s = c.actor.getSnapshot();
    assert.equal(s.value, 'failed');
    assert.deepEqual([s.context.done, s.context.failedStep], [done, failAt]);
    assert.equal(bus.has(createAddress('y')), false);
    assert.equal(r.creating.size, 0);
  });
}

test('while a step runs, the create shows as an actor with its mailbox handling create.run, and its effect in flight', async () => {
  const bus = new ActorBus();
  const r = host(bus);
  let release: () => void = () => undefined;
  const effects = recording([], null);
  effects.validate = () => new Promise<void>((resolve) => { release = resolve; });
  const c = new CreateActor('z', r, { effects });
  r.creating.set('z', c);
  const answer = bus.request({ type: 'create.run', from: 'daemon:router', to: createAddress('z'), request: request('z') });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(c.actor.getSnapshot().value, 'validating');
  const [box] = bus.mailboxes((a) => a === 'create:z');
  assert.deepEqual([box.address, box.handling.map((h) => [h.type, h.from]), box.queued], ['create:z', [['create.run', 'daemon:router']], []]);
  assert.deepEqual(c.activity().effects.map((e) => [e.actor, e.effect, e.state]), [['create:z', 'validate', 'running']]);
  assert.deepEqual(c.activity().children.map((k) => [k.actor, k.src]), [['create:z', 'validate']]);
  assert.deepEqual(c.debugInfo().create, { address: 'create:z', value: 'validating', context: { done: ['claim'], failedStep: null } });
  release();
  assert.deepEqual(await answer, REPLY);
  assert.deepEqual(bus.mailboxes((a) => a === 'create:z'), []);
});

test('the create machine: a step\'s failure leads to undoing with the steps done, reversed; an undo that fails still ends failed', () => {
  let s = getInitialSnapshot(creationMachine, { id: 'm' });
  s = getNextSnapshot(creationMachine, s, { type: 'create.run' });
  for (const step of ['claim', 'validate', 'makeCgroups'] as const) s = getNextSnapshot(creationMachine, s, { type: `xstate.done.actor.${step}` } as never);
  assert.equal(s.value, 'planning');
  s = getNextSnapshot(creationMachine, s, { type: 'xstate.error.actor.plan', error: new RunaError('rdt', 'no resctrl') } as never);
  assert.equal(s.value, 'undoing');
  assert.deepEqual(s.context.outcome, { seq: 1, ok: false, code: 'rdt', message: 'no resctrl' });
  assert.deepEqual(s.context.done, ['claim', 'validate', 'makeCgroups']);
  const undo = s.children.undo as unknown as { options?: unknown } | undefined;
  assert.ok(undo, 'undo is invoked');
  s = getNextSnapshot(creationMachine, s, { type: 'xstate.error.actor.undo', error: new Error('rmdir: EBUSY') } as never);
  assert.equal(s.value, 'failed');
  assert.equal(s.status, 'done');
  assert.deepEqual(s.context.outcome, { seq: 1, ok: false, code: 'rdt', message: 'no resctrl' }, 'the step\'s error is the answer');
  assert.deepEqual(s.output, s.context.outcome);
});

test('the daemon\'s router hands a create to its actor: `debug --stacks` shows it while it runs, with its mailbox; a second create of the id is refused meanwhile', async () => {
  const bus = new Bus();
  let release: () => void = () => undefined;
  const effects = recording([], null);
  effects.validate = () => new Promise<void>((resolve) => { release = resolve; });
  const registry = new Registry('/nonexistent', bus, () => undefined, { create: { effects } });
  const answer = bus.request({ type: 'container.create', id: 'w', bundle: '/b' });
  await new Promise((resolve) => setImmediate(resolve));
  await assert.rejects(bus.request({ type: 'container.create', id: 'w', bundle: '/b' }), /container with id "w" already exists/);
  await assert.rejects(bus.request({ type: 'container.create', id: 'w/..', bundle: '/b' }), /invalid container id "w\/\.\."/);
  const d = (await bus.request({ type: 'container.debug', id: 'w', stacks: true, events: 10 })) as any;
  assert.equal(d.status, 'creating');
  assert.deepEqual(d.create, { address: 'create:w', value: 'validating', context: { done: ['claim'], failedStep: null } });
  assert.deepEqual(d.activity.mailboxes.map((m: any) => [m.address, m.handling.map((h: any) => `${h.type} from ${h.from}`)]), [['create:w', ['create.run from daemon:router']]]);
  assert.deepEqual(d.activity.requests.map((r: any) => r.type), ['container.create']);
  assert.deepEqual(d.activity.effects.map((e: any) => `${e.actor} ${e.effect}`), ['create:w validate']);
  assert.deepEqual(d.events.filter((e: any) => e.kind === 'transition').map((e: any) => `${e.type}: ${e.from} → ${e.to}`), ['create.run: idle → claiming', 'xstate.done.actor.claim: claiming → validating']);
  const snap = (await bus.request({ type: 'inspect.snapshot' })) as any;
  assert.deepEqual(snap.actors.map((a: any) => [a.address, a.machine, a.value]), [['create:w', 'create', 'validating']], 'the inspector sees it');
  release();
  assert.deepEqual(await answer, REPLY);
  assert.equal(registry.counts().mailboxes, 0, 'its mailbox is gone');
  await assert.rejects(bus.request({ type: 'container.debug', id: 'w' }), /container does not exist/);
});
