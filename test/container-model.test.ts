import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, fromPromise, getInitialSnapshot, waitFor } from 'xstate';
import { getAdjacencyMap, getSimplePaths } from 'xstate/graph';
import { CONTAINER_EFFECT_KEYS, containerMachine, containerStatus, defaultOutput, fileRoot, isSettled, refusal, type ContainerStatus, type FileRoot } from '../src/machines/index.js';
import { effectFailure, modelKey, settledLogic, step, type ModelEvent } from './helpers/container-model.js';

// Model-based test: every simple path through the container machine (each operation settled by
// its effects' answers, a failing effect included), over a finite set of events, is replayed on
// a fresh actor that runs the effects as actors, and checked against docs/LIFECYCLE.md's table
// written out again here, independently of the machine. A failed operation leaves the
// container where it was (start's failure: the init is killed, and its exit follows).

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
  | 'init exits'
  | 'file'
  | 'start fails'
  | 'pause fails'
  | 'resume fails'
  | 'kill fails'
  | 'exec fails'
  | 'delete --force fails';

const events: Record<Op, ModelEvent> = {
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
  // A file operation: answered where it is served, and nothing moves.
  file: { type: 'container.file', op: 'write' },
  'start fails': { type: 'container.start', fail: 'start' },
  'pause fails': { type: 'container.pause', fail: 'freeze' },
  'resume fails': { type: 'container.resume', fail: 'resume' },
  // SIGKILL: its effect always runs (a SIGTERM to a paused container is only queued).
  'kill fails': { type: 'container.kill', signal: 9, fail: 'signal' },
  'exec fails': { type: 'container.exec', fail: 'prepareExec' },
  'delete --force fails': { type: 'container.delete', force: true, fail: 'prepareDelete' },
};

/** What a failing effect's operation leaves: the container where it was, where the operation is allowed. */
const FAILS: Partial<Record<Op, Op>> = {
  'start fails': 'start', 'pause fails': 'pause', 'resume fails': 'resume', 'kill fails': 'kill', 'exec fails': 'exec', 'delete --force fails': 'delete --force',
};

type Next = ContainerStatus | 'error';

const lifecycle = {
  creating: {
    created: 'created', start: 'error', kill: 'error', 'kill SIGKILL': 'error', 'kill --all': 'error',
    pause: 'error', resume: 'error', exec: 'error', delete: 'error', 'delete --force': 'deleted', 'init exits': 'stopped', file: 'creating',
  },
  created: {
    created: 'error', start: 'running', kill: 'created', 'kill SIGKILL': 'created', 'kill --all': 'created',
    pause: 'paused', resume: 'error', exec: 'created', delete: 'deleted', 'delete --force': 'deleted', 'init exits': 'stopped', file: 'created',
  },
  running: {
    created: 'error', start: 'error', kill: 'running', 'kill SIGKILL': 'running', 'kill --all': 'running',
    pause: 'paused', resume: 'error', exec: 'running', delete: 'error', 'delete --force': 'deleted', 'init exits': 'stopped', file: 'running',
  },
  paused: {
    created: 'error', start: 'error', kill: 'paused', 'kill SIGKILL': 'paused', 'kill --all': 'paused',
    pause: 'error', resume: 'running', exec: 'error', delete: 'error', 'delete --force': 'deleted', 'init exits': 'stopped', file: 'paused',
  },
  stopped: {
    created: 'error', start: 'error', kill: 'error', 'kill SIGKILL': 'error', 'kill --all': 'stopped',
    pause: 'error', resume: 'error', exec: 'error', delete: 'deleted', 'delete --force': 'deleted', 'init exits': 'error', file: 'stopped',
  },
  deleted: {
    created: 'error', start: 'error', kill: 'error', 'kill SIGKILL': 'error', 'kill --all': 'error',
    pause: 'error', resume: 'error', exec: 'error', delete: 'error', 'delete --force': 'error', 'init exits': 'error', file: 'error',
  },
} as Record<ContainerStatus, Record<Op, Next>>;

/** Where a file operation is served in each state (LIFECYCLE, "Container"): inside the live container's root, or in the bundle's rootfs. */
const FILE_ROOTS: Record<ContainerStatus, FileRoot | null> = { creating: 'bundle', created: 'live', running: 'live', paused: 'live', stopped: 'bundle', deleted: null };

for (const [state, row] of Object.entries(lifecycle) as [ContainerStatus, Record<Op, Next>][]) {
  for (const [failing, op] of Object.entries(FAILS) as [Op, Op][]) row[failing] = row[op] === 'error' ? 'error' : state;
}

const ops = Object.keys(events) as Op[];

function opOf(event: ModelEvent): Op {
  const op = ops.find((candidate) => JSON.stringify(events[candidate]) === JSON.stringify(event));
  assert.ok(op, `path uses an event outside the model: ${JSON.stringify(event)}`);
  return op;
}

const paths = getSimplePaths(settledLogic, { input: { id: 'model' }, events: Object.values(events), serializeState: modelKey });

test('the model generates enough paths and reaches every state', () => {
  assert.ok(paths.length > 10, `only ${paths.length} paths`);
  const reached = new Set(paths.map((path) => containerStatus(path.state)));
  for (const state of Object.keys(lifecycle) as ContainerStatus[]) {
    assert.ok(reached.has(state), `no path reaches ${state}`);
  }
});

/** The machine with its effects as real actors, each answering after a turn of the event loop; `failing` names the one that fails. */
let failing: string | null = null;
const effects = Object.fromEntries(CONTAINER_EFFECT_KEYS.map((key) => [key, fromPromise(async () => {
  await new Promise((r) => setImmediate(r));
  if (failing === key) throw effectFailure(key);
  return defaultOutput(key);
})]));
const running = containerMachine.provide({ actors: effects as never });

/** Send one model step to a running actor and wait until it settles. */
async function perform(actor: ReturnType<typeof createActor<typeof running>>, event: ModelEvent): Promise<void> {
  const { fail, ...e } = event;
  failing = fail ?? null;
  actor.send(e as never);
  await waitFor(actor, (s) => isSettled(s as never) || s.status === 'done');
  failing = null;
}

/** A file operation, beside the lifecycle: the machine's emitted answer is the table's (and the pure step's), and nothing moves. */
function checkFile(actor: ReturnType<typeof createActor<typeof running>>, trail: string[]): void {
  const before = actor.getSnapshot();
  const from = containerStatus(before);
  const roots: FileRoot[] = [];
  const sub = actor.on('container.fileRoot', (e) => roots.push(e.root));
  actor.send(events.file as never);
  sub.unsubscribe();
  assert.deepEqual(roots, FILE_ROOTS[from] ? [FILE_ROOTS[from]] : [], `${trail.join(' → ')}: file in ${from}`);
  assert.equal(fileRoot(before, 'write'), FILE_ROOTS[from], `${trail.join(' → ')}: fileRoot in ${from}`);
  assert.deepEqual([actor.getSnapshot().value, actor.getSnapshot().context], [before.value, before.context], `${trail.join(' → ')}: file moves nothing`);
}

test('every simple path replays by the LIFECYCLE rules, on an actor whose effects run', async () => {
  for (const path of paths) {
    const actor = createActor(running, { input: { id: 'model' } }).start();
    const trail: string[] = [containerStatus(actor.getSnapshot())];
    for (const s of path.steps) {
      // A path of no steps carries the initial state under a synthetic init event.
      const type: string = s.event.type;
      if (type === 'xstate.init') continue;

      const from = containerStatus(actor.getSnapshot());
      // Every event the model knows, allowed or not, is answered by the table here.
      for (const op of ops) {
        assert.equal(actor.getSnapshot().can(events[op]), lifecycle[from][op] !== 'error', `${trail.join(' → ')}: can(${op}) in ${from}`);
        assert.equal(refusal(actor.getSnapshot(), events[op]) === null, lifecycle[from][op] !== 'error', `${trail.join(' → ')}: refusal(${op}) in ${from}`);
      }

      checkFile(actor, trail);
      const op = opOf(s.event);
      const expected = lifecycle[from][op];
      trail.push(op);
      assert.notEqual(expected, 'error', `${trail.join(' → ')}: the machine took a refused step`);
      const seq = actor.getSnapshot().context.seq;
      await perform(actor, s.event);
      const now = actor.getSnapshot();
      assert.equal(containerStatus(now), expected, trail.join(' → '));
      assert.equal(containerStatus(now), containerStatus(s.state), `${trail.join(' → ')}: graph`);
      // Every operation has its answer: the effect's error for a failing one.
      if (s.event.type !== 'process.exited' && s.event.type !== 'container.file') {
        assert.equal(now.context.outcome?.seq, seq + 1, `${trail.join(' → ')}: answered`);
        assert.deepEqual(now.context.outcome?.ok ? null : { code: now.context.outcome?.code, message: now.context.outcome?.message }, s.event.fail ? effectFailure(s.event.fail) : null);
      }
    }
    checkFile(actor, trail);
    assert.equal(containerStatus(actor.getSnapshot()), containerStatus(path.state), trail.join(' → '));
    assert.equal(modelKey(actor.getSnapshot()), modelKey(path.state), trail.join(' → '));
  }
});

test('a refused step from any reached state changes nothing', () => {
  for (const path of paths) {
    const state = containerStatus(path.state);
    if (path.state.status !== 'active') continue;
    for (const op of ops.filter((candidate) => lifecycle[state][candidate] === 'error')) {
      const before: { value: unknown; context: unknown } = { value: path.state.value, context: path.state.context };
      const after = step(path.state, events[op]);
      assert.deepEqual({ value: after.value, context: after.context }, before, `${op} in ${state}`);
    }
  }
});

test('every transition of every state the operations reach is one the table allows (the adjacency map)', () => {
  const adj = getAdjacencyMap(settledLogic, { input: { id: 'model' }, events: Object.values(events), serializeState: modelKey });
  let edges = 0;
  for (const { state, transitions } of Object.values(adj)) {
    assert.ok(isSettled(state) || state.status === 'done', `a step ends settled: ${JSON.stringify(state.value)}`);
    const from = containerStatus(state);
    for (const { event, state: to } of Object.values(transitions) as Array<{ event: ModelEvent; state: typeof state }>) {
      const expected = lifecycle[from][opOf(event)];
      assert.equal(containerStatus(to), expected === 'error' ? from : expected, `${from} + ${opOf(event)}`);
      edges++;
    }
  }
  assert.ok(edges > 100, `${edges} transitions`);
});

test('the machine starts where the graph does', () => {
  assert.equal(containerStatus(getInitialSnapshot(containerMachine, { id: 'model' })), 'creating');
});
