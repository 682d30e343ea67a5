// The inspector page's model (ui/src/model.ts), without a browser: what the snapshot and
// the frames make of the actor tree, the timeline and time travel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Model, containerOf, stateName } from '../ui/src/model.js';

const actor = (address: string, parent: string | null, sessionId: string, machine: string, value: unknown) =>
  ({ address, parent, sessionId, machine, value, context: { id: address }, status: 'active' });

test('the model builds the tree from the snapshot and follows frames: new actors, states, ends', () => {
  const m = new Model();
  m.apply({ kind: 'snapshot', at: 1, definitions: { container: { id: 'container' } }, actors: [
    actor('sandbox:a', null, 'x0', 'sandbox', 'running'),
    actor('container:a', 'sandbox:a', 'x1', 'container', 'running'),
    actor('process:a/init', 'container:a', 'x2', 'process', 'running'),
    actor('gofer:a', 'container:a', 'x3', 'gofer', 'running'),
  ] });
  assert.deepEqual(m.tree().map((t) => `${'  '.repeat(t.depth)}${t.actor.address}`), [
    'sandbox:a', '  container:a', '    gofer:a', '    process:a/init',
  ]);
  // Stately's actor frame comes first, runa's says where it sits; then a snapshot moves it.
  const touched = m.apply({ kind: 'frames', frames: [
    { type: '@xstate.actor', sessionId: 'x9', snapshot: { value: 'created', context: { pid: 7 }, status: 'active' }, createdAt: '10' },
    { type: '@runa.actor', sessionId: 'x9', address: 'process:a/e1', parent: 'container:a', machine: 'process', createdAt: '10' },
    { type: '@xstate.event', sessionId: 'x9', sourceId: 'x1', event: { type: 'process.attach', socket: '/s' }, createdAt: '11' },
    { type: '@xstate.snapshot', sessionId: 'x9', snapshot: { value: 'running', context: { pid: 7 }, status: 'active' }, event: { type: 'process.start' }, createdAt: '12' },
    { type: '@xstate.microstep', _runa: 1, sessionId: 'x9', transitions: [{ eventType: 'process.start', source: 'process.created', targets: ['process.running'] }], createdAt: '12' },
    { type: '@runa.request', _runa: 1, request: 'container.exec', id: 'a', ms: 3, ok: true, error: null, createdAt: '13' },
    { type: '@xstate.snapshot', sessionId: 'unknown', snapshot: { value: 'x' }, createdAt: '14' },
  ] });
  assert.deepEqual([...touched], ['a']);
  const e1 = m.actors.get('process:a/e1')!;
  assert.equal(e1.value, 'running');
  assert.deepEqual(e1.last, { source: 'process.created', targets: ['process.running'], eventType: 'process.start', at: 12 });
  assert.deepEqual(m.timeline.map((e) => `${e.kind} ${e.from ?? '-'} → ${e.to ?? '-'} ${e.type}`), [
    'actor container:a → process:a/e1 actor.started',
    'message container:a → process:a/e1 process.attach',
    'transition created → running process.start',
    'request client → daemon container.exec',
  ]);
  assert.equal(m.timeline[1].detail, 'socket=/s');
  assert.equal(m.timeline[3].at, 10, 'a request is placed when it began');
  // Its end: greyed, then swept from the tree.
  m.apply({ kind: 'frames', frames: [{ type: '@runa.gone', _runa: 1, sessionId: 'x9', address: 'process:a/e1', createdAt: '20' }] });
  assert.equal(m.actors.get('process:a/e1')!.endedAt, 20);
  assert.equal(m.sweep(21), false);
  assert.equal(m.sweep(20 + 60_000), true);
  assert.equal(m.actors.has('process:a/e1'), false);
  // A gone frame of an older session of the same address leaves the new one alone.
  m.apply({ kind: 'frames', frames: [{ type: '@runa.gone', sessionId: 'old', address: 'container:a', createdAt: '30' }] });
  assert.equal(m.actors.get('container:a')!.endedAt, null);
});

test('time travel: an actor as it was after any entry of its container\'s history', () => {
  const m = new Model();
  m.apply({ kind: 'snapshot', at: 1, definitions: {}, actors: [actor('container:a', null, 's1', 'container', 'stopped')] });
  m.apply({ kind: 'history', id: 'a', events: [
    { at: 1, actor: 'gofer:a', kind: 'message', type: 'gofer.validate', from: 'container:a', to: 'gofer:a' },
    { at: 2, actor: 'container:a', kind: 'transition', type: 'container.created', from: 'creating', to: 'created', value: 'created', context: { n: 1 } },
    { at: 3, actor: 'container:a', kind: 'message', type: 'x', from: 'a', to: 'b' },
    { at: 4, actor: 'container:a', kind: 'transition', type: 'container.start', from: 'created', to: 'running', value: 'running', context: { n: 2 } },
  ] });
  assert.deepEqual(m.asOf('a', 'container:a', 0), { value: 'creating', context: null, step: null, known: true }, 'before its first transition: that transition\'s source');
  assert.equal(m.asOf('a', 'container:a', 1).step?.to, 'created');
  assert.deepEqual(m.asOf('a', 'container:a', 2), { value: 'created', context: { n: 1 }, step: null, known: true });
  assert.deepEqual(m.asOf('a', 'container:a', 3).context, { n: 2 });
  assert.equal(m.asOf('a', 'gofer:a', 3).known, false, 'no transition recorded: the live state');
});

test('names: a state value as one line, and the container an address concerns', () => {
  assert.equal(stateName('running'), 'running');
  assert.equal(stateName({ monitor: 'linked', gate: { open: 'yes' } }), 'monitor.linked, gate.open.yes');
  assert.equal(stateName(null), '');
  for (const [a, c] of [['container:x', 'x'], ['process:x/e1', 'x'], ['sandbox:p', 'p'], ['effects:x', 'x'], ['nothing', null], [null, null]] as const) assert.equal(containerOf(a), c);
});

test('what became of an actors\' message: a dead letter, a timeout or a failed reply is on the timeline; a good reply adds nothing', () => {
  const m = new Model();
  const touched = m.apply({ kind: 'frames', frames: [
    { type: '@runa.message', _runa: 1, kind: 'reply', message: 'gofer.prepare', from: 'container:b', to: 'gofer:b', ms: 1.2, ok: true, error: null, createdAt: '20' },
    { type: '@runa.message', _runa: 1, kind: 'dead-letter', message: 'member.left', from: 'container:b', to: 'sandbox:b', ms: null, ok: false, error: 'actor sandbox:b stopped: member.left refused', createdAt: '21' },
    { type: '@runa.message', _runa: 1, kind: 'timeout', message: 'process.gate', from: 'container:b', to: 'process:b/init', ms: 60000, ok: false, error: 'no reply within 60000 ms', createdAt: '22' },
  ] });
  assert.deepEqual([...touched], ['b']);
  assert.deepEqual(m.timeline.map((e) => `${e.kind} ${e.from} → ${e.to} ${e.type}: ${e.detail}`), [
    'message container:b → sandbox:b member.left dead-letter: actor sandbox:b stopped: member.left refused',
    'message container:b → process:b/init process.gate timeout: no reply within 60000 ms',
  ]);
});
