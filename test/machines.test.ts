import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, fromPromise, getInitialSnapshot, getNextSnapshot, waitFor, type Actor, type AnyStateMachine, type EventObject, type Snapshot } from 'xstate';
import {
  containerMachine,
  containerState,
  containerStatus,
  fileRoot,
  isSettled,
  refusal,
  settle,
  goferMachine,
  processMachine,
  processStatus,
  monitorIdle,
  sandboxMachine,
  goferBusy,
  goferStatus,
  sandboxSettling,
  sandboxStatus,
  type MembersOutcome,
  type ContainerEvent,
  type ContainerStatus,
  type GoferEvent,
  type GoferStatus,
  type ProcessEvent,
  type ProcessStatus,
  type SandboxEvent,
  type SandboxStatus,
} from '../src/machines/index.js';

const SIGTERM = 15;
const SIGHUP = 1;
const SIGKILL = 9;
const ID = 'c1';

// ---------------------------------------------------------------------------------------
// Container: every cell of docs/LIFECYCLE.md's table, plus the `deleted` row (all refused).

type Op = 'start' | 'kill' | 'pause' | 'resume' | 'exec' | 'delete' | 'delete --force' | 'init exits';

const opEvents: Record<Op, ContainerEvent> = {
  start: { type: 'container.start' },
  kill: { type: 'container.kill', signal: SIGTERM },
  pause: { type: 'container.pause' },
  resume: { type: 'container.resume' },
  exec: { type: 'container.exec' },
  delete: { type: 'container.delete' },
  'delete --force': { type: 'container.delete', force: true },
  'init exits': { type: 'process.exited', exitStatus: 0 },
};

type Cell = ContainerStatus | { refused: string };

const cannot = (op: string, state: ContainerStatus): Cell => ({
  refused: `cannot ${op} container "${ID}" in state ${state}`,
});

const containerTable: Record<ContainerStatus, Record<Op, Cell>> = {
  creating: {
    start: cannot('start', 'creating'),
    kill: cannot('kill', 'creating'),
    pause: cannot('pause', 'creating'),
    resume: cannot('resume', 'creating'),
    exec: cannot('exec', 'creating'),
    delete: cannot('delete', 'creating'),
    'delete --force': 'deleted',
    'init exits': 'stopped',
  },
  created: {
    start: 'running',
    kill: 'created',
    pause: 'paused',
    resume: cannot('resume', 'created'),
    exec: 'created', // runc: the exec'd process joins while the init waits
    delete: 'deleted',
    'delete --force': 'deleted',
    'init exits': 'stopped',
  },
  running: {
    start: cannot('start', 'running'),
    kill: 'running',
    pause: 'paused',
    resume: cannot('resume', 'running'),
    exec: 'running',
    delete: cannot('delete', 'running'),
    'delete --force': 'deleted',
    'init exits': 'stopped',
  },
  paused: {
    start: cannot('start', 'paused'),
    kill: 'paused',
    pause: cannot('pause', 'paused'),
    resume: 'running',
    exec: { refused: 'cannot exec in a paused container (use --ignore-paused to override)' },
    delete: cannot('delete', 'paused'),
    'delete --force': 'deleted',
    'init exits': 'stopped',
  },
  stopped: {
    start: cannot('start', 'stopped'),
    kill: { refused: 'container not running' },
    pause: cannot('pause', 'stopped'),
    resume: cannot('resume', 'stopped'),
    exec: cannot('exec', 'stopped'),
    delete: 'deleted',
    'delete --force': 'deleted',
    'init exits': cannot('record the exit of', 'stopped'),
  },
  deleted: {
    start: cannot('start', 'deleted'),
    kill: cannot('kill', 'deleted'),
    pause: cannot('pause', 'deleted'),
    resume: cannot('resume', 'deleted'),
    exec: cannot('exec', 'deleted'),
    delete: cannot('delete', 'deleted'),
    'delete --force': cannot('delete', 'deleted'),
    'init exits': cannot('record the exit of', 'deleted'),
  },
};

/** The shortest allowed way from a fresh container to each state. */
const containerPaths: Record<ContainerStatus, ContainerEvent[]> = {
  creating: [],
  created: [{ type: 'container.created' }],
  running: [{ type: 'container.created' }, { type: 'container.start' }],
  paused: [{ type: 'container.created' }, { type: 'container.start' }, { type: 'container.pause' }],
  stopped: [{ type: 'container.created' }, { type: 'container.start' }, { type: 'process.exited', exitStatus: 0 }],
  deleted: [{ type: 'container.created' }, { type: 'container.delete' }],
};

type CSnap = ReturnType<typeof getInitialSnapshot<typeof containerMachine>>;

/** Each operation settled by the machine's default effects (no actor runs). */
function containerAfter(events: ContainerEvent[]): CSnap {
  let snap = getInitialSnapshot(containerMachine, { id: ID });
  for (const event of events) snap = settle(snap, event);
  return snap;
}

function containerIn(state: ContainerStatus): CSnap {
  const snap = containerAfter(containerPaths[state]);
  assert.equal(containerStatus(snap), state, `setup reached ${state}`);
  assert.ok(isSettled(snap));
  return snap;
}

function observable<T extends Snapshot<unknown> & { value: unknown; context: unknown }>(snapshot: T) {
  return { value: snapshot.value, context: snapshot.context, status: snapshot.status };
}

for (const [from, row] of Object.entries(containerTable) as [ContainerStatus, Record<Op, Cell>][]) {
  for (const [op, cell] of Object.entries(row) as [Op, Cell][]) {
    const event = opEvents[op];
    if (typeof cell === 'string') {
      test(`container ${from} + ${op} → ${cell}`, () => {
        const snap = containerIn(from);
        assert.equal(snap.can(event), true);
        assert.equal(refusal(snap, event), null);
        const next = settle(snap, event);
        assert.equal(containerStatus(next), cell);
        assert.ok(isSettled(next), 'the operation settles');
        // An operation gets its outcome; a fact does not.
        if (event.type !== 'process.exited') assert.deepEqual(next.context.outcome && { seq: next.context.outcome.seq, ok: next.context.outcome.ok }, { seq: snap.context.seq + 1, ok: true });
      });
    } else {
      test(`container ${from} + ${op} is refused: ${cell.refused}`, () => {
        const snap = containerIn(from);
        const before = observable(snap);
        assert.equal(snap.can(event), false);
        const refused = refusal(snap, event);
        assert.ok(refused);
        assert.equal(refused.message, cell.refused);
        const code = op === 'kill' && from === 'stopped' ? 'not_running' : op === 'exec' && from === 'paused' ? 'paused' : 'invalid_state';
        assert.equal(refused.code, code);
        if (snap.status === 'active') assert.deepEqual(observable(getNextSnapshot(containerMachine, snap, event)), before, 'a refused operation changes nothing');
      });
    }
  }
}

test('container in-between states report where their operation began, and settle on the effect\'s answer', () => {
  const running = containerIn('running');
  const pausing = getNextSnapshot(containerMachine, running, { type: 'container.pause' });
  assert.equal(containerState(pausing), 'pausing');
  assert.equal(containerStatus(pausing), 'running');
  assert.equal(isSettled(pausing), false);
  assert.deepEqual(Object.keys(pausing.children), ['freeze'], 'the effect is invoked by key');
  // Nothing else is accepted while an operation is in flight (the mailbox would not send it).
  for (const e of Object.values(opEvents).filter((e) => e.type !== 'process.exited')) assert.equal(pausing.can(e), false, e.type);
  // The init exits meanwhile: recorded, and the operation still gets its answer.
  const exited = getNextSnapshot(containerMachine, pausing, { type: 'process.exited', exitStatus: 137 });
  assert.equal(containerState(exited), 'pausing');
  assert.equal(containerStatus(exited), 'stopped');
  const done = getNextSnapshot(containerMachine, exited, { type: 'xstate.done.actor.freeze' } as never);
  assert.equal(containerStatus(done), 'stopped');
  assert.equal(done.context.outcome?.ok, true);
});

test('container file operations: the machine answers where each is served (the live root, or the bundle\'s rootfs) and refuses them in deleting and deleted', () => {
  const roots: Record<ContainerStatus, 'live' | 'bundle' | null> = { creating: 'bundle', created: 'live', running: 'live', paused: 'live', stopped: 'bundle', deleted: null };
  for (const [state, root] of Object.entries(roots) as [ContainerStatus, 'live' | 'bundle' | null][]) {
    const snap = containerIn(state);
    for (const op of ['read', 'write', 'stat'] as const) {
      const event = { type: 'container.file', op } as const;
      assert.equal(fileRoot(snap, op), root, `${op} in ${state}`);
      assert.equal(snap.can(event), root !== null, `can(${op}) in ${state}`);
      if (root === null) assert.deepEqual(refusal(snap, event), { code: 'invalid_state', message: `cannot ${op} a file in container "c1" in state ${state}` });
      // Answered, never an operation: nothing moves, no outcome, no operation number.
      if (snap.status === 'active') assert.deepEqual(observable(getNextSnapshot(containerMachine, snap, event)), observable(snap), `${op} in ${state} changes nothing`);
    }
  }
  // Beside an operation in flight: the live root until the init's exit is recorded, the bundle's after.
  const between: Array<[ContainerStatus, ContainerEvent]> = [
    ['created', { type: 'container.start' }], ['running', { type: 'container.pause' }], ['paused', { type: 'container.resume' }],
    ['running', { type: 'container.kill', signal: SIGTERM }], ['paused', { type: 'container.exec', ignorePaused: true }],
    ['created', { type: 'container.update' }], ['running', { type: 'container.checkpoint' }], ['running', { type: 'sandbox.stop' }],
  ];
  for (const [from, event] of between) {
    const inFlight = getNextSnapshot(containerMachine, containerIn(from), event);
    assert.equal(isSettled(inFlight), false, `${event.type} is in flight`);
    assert.equal(fileRoot(inFlight, 'write'), 'live', `${containerState(inFlight)}`);
    assert.deepEqual(observable(getNextSnapshot(containerMachine, inFlight, { type: 'container.file', op: 'write' })), observable(inFlight), `${containerState(inFlight)}: the operation in flight is untouched`);
    const exited = getNextSnapshot(containerMachine, inFlight, { type: 'process.exited', exitStatus: 137 });
    assert.equal(fileRoot(exited, 'write'), 'bundle', `${containerState(exited)} after the init's exit`);
  }
  const hooks = getNextSnapshot(containerMachine, containerIn('creating'), { type: 'container.hooks', kind: 'prestart', childPid: 1 });
  assert.equal(fileRoot(hooks, 'read'), 'bundle', 'creating.hooks');
  // Deleting: the container is going, even before its init is killed.
  const deleting = getNextSnapshot(containerMachine, containerIn('running'), { type: 'container.delete', force: true });
  assert.deepEqual(deleting.value, { deleting: 'checking' });
  assert.equal(fileRoot(deleting, 'read'), null);
  assert.deepEqual(refusal(deleting, { type: 'container.file', op: 'read' }), { code: 'invalid_state', message: 'cannot read a file in container "c1" in state deleting' });
});

test('container file operations on a running actor: the answer is emitted, the operation in flight goes on', async () => {
  let release: () => void = () => undefined;
  const machine = containerMachine.provide({ actors: { freeze: fromPromise<unknown, { from: string }>(() => new Promise((r) => { release = () => r(undefined); })) } as never });
  const actor = createActor(machine, { input: { id: ID } }).start();
  actor.send({ type: 'container.created' });
  await waitFor(actor, (s) => containerStatus(s) === 'created' && isSettled(s));
  const answers: string[] = [];
  actor.on('container.fileRoot', (e) => answers.push(e.root));
  actor.send({ type: 'container.file', op: 'read' });
  actor.send({ type: 'container.pause' });
  actor.send({ type: 'container.file', op: 'write' });
  assert.equal(containerState(actor.getSnapshot()), 'pausing');
  actor.send({ type: 'process.exited', exitStatus: 0 });
  actor.send({ type: 'container.file', op: 'write' });
  release();
  await waitFor(actor, (s) => isSettled(s));
  actor.send({ type: 'container.file', op: 'stat' });
  assert.deepEqual(answers, ['live', 'live', 'bundle', 'bundle']);
  assert.equal(containerStatus(actor.getSnapshot()), 'stopped');
  assert.deepEqual(actor.getSnapshot().context.outcome, { seq: 2, ok: true, value: undefined }, 'the pause got its answer');
});

test('container effect failures: the operation fails with the effect\'s error and the container stays where it was', () => {
  const cases: Array<[ContainerStatus, ContainerEvent, string, ContainerStatus]> = [
    ['created', { type: 'container.start' }, 'start', 'created'],
    ['running', { type: 'container.pause' }, 'freeze', 'running'],
    ['created', { type: 'container.pause' }, 'freeze', 'created'],
    ['paused', { type: 'container.resume' }, 'resume', 'paused'],
    ['running', { type: 'container.kill', signal: SIGTERM }, 'signal', 'running'],
    ['paused', { type: 'container.kill', signal: SIGKILL }, 'signal', 'paused'],
    ['running', { type: 'container.exec' }, 'prepareExec', 'running'],
    ['running', { type: 'container.update' }, 'update', 'running'],
    ['paused', { type: 'container.checkpoint' }, 'checkpoint', 'paused'],
    ['paused', { type: 'container.delete', force: true }, 'prepareDelete', 'paused'],
    ['creating', { type: 'container.created' }, 'attach', 'creating'],
    ['creating', { type: 'container.hooks', kind: 'prestart', childPid: 1 }, 'runHooks', 'creating'],
  ];
  for (const [from, event, key, to] of cases) {
    const snap = containerIn(from);
    const next = settle(snap, event, { errors: { [key]: { code: 'boom', message: `${key} failed` } } });
    assert.equal(containerStatus(next), to, `${event.type} in ${from}`);
    assert.ok(isSettled(next));
    assert.deepEqual(next.context.outcome, { seq: snap.context.seq + 1, ok: false, code: 'boom', message: `${key} failed` });
  }
  // A failed teardown still ends the container (its state dir is what a next daemon would find).
  const gone = settle(containerIn('stopped'), { type: 'container.delete' }, { errors: { teardown: new Error('rm failed') } });
  assert.equal(containerStatus(gone), 'deleted');
  assert.deepEqual(gone.context.outcome, { seq: 3, ok: false, code: 'failed', message: 'rm failed' });
});

test('container stop and delete of a live init wait for its exit, or give up after a while', () => {
  const running = containerIn('running');
  const stopping = settle(running, { type: 'sandbox.stop' }, { outputs: { stop: true } });
  assert.equal(containerState(stopping), 'stopping');
  assert.equal(settle(stopping, { type: 'process.exited', exitStatus: 137 }).value, 'stopped');
  const deleting = settle(running, { type: 'container.delete', force: true }, { outputs: { stop: true } });
  assert.deepEqual(deleting.value, { deleting: 'killingInit' });
  assert.equal(containerStatus(settle(deleting, { type: 'process.exited', exitStatus: 137 })), 'deleted');
});

test('container paused before start: resume starts the program (the resume effect is told)', () => {
  const paused = containerAfter([{ type: 'container.created' }, { type: 'container.pause' }]);
  assert.equal(containerStatus(paused), 'paused');
  assert.equal(paused.context.programStarted, false);
  const resuming = getNextSnapshot(containerMachine, paused, { type: 'container.resume' });
  assert.equal(containerState(resuming), 'resuming');
  const running = settle(paused, { type: 'container.resume' });
  assert.equal(running.context.programStarted, true);
});

test('container sandbox orders: followed by the member\'s own pause or resume, which then succeeds at once', () => {
  const paused = settle(containerIn('running'), { type: 'sandbox.pause' });
  assert.equal(containerStatus(paused), 'paused');
  assert.equal(paused.context.followed, 'paused');
  assert.equal(refusal(paused, { type: 'container.pause' }), null);
  const again = settle(paused, { type: 'container.pause' });
  assert.equal(again.context.followed, null);
  assert.equal(refusal(again, { type: 'container.pause' })?.message, 'cannot pause container "c1" in state paused');
  // Where an order does not apply, it is answered false.
  const created = settle(containerIn('created'), { type: 'sandbox.pause' });
  assert.equal(containerStatus(created), 'created');
  assert.equal(created.context.outcome?.ok && created.context.outcome.value, false);
});

test('container paused + exec --ignore-paused → paused (the process waits in the frozen cgroup)', () => {
  const snap = containerIn('paused');
  const event = { type: 'container.exec', ignorePaused: true } as const;
  assert.equal(refusal(snap, event), null);
  assert.equal(containerStatus(settle(snap, event)), 'paused');
});

test('container creating + container.created → created; refused once created', () => {
  const snap = settle(containerIn('creating'), { type: 'container.created' });
  assert.equal(containerStatus(snap), 'created');
  assert.deepEqual(refusal(snap, { type: 'container.created' }), {
    code: 'invalid_state',
    message: 'cannot create container "c1" in state created',
  });
  // The monitor says the program runs already (a daemon died between gate and record).
  assert.equal(containerStatus(settle(containerIn('creating'), { type: 'container.created' }, { outputs: { attach: { state: 'running' } } })), 'running');
});

test('container kill --all: allowed in stopped (stays stopped), refused in creating', () => {
  const all: ContainerEvent = { type: 'container.kill', signal: SIGKILL, all: true };
  const stopped = containerIn('stopped');
  assert.equal(refusal(stopped, all), null);
  assert.equal(containerStatus(settle(stopped, all)), 'stopped');

  assert.deepEqual(refusal(containerIn('creating'), all), {
    code: 'invalid_state',
    message: 'cannot kill container "c1" in state creating',
  });
  for (const state of ['created', 'running', 'paused'] as const) {
    assert.equal(containerIn(state).can(all), true, state);
  }
});

test('container delete of a running container without force uses the one wording', () => {
  assert.deepEqual(refusal(containerIn('running'), { type: 'container.delete' }), {
    code: 'invalid_state',
    message: 'cannot delete container "c1" in state running',
  });
});

test('container paused: kill queues signals except SIGKILL; resume clears the queue', () => {
  let snap = containerIn('paused');
  snap = settle(snap, { type: 'container.kill', signal: SIGTERM });
  assert.deepEqual(snap.context.pendingSignals, [SIGTERM]);
  snap = settle(snap, { type: 'container.kill', signal: SIGHUP, all: true });
  assert.deepEqual(snap.context.pendingSignals, [SIGTERM, SIGHUP]);
  const killing = getNextSnapshot(containerMachine, snap, { type: 'container.kill', signal: SIGKILL });
  assert.equal(containerState(killing), 'killing', 'SIGKILL is not queued: its effect runs');
  snap = settle(snap, { type: 'container.kill', signal: SIGKILL });
  assert.deepEqual(snap.context.pendingSignals, [SIGTERM, SIGHUP]);
  assert.equal(containerStatus(snap), 'paused');
  const resuming = getNextSnapshot(containerMachine, snap, { type: 'container.resume' });
  assert.deepEqual((resuming.children.resume as unknown as { options?: unknown }) !== undefined, true, 'the resume effect delivers them');
  snap = settle(snap, { type: 'container.resume' });
  assert.equal(containerStatus(snap), 'running');
  assert.deepEqual(snap.context.pendingSignals, []);
});

test('container running/created: kill does not queue', () => {
  for (const state of ['created', 'running'] as const) {
    assert.deepEqual(settle(containerIn(state), { type: 'container.kill', signal: SIGTERM }).context.pendingSignals, [], state);
  }
});

test('container init exit records the exit status and drops undeliverable signals', () => {
  let snap = settle(containerIn('paused'), { type: 'container.kill', signal: SIGTERM });
  snap = settle(snap, { type: 'process.exited', exitStatus: 128 + SIGKILL });
  assert.equal(containerStatus(snap), 'stopped');
  assert.equal(snap.context.exitStatus, 137);
  assert.deepEqual(snap.context.pendingSignals, []);
});

test('container initial context', () => {
  assert.deepEqual(containerIn('creating').context, {
    id: ID, exitStatus: null, pendingSignals: [], settled: 'creating', programStarted: false, followed: null, seq: 0, outcome: null,
  });
});

test('container deleted is final', () => {
  assert.equal(containerIn('deleted').status, 'done');
});

test('container persisted snapshot restores to the same state and context', () => {
  const scenarios: Record<string, ContainerEvent[]> = {
    creating: [],
    'paused with a queued signal': [...containerPaths.paused, { type: 'container.kill', signal: SIGTERM }],
    'stopped with exit status': [...containerPaths.running, { type: 'process.exited', exitStatus: 143 }],
    deleted: containerPaths.deleted,
  };
  for (const [name, events] of Object.entries(scenarios)) {
    const original = createActor(containerMachine, { snapshot: containerAfter(events), input: { id: ID } }).start();
    // Through JSON, as it is stored in state.json.
    const stored: Snapshot<unknown> = JSON.parse(JSON.stringify(original.getPersistedSnapshot()));
    const restored = createActor(containerMachine, { snapshot: stored, input: { id: ID } }).start();
    assert.deepEqual(observable(restored.getSnapshot()), JSON.parse(JSON.stringify(observable(original.getSnapshot()))), name);
    // The restored actor keeps answering by the same rules.
    for (const event of Object.values(opEvents)) {
      assert.equal(restored.getSnapshot().can(event), original.getSnapshot().can(event), `${name}: ${event.type}`);
    }
  }
});

test('container actor: an operation runs its effect and settles (the machine drives itself)', async () => {
  const actor = createActor(containerMachine, { snapshot: containerIn('paused'), input: { id: ID } }).start();
  actor.send({ type: 'container.resume' });
  assert.equal(containerState(actor.getSnapshot()), 'resuming');
  await waitFor(actor, isSettled);
  assert.equal(containerStatus(actor.getSnapshot()), 'running');
  assert.equal(actor.getSnapshot().context.outcome?.ok, true);
});

// ---------------------------------------------------------------------------------------
// Sandbox, Gofer, Process: the same check, driven by a table per machine.

/** Checks one (state, event) cell: the next state if allowed, else can() false and no change. */
function checkCell(actor: Actor<AnyStateMachine>, event: EventObject, expected: string, status: (value: unknown) => unknown = (v) => v): void {
  const before = observable(actor.getSnapshot());
  if (expected === 'error') {
    assert.equal(actor.getSnapshot().can(event), false);
    actor.send(event);
    assert.deepEqual(observable(actor.getSnapshot()), before, 'a refused event changes nothing');
  } else {
    assert.equal(actor.getSnapshot().can(event), true);
    actor.send(event);
    assert.equal(status(actor.getSnapshot().value), expected);
  }
}

type SandboxOp = 'running' | 'paused' | 'stopped' | 'deleted' | 'join';
const sandboxEvents: Record<SandboxOp, SandboxEvent> = {
  running: { type: 'root.running' },
  paused: { type: 'root.paused' },
  stopped: { type: 'root.stopped' },
  deleted: { type: 'root.deleted' },
  join: { type: 'member.joined', id: 'm1' },
};
const sandboxPaths: Record<SandboxStatus, SandboxOp[]> = {
  created: [],
  running: ['running'],
  paused: ['running', 'paused'],
  stopped: ['running', 'stopped'],
  removed: ['running', 'stopped', 'deleted'],
};
// The sandbox follows its root container (no members here); effects on members settle before the next step.
const sandboxTable: Record<SandboxStatus, Record<SandboxOp, SandboxStatus | 'error'>> = {
  created: { running: 'running', paused: 'paused', stopped: 'stopped', deleted: 'removed', join: 'error' },
  running: { running: 'error', paused: 'paused', stopped: 'stopped', deleted: 'removed', join: 'running' },
  paused: { running: 'running', paused: 'error', stopped: 'stopped', deleted: 'removed', join: 'error' },
  stopped: { running: 'error', paused: 'error', stopped: 'error', deleted: 'removed', join: 'error' },
  removed: { running: 'error', paused: 'error', stopped: 'error', deleted: 'error', join: 'error' },
};

const settled = (actor: Actor<typeof sandboxMachine>) => waitFor(actor, (s) => !sandboxSettling(s) || s.status !== 'active');

async function sandboxIn(state: SandboxStatus, machine: typeof sandboxMachine = sandboxMachine): Promise<Actor<typeof sandboxMachine>> {
  const actor = createActor(machine, { input: { id: 's1' } }).start();
  for (const op of sandboxPaths[state]) {
    actor.send(sandboxEvents[op]);
    await settled(actor);
  }
  assert.equal(actor.getSnapshot().value, state, `setup reached ${state}`);
  return actor;
}

for (const [from, row] of Object.entries(sandboxTable) as [SandboxStatus, Record<SandboxOp, string>][]) {
  for (const [op, expected] of Object.entries(row) as [SandboxOp, string][]) {
    test(`sandbox ${from} + ${op} → ${expected}`, async () => {
      const actor = await sandboxIn(from);
      const before = observable(actor.getSnapshot());
      if (expected === 'error') {
        assert.equal(actor.getSnapshot().can(sandboxEvents[op]), false);
        actor.send(sandboxEvents[op]);
        assert.deepEqual(observable(actor.getSnapshot()), before, 'a refused event changes nothing');
        return;
      }
      assert.equal(actor.getSnapshot().can(sandboxEvents[op]), true);
      actor.send(sandboxEvents[op]);
      await settled(actor);
      assert.equal(sandboxStatus(actor.getSnapshot()), expected);
    });
  }
}

/** The sandbox machine with its effects swapped for recorders: which members each effect was asked to act on. */
function recordingSandbox(fail: string[] = []) {
  const calls: Array<[string, string[]]> = [];
  const effect = (name: string) => fromPromise<MembersOutcome, { sandbox: string; members: string[] }>(async ({ input }) => {
    calls.push([name, input.members]);
    return { failed: input.members.filter((m) => fail.includes(m)).map((m) => `${m}: refused`) };
  });
  const machine = sandboxMachine.provide({ actors: { pauseMembers: effect('pause'), resumeMembers: effect('resume'), stopMembers: effect('stop') } });
  return { machine, calls };
}

test('sandbox: members join only while running; pause, resume and stop of the root reach every member', async () => {
  const { machine, calls } = recordingSandbox(['m2']);
  const actor = await sandboxIn('running', machine);
  actor.send({ type: 'member.joined', id: 'm1' });
  actor.send({ type: 'member.joined', id: 'm2' });
  actor.send({ type: 'member.joined', id: 'm1' });
  assert.deepEqual(actor.getSnapshot().context.members, ['m1', 'm2'], 'a member joins once');
  assert.equal(actor.getSnapshot().can({ type: 'member.joined', id: 's1' }), false, 'the root is no member of its own sandbox');

  actor.send({ type: 'root.paused' });
  assert.equal(actor.getSnapshot().value, 'pausing');
  assert.equal(actor.getSnapshot().can({ type: 'member.joined', id: 'm3' }), false, 'no member joins a pausing sandbox');
  await settled(actor);
  assert.equal(actor.getSnapshot().value, 'paused');
  assert.equal(actor.getSnapshot().can({ type: 'member.joined', id: 'm3' }), false, 'no member joins a paused sandbox');
  actor.send({ type: 'root.running' });
  await settled(actor);
  actor.send({ type: 'member.left', id: 'm1' });
  actor.send({ type: 'root.stopped' });
  await settled(actor);
  assert.deepEqual(calls, [['pause', ['m1', 'm2']], ['resume', ['m1', 'm2']], ['stop', ['m2']]]);
  assert.deepEqual(actor.getSnapshot().context.errors, ['m2: refused', 'm2: refused', 'm2: refused'], 'what an effect could not do is kept');
  assert.equal(actor.getSnapshot().can({ type: 'member.joined', id: 'm3' }), false, 'no member joins a stopped sandbox');

  // Removed with its last container, whichever goes last.
  actor.send({ type: 'root.deleted' });
  assert.equal(actor.getSnapshot().value, 'stopped', 'a member is left');
  actor.send({ type: 'member.left', id: 'm2' });
  assert.equal(actor.getSnapshot().value, 'removed');
  assert.equal(actor.getSnapshot().status, 'done');
});

test('sandbox: a root deleted while running stops its members first; a re-adopted sandbox starts with its members', async () => {
  const { machine, calls } = recordingSandbox();
  const actor = await sandboxIn('running', machine);
  actor.send({ type: 'member.joined', id: 'm1' });
  actor.send({ type: 'root.deleted' });
  await settled(actor);
  assert.deepEqual(calls, [['stop', ['m1']]]);
  assert.equal(actor.getSnapshot().value, 'stopped');
  actor.send({ type: 'member.left', id: 'm1' });
  assert.equal(actor.getSnapshot().status, 'done');

  const adopted = createActor(machine, { input: { id: 's2', members: ['a', 'b'], rootPresent: false } }).start();
  adopted.send({ type: 'root.deleted' });
  await settled(adopted);
  assert.deepEqual(calls.at(-1), ['stop', ['a', 'b']], 'members of a sandbox whose root is gone are stopped');
  adopted.send({ type: 'member.left', id: 'a' });
  adopted.send({ type: 'member.left', id: 'b' });
  assert.equal(adopted.getSnapshot().status, 'done');
});

/** What the container tells its gofer (its OCI status), and what else the gofer takes. */
type GoferOp = `follow ${ContainerStatus}` | 'stop' | 'failed' | 'read' | 'write';
const follow = (status: ContainerStatus): GoferEvent => ({ type: 'gofer.follow', status });
const goferEvents: Record<GoferOp, GoferEvent> = {
  read: { type: 'gofer.file', op: 'read' },
  write: { type: 'gofer.file', op: 'write' },
  'follow creating': follow('creating'),
  'follow created': follow('created'),
  'follow running': follow('running'),
  'follow paused': follow('paused'),
  'follow stopped': follow('stopped'),
  'follow deleted': follow('deleted'),
  stop: { type: 'gofer.stop' },
  failed: { type: 'gofer.failed', error: 'mount destination escapes the rootfs' },
};
const goferPaths: Record<GoferStatus, GoferOp[]> = {
  created: [],
  running: ['follow created'],
  paused: ['follow created', 'follow paused'],
  stopped: ['follow created', 'stop'],
};
// By hand, from docs/LIFECYCLE.md ("Gofer"): it serves once its container is created, running
// (run's start at once: creating → running) or stopped; holds writes while it is paused; stops
// once it is deleted. What goes backwards, or says where it is already, is not taken.
const goferTable: Record<GoferStatus, Record<GoferOp, GoferStatus | 'error'>> = {
  created: {
    'follow creating': 'error', 'follow created': 'running', 'follow running': 'running', 'follow paused': 'paused', 'follow stopped': 'running', 'follow deleted': 'stopped',
    stop: 'stopped', failed: 'stopped', read: 'created', write: 'created',
  },
  running: {
    'follow creating': 'error', 'follow created': 'error', 'follow running': 'error', 'follow paused': 'paused', 'follow stopped': 'error', 'follow deleted': 'stopped',
    stop: 'stopped', failed: 'stopped', read: 'running', write: 'running',
  },
  // follow stopped while paused: the container stopped frozen (its held writes fail)
  paused: {
    'follow creating': 'error', 'follow created': 'error', 'follow running': 'running', 'follow paused': 'error', 'follow stopped': 'running', 'follow deleted': 'stopped',
    stop: 'stopped', failed: 'stopped', read: 'paused', write: 'paused',
  },
  stopped: {
    'follow creating': 'error', 'follow created': 'error', 'follow running': 'error', 'follow paused': 'error', 'follow stopped': 'error', 'follow deleted': 'error',
    stop: 'error', failed: 'error', read: 'error', write: 'error',
  },
};

function goferIn(state: GoferStatus): Actor<typeof goferMachine> {
  const actor = createActor(goferMachine, { input: { id: ID } }).start();
  for (const op of goferPaths[state]) actor.send(goferEvents[op]);
  assert.equal(actor.getSnapshot().value, state, `setup reached ${state}`);
  return actor;
}

for (const [from, row] of Object.entries(goferTable) as [GoferStatus, Record<GoferOp, string>][]) {
  for (const [op, expected] of Object.entries(row) as [GoferOp, string][]) {
    test(`gofer ${from} + ${op} → ${expected}`, () => checkCell(goferIn(from), goferEvents[op], expected));
  }
}

test('gofer file operations: served now, or a write held while paused; refused while it works and once stopped', async () => {
  const answers = (actor: Actor<typeof goferMachine>, op: 'read' | 'write' | 'stat') => {
    const seen: boolean[] = [];
    const sub = actor.on('gofer.fileServe', (e) => seen.push(e.held));
    actor.send({ type: 'gofer.file', op });
    sub.unsubscribe();
    return seen;
  };
  for (const [state, held] of [['created', false], ['running', false], ['paused', true]] as const) {
    const actor = goferIn(state);
    assert.deepEqual(answers(actor, 'read'), [false], `read in ${state}`);
    assert.deepEqual(answers(actor, 'stat'), [false], `stat in ${state}`);
    assert.deepEqual(answers(actor, 'write'), [held], `write in ${state}`);
    assert.equal(actor.getSnapshot().value, state);
  }
  assert.deepEqual(answers(goferIn('stopped'), 'read'), [], 'stopped: refused, nothing emitted');
  // While it validates (or prepares, or undoes), no file operation is taken.
  const slow = createActor(goferMachine.provide({ actors: { validateBundle: fromPromise(() => new Promise(() => undefined)) } }), { input: { id: ID } }).start();
  slow.send({ type: 'gofer.validate', bundle: '/b' });
  assert.equal(slow.getSnapshot().value, 'validating');
  assert.equal(slow.getSnapshot().can({ type: 'gofer.file', op: 'read' }), false);
  slow.stop();
});

test('gofer: leaving paused, the held writes are written once the container runs again, failed otherwise; elsewhere nothing is said of them', () => {
  const said = (state: GoferStatus, event: GoferEvent) => {
    const actor = goferIn(state);
    const seen: boolean[] = [];
    const sub = actor.on('gofer.held', (e) => seen.push(e.write));
    actor.send(event);
    sub.unsubscribe();
    return seen;
  };
  assert.deepEqual(said('paused', follow('running')), [true], 'thawed: written');
  for (const op of ['follow stopped', 'follow deleted', 'stop', 'failed'] as const) assert.deepEqual(said('paused', goferEvents[op]), [false], `${op} while paused: failed`);
  assert.deepEqual(said('paused', { type: 'gofer.undo' }), [false], 'undo while paused: failed');
  assert.deepEqual(said('paused', goferEvents.read), [], 'a read while paused says nothing of them');
  for (const [state, op] of [['created', 'follow running'], ['created', 'follow stopped'], ['running', 'follow paused'], ['running', 'follow deleted'], ['running', 'stop']] as const) {
    assert.deepEqual(said(state, goferEvents[op]), [], `${state} + ${op}: none held`);
  }
});

test('gofer failure during create stops it with the error kept', () => {
  const actor = goferIn('created');
  assert.equal(actor.getSnapshot().context.error, null);
  actor.send({ type: 'gofer.failed', error: 'config.json: no such file' });
  assert.equal(actor.getSnapshot().value, 'stopped');
  assert.deepEqual(actor.getSnapshot().context, { id: ID, error: 'config.json: no such file', validated: false });
});

test('gofer work is invoked: validating, preparing and undoing settle where LIFECYCLE says; a failure stops it with the reason', async () => {
  const seen: unknown[] = [];
  const machine = goferMachine.provide({
    actors: {
      validateBundle: fromPromise<unknown, unknown>(async ({ input }) => { seen.push(input); }),
      preparePlan: fromPromise<unknown, unknown>(async () => { throw new Error('mount destination /x escapes the rootfs'); }),
      undoFiles: fromPromise<unknown, unknown>(async () => { seen.push('undo'); }),
    },
  });
  const actor = createActor(machine, { input: { id: ID } }).start();
  const idle = () => waitFor(actor, (s) => !goferBusy(s));
  assert.equal(actor.getSnapshot().can({ type: 'gofer.prepare', input: {} }), false, 'nothing to prepare before the bundle is validated');
  actor.send({ type: 'gofer.validate', bundle: '/bundle' });
  assert.equal(goferStatus(actor.getSnapshot()), 'created', 'validating is still created');
  await idle();
  assert.deepEqual([actor.getSnapshot().value, actor.getSnapshot().context.validated, seen], ['created', true, ['/bundle']]);
  actor.send({ type: 'gofer.prepare', input: {} });
  await idle();
  assert.deepEqual([actor.getSnapshot().value, actor.getSnapshot().context.error], ['stopped', 'mount destination /x escapes the rootfs']);
  actor.send({ type: 'gofer.undo' });
  assert.equal(goferStatus(actor.getSnapshot()), 'stopped');
  await idle();
  assert.deepEqual(seen, ['/bundle', 'undo'], 'a failed create is undone');
});

type ProcessOp = 'start' | 'pause' | 'resume' | 'exited';
const processEvents: Record<ProcessOp, ProcessEvent> = {
  start: { type: 'process.start' },
  pause: { type: 'process.pause' },
  resume: { type: 'process.resume' },
  exited: { type: 'process.exited', exitStatus: 0 },
};
const processPaths: Record<ProcessStatus, ProcessOp[]> = {
  created: [],
  running: ['start'],
  paused: ['start', 'pause'],
  stopped: ['start', 'exited'],
};
const processTable: Record<ProcessStatus, Record<ProcessOp, ProcessStatus | 'error'>> = {
  created: { start: 'running', pause: 'error', resume: 'error', exited: 'stopped' },
  running: { start: 'error', pause: 'paused', resume: 'error', exited: 'stopped' },
  paused: { start: 'error', pause: 'error', resume: 'running', exited: 'stopped' },
  stopped: { start: 'error', pause: 'error', resume: 'error', exited: 'error' },
};

function processIn(state: ProcessStatus): Actor<typeof processMachine> {
  const actor = createActor(processMachine, { input: { role: 'exec' } }).start();
  for (const op of processPaths[state]) actor.send(processEvents[op]);
  assert.equal(processStatus(actor.getSnapshot()), state, `setup reached ${state}`);
  return actor;
}

const lifeOf = (value: unknown) => (value as { life: string }).life;

for (const [from, row] of Object.entries(processTable) as [ProcessStatus, Record<ProcessOp, string>][]) {
  for (const [op, expected] of Object.entries(row) as [ProcessOp, string][]) {
    test(`process ${from} + ${op} → ${expected}`, () => checkCell(processIn(from), processEvents[op], expected, lifeOf));
  }
}

test('process records its pid, role and exit status', () => {
  const init = createActor(processMachine, { input: { role: 'init', pid: 4242 } }).start();
  assert.deepEqual(init.getSnapshot().context, { pid: 4242, exitStatus: null, role: 'init', seq: 0, outcome: null });
  init.send({ type: 'process.start' });
  init.send({ type: 'process.exited', exitStatus: 128 + SIGTERM });
  assert.deepEqual(init.getSnapshot().context, { pid: 4242, exitStatus: 143, role: 'init', seq: 0, outcome: null });

  const exec = createActor(processMachine, { input: { role: 'exec' } }).start();
  assert.equal(exec.getSnapshot().context.pid, null);
  exec.send({ type: 'process.start', pid: 77 });
  assert.deepEqual(exec.getSnapshot().context, { pid: 77, exitStatus: null, role: 'exec', seq: 0, outcome: null });
});

test('process: a request to its monitor is an in-between state of its monitor region, whatever its life; the answer is the outcome', async () => {
  const calls: string[] = [];
  const machine = processMachine.provide({ actors: {
    attachMonitor: fromPromise(async ({ input }) => { calls.push(`attach ${(input as { socket: string }).socket}`); return { pid: 1, initPid: 2, state: 'created' }; }),
    signalProcess: fromPromise<unknown, unknown>(async () => { throw Object.assign(new Error('no such process'), { code: 'kill_failed' }); }) as never,
  } });
  const p = createActor(machine, { input: { role: 'init' } }).start();
  p.send({ type: 'monitor.attach', socket: '/s', expectedPid: null });
  assert.deepEqual(p.getSnapshot().value, { life: 'created', monitor: 'attaching' });
  assert.equal(p.getSnapshot().can({ type: 'monitor.gate' }), false, 'one request at a time');
  p.send({ type: 'process.start', pid: 2 }); // facts go on meanwhile
  await waitFor(p, (s) => monitorIdle(s));
  assert.equal(processStatus(p.getSnapshot()), 'running');
  assert.deepEqual(p.getSnapshot().context.outcome, { seq: 1, ok: true, value: { pid: 1, initPid: 2, state: 'created' } });
  p.send({ type: 'monitor.signal', signal: 15 });
  await waitFor(p, (s) => monitorIdle(s));
  assert.deepEqual(p.getSnapshot().context.outcome, { seq: 2, ok: false, code: 'kill_failed', message: 'no such process' });
  assert.deepEqual(calls, ['attach /s']);
});
