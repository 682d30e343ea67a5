import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { getSimplePaths } from 'xstate/graph';
import { containerMachine, containerStatus, type ContainerEvent, type ContainerStatus } from '../src/machines/index.js';

// Model-based test: every simple path through the container machine, over a finite set of
// events, is replayed on a fresh actor and checked against docs/LIFECYCLE.md's table written
// out again here, independently of the machine.

type Op =
  | 'created'
  | 'start'
  | 'kill'
  | 'kill SIGKILL'
  | 'kill --all'
  | 'pause'
  | 'resume'
  | 'exec'
  | 'delete'
  | 'delete --force'
  | 'init exits';

const events: Record<Op, ContainerEvent> = {
  created: { type: 'container.created' },
  start: { type: 'container.start' },
  kill: { type: 'container.kill', signal: 15 },
  'kill SIGKILL': { type: 'container.kill', signal: 9 },
  'kill --all': { type: 'container.kill', signal: 15, all: true },
  pause: { type: 'container.pause' },
  resume: { type: 'container.resume' },
  exec: { type: 'container.exec' },
  delete: { type: 'container.delete' },
  'delete --force': { type: 'container.delete', force: true },
  'init exits': { type: 'process.exited', exitStatus: 0 },
};

type Next = ContainerStatus | 'error';

const lifecycle: Record<ContainerStatus, Record<Op, Next>> = {
  creating: {
    created: 'created', start: 'error', kill: 'error', 'kill SIGKILL': 'error', 'kill --all': 'error',
    pause: 'error', resume: 'error', exec: 'error', delete: 'error', 'delete --force': 'deleted', 'init exits': 'stopped',
  },
  created: {
    created: 'error', start: 'running', kill: 'created', 'kill SIGKILL': 'created', 'kill --all': 'created',
    pause: 'paused', resume: 'error', exec: 'created', delete: 'deleted', 'delete --force': 'deleted', 'init exits': 'stopped',
  },
  running: {
    created: 'error', start: 'error', kill: 'running', 'kill SIGKILL': 'running', 'kill --all': 'running',
    pause: 'paused', resume: 'error', exec: 'running', delete: 'error', 'delete --force': 'deleted', 'init exits': 'stopped',
  },
  paused: {
    created: 'error', start: 'error', kill: 'paused', 'kill SIGKILL': 'paused', 'kill --all': 'paused',
    pause: 'error', resume: 'running', exec: 'error', delete: 'error', 'delete --force': 'deleted', 'init exits': 'stopped',
  },
  stopped: {
    created: 'error', start: 'error', kill: 'error', 'kill SIGKILL': 'error', 'kill --all': 'stopped',
    pause: 'error', resume: 'error', exec: 'error', delete: 'deleted', 'delete --force': 'deleted', 'init exits': 'error',
  },
  deleted: {
    created: 'error', start: 'error', kill: 'error', 'kill SIGKILL': 'error', 'kill --all': 'error',
    pause: 'error', resume: 'error', exec: 'error', delete: 'error', 'delete --force': 'error', 'init exits': 'error',
  },
};

const ops = Object.keys(events) as Op[];

function opOf(event: ContainerEvent): Op {
  const op = ops.find((candidate) => JSON.stringify(events[candidate]) === JSON.stringify(event));
  assert.ok(op, `path uses an event outside the model: ${JSON.stringify(event)}`);
  return op;
}

const paths = getSimplePaths(containerMachine, {
  input: { id: 'model' },
  events: Object.values(events),
  // Repeated SIGTERMs to a paused container grow pendingSignals without bound; the set
  // of queued signals is what matters, which keeps the graph finite.
  serializeState: (snapshot) =>
    JSON.stringify({
      value: snapshot.value,
      exitStatus: snapshot.context.exitStatus,
      pending: [...new Set(snapshot.context.pendingSignals)].sort((a, b) => a - b),
    }),
});

test('the model generates enough paths and reaches every state', () => {
  assert.ok(paths.length > 10, `only ${paths.length} paths`);
  const reached = new Set(paths.map((path) => containerStatus(path.state)));
  for (const state of Object.keys(lifecycle) as ContainerStatus[]) {
    assert.ok(reached.has(state), `no path reaches ${state}`);
  }
});

test('every simple path replays by the LIFECYCLE rules', () => {
  for (const path of paths) {
    const actor = createActor(containerMachine, { input: { id: 'model' } }).start();
    const trail: string[] = [containerStatus(actor.getSnapshot())];
    for (const step of path.steps) {
      // A path of no steps carries the initial state under a synthetic init event.
      const type: string = step.event.type;
      if (type === 'xstate.init') continue;

      const from = containerStatus(actor.getSnapshot());
      // Every event the model knows, allowed or not, is answered by the table here.
      for (const op of ops) {
        assert.equal(
          actor.getSnapshot().can(events[op]),
          lifecycle[from][op] !== 'error',
          `${trail.join(' → ')}: can(${op}) in ${from}`,
        );
      }

      const op = opOf(step.event);
      const expected = lifecycle[from][op];
      trail.push(op);
      assert.notEqual(expected, 'error', `${trail.join(' → ')}: the machine took a refused step`);
      actor.send(step.event);
      assert.equal(containerStatus(actor.getSnapshot()), expected, trail.join(' → '));
      assert.equal(containerStatus(actor.getSnapshot()), containerStatus(step.state), `${trail.join(' → ')}: graph`);
    }
    assert.equal(containerStatus(actor.getSnapshot()), containerStatus(path.state), trail.join(' → '));
    assert.deepEqual(actor.getSnapshot().context, path.state.context, trail.join(' → '));
  }
});

test('a refused step from any reached state changes nothing', () => {
  for (const path of paths) {
    const actor = createActor(containerMachine, { input: { id: 'model' } }).start();
    for (const step of path.steps) {
      const type: string = step.event.type;
      if (type !== 'xstate.init') actor.send(step.event);
    }
    const state = containerStatus(actor.getSnapshot());
    for (const op of ops.filter((candidate) => lifecycle[state][candidate] === 'error')) {
      const probe = createActor(containerMachine, {
        snapshot: actor.getPersistedSnapshot(),
        input: { id: 'model' },
      }).start();
      const before = { value: probe.getSnapshot().value, context: probe.getSnapshot().context };
      probe.send(events[op]);
      assert.deepEqual(
        { value: probe.getSnapshot().value, context: probe.getSnapshot().context },
        before,
        `${op} in ${state}`,
      );
    }
  }
});
