// Model-based testing of the gofer against the real runtime: every simple path through the
// gofer machine (xstate/graph over the machine itself, each event settled by its effect's
// answer, a failing one included: test/helpers/gofer-model.ts) is replayed on a real Gofer actor
// (src/actors/gofer-actor.ts, with its real effects) by its messages on the actors' bus: it
// validates a real bundle, writes a real plan into a real state dir, serves file operations in
// a real container's root (held while paused), stops, and undoes it all. After every step the
// gofer's machine must be where the model is, and at every step file operations must be
// refused, served or held as the model answers; effects fail for real (a bundle that is not
// there, a proc mount on a symlink, a file that is not there). At the end of each path, every
// event the model refuses changes nothing for real.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { getInitialSnapshot } from 'xstate';
import { goferMachine, goferStatus, type ContainerStatus, type GoferSnapshot } from '../src/machines/index.js';
import { ActorBus, type GoferPrepareInput } from '../src/actors/actor-bus.js';
import { GoferActor, goferAddress } from '../src/actors/gofer-actor.js';
import { readSpec } from '../src/oci/spec.js';
import { planFile } from '../src/paths.js';
import { hostCgroups } from '../src/cgroups/host.js';
import { fileAnswer, goferPaths, goferStep, type GoferModelEvent } from './helpers/gofer-model.js';
import { Sandbox } from './helpers/runa.js';

const sb = new Sandbox('gofer-model');
const CONTAINER = 'gm-live';
/** The real container whose root the gofer serves files in, and the bundles it validates. */
let liveRoot = '';
let bundle = '';
let good: GoferPrepareInput;
let bad: GoferPrepareInput;
const missing = () => path.join(sb.dir, 'no-such-bundle');

before(async () => {
  bundle = await sb.bundle(['sleep', '1000'], (s) => { s.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] }); });
  const r = await sb.run(['run', '-d', '-b', bundle, CONTAINER]);
  assert.equal(r.code, 0, r.stderr);
  liveRoot = `/proc/${JSON.parse((await sb.run(['state', CONTAINER])).stdout).pid}/root`;
  const spec = readSpec(bundle);
  good = { spec, hostCgroups: hostCgroups().mounts };
  // A proc mount on a symlink in the rootfs: refused when the gofer prepares (runc refuses it too).
  fs.symlinkSync('/', path.join(await sb.rootfs(), 'badproc'));
  bad = { spec: { ...spec, mounts: [...(spec.mounts ?? []), { destination: '/badproc', type: 'proc', source: 'proc' }] }, hostCgroups: hostCgroups().mounts };
});
after(async () => {
  await sb.run(['delete', '--force', CONTAINER]);
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

type Op = 'validate' | 'validate fails' | 'prepare' | 'prepare fails' | `follow ${ContainerStatus}` | 'stop' | 'undo';
/** Every status the container may tell its gofer (`gofer.follow`), each an event of the model. */
const STATUSES: ContainerStatus[] = ['creating', 'created', 'running', 'paused', 'stopped', 'deleted'];
const EVENTS = {
  validate: { type: 'gofer.validate', bundle: 'good' },
  'validate fails': { type: 'gofer.validate', bundle: 'missing', fail: true },
  prepare: { type: 'gofer.prepare', input: 'good' },
  'prepare fails': { type: 'gofer.prepare', input: 'bad', fail: true },
  ...Object.fromEntries(STATUSES.map((status) => [`follow ${status}`, { type: 'gofer.follow', status }])),
  stop: { type: 'gofer.stop' },
  undo: { type: 'gofer.undo' },
} as Record<Op, GoferModelEvent>;
const opOf = (e: GoferModelEvent) => (Object.keys(EVENTS) as Op[]).find((op) => JSON.stringify(EVENTS[op]) === JSON.stringify(e))!;

const paths = goferPaths(Object.values(EVENTS));

test('the gofer model yields paths through every state and every transition, its effects\' failures included', () => {
  const ends = paths.map((p) => p.reduce(goferStep, getInitialSnapshot(goferMachine, { id: 'model' })));
  for (const value of ['created', 'running', 'paused', 'stopped']) assert.ok(ends.some((s) => s.value === value), value);
  const taken = new Set(paths.flatMap((p) => p.map(opOf)));
  // Every event is taken somewhere but `creating`: a gofer is made for a container in creating,
  // so being told it is never a change (each path's end checks it is refused, changing nothing).
  assert.deepEqual([...taken].sort(), (Object.keys(EVENTS) as Op[]).filter((op) => op !== 'follow creating').sort(), 'every event is taken somewhere');
  // The loops a simple path never takes (prepare; thawed; stopped while frozen), and the jump
  // from created straight to running (run's start at once) with nothing before it.
  for (const [ops, what] of [[['prepare'], 'a prepare'], [['follow paused', 'follow running'], 'a thaw'], [['follow paused', 'follow stopped'], 'a stop while frozen'], [['follow running'], 'creating → running']] as const) {
    assert.ok(paths.some((p) => p.map(opOf).join().includes(ops.join())), what);
  }
  assert.ok(paths.some((p) => p.length === 1 && opOf(p[0]) === 'follow running'), 'created → running at once');
  assert.ok(paths.length >= 30, `${paths.length} paths`);
});

/** The real message for a model event. */
function message(e: GoferModelEvent, id: string) {
  const from = `container:${id}`;
  const to = goferAddress(id);
  switch (e.type) {
    case 'gofer.validate': return { type: e.type, from, to, bundle: e.bundle === 'good' ? bundle : missing() };
    case 'gofer.prepare': return { type: e.type, from, to, input: e.input === 'good' ? good : bad };
    case 'gofer.follow': return { type: e.type, from, to, status: e.status };
    default: return { type: e.type, from, to } as never;
  }
}

/** The error a failing effect gives for real. */
const FAILURE: Partial<Record<Op, RegExp>> = {
  'validate fails': /bundle .*no-such-bundle does not exist/,
  'prepare fails': /proc mount destination \/badproc is a symlink in the rootfs/,
};

/** The operations whose refusal is an error (the gofer's work); the others are facts it takes where its machine allows. */
const WORK = new Set(['gofer.validate', 'gofer.prepare', 'gofer.undo']);

test('every simple path of the gofer machine replays on a real Gofer actor: its state, its effects\' failures and its file operations are the model\'s', async () => {
  let n = 0;
  let held = 0;
  for (const events of paths) {
    const id = `gm${++n}`;
    const stateDir = path.join(sb.dir, 'gofers', id);
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const bus = new ActorBus();
    const gofer = new GoferActor(id, stateDir, null, { bus });
    let model = getInitialSnapshot(goferMachine, { id });
    const trail: string[] = [];
    const where = () => `${id} ${trail.join(' → ') || '(new)'}`;
    /** Writes held while paused, each waiting for its end. */
    let pending: Array<{ settled: Promise<{ ok: boolean; value: unknown }>; done: boolean }> = [];

    const expectAt = (m: GoferSnapshot) => {
      const s = gofer.actor.getSnapshot();
      assert.equal(s.value, m.value, `${where()}: the gofer's state`);
      assert.equal(gofer.status, goferStatus(m));
      assert.equal(s.context.validated, m.context.validated, `${where()}: validated`);
      assert.equal(s.context.error !== null, m.context.error !== null, `${where()}: failed`);
    };
    const file = (request: unknown) => bus.request({ type: 'gofer.file', from: `container:${id}`, to: goferAddress(id), request: request as never, root: liveRoot });
    /** File operations where the model is: refused, served now (a missing file fails, moving nothing), or a write held. */
    const files = async () => {
      for (const op of ['stat', 'read', 'write'] as const) {
        const answer = fileAnswer(model, op);
        const request = op === 'write' ? { op, path: `/tmp/${id}-${trail.length}`, data: Buffer.from(id).toString('base64') } : { op, path: op === 'stat' ? '/tmp' : '/etc/hostname' };
        if (answer === null) {
          await assert.rejects(file(request), new RegExp(`cannot ${op} file of gofer "${id}" in state ${goferStatus(model)}`), `${where()}: ${op} refused`);
        } else if (answer === 'now') {
          const r = await file(request) as Record<string, unknown>;
          if (op === 'write') assert.deepEqual(r, { written: id.length }, `${where()}: ${op}`);
          else assert.ok(op === 'stat' ? r.type === 'directory' : typeof r.data === 'string', `${where()}: ${op}`);
          // An effect that fails for real: a file that is not there. The gofer stays where it was.
          await assert.rejects(file({ op: 'read', path: `/tmp/${id}-missing` }), new RegExp(`read /tmp/${id}-missing in container "${id}": ENOENT`), where());
        } else {
          const entry = { settled: file(request).then((value) => ({ ok: true, value }), (value) => ({ ok: false, value })), done: false };
          void entry.settled.then(() => { entry.done = true; });
          pending.push(entry);
          held++;
        }
        expectAt(model);
      }
      // What is held stays held (a turn of the event loop later): nothing answered it yet.
      await new Promise((resolve) => setImmediate(resolve));
      if (model.matches('paused')) for (const w of pending) assert.equal(w.done, false, `${where()}: a write held while paused`);
    };

    expectAt(model);
    await files();
    for (const event of events) {
      const op = opOf(event);
      trail.push(op);
      const before = model;
      const r = await bus.request(message(event, id)).then((value) => ({ ok: true, value }), (value: Error) => ({ ok: false, value }));
      model = goferStep(model, event);
      if (FAILURE[op]) {
        assert.equal(r.ok, false, `${where()}: must fail`);
        assert.match((r.value as Error).message, FAILURE[op]!, where());
        assert.match(gofer.actor.getSnapshot().context.error ?? '', FAILURE[op]!, `${where()}: the gofer keeps why`);
      } else {
        assert.equal(r.ok, true, `${where()}: ${(r.value as Error)?.message}`);
      }
      expectAt(model);
      // Writes held while paused: written once its container runs again; failed once it stopped while frozen or was deleted, or the gofer stops or undoes.
      if (before.matches('paused') && !model.matches('paused')) {
        const outcomes = await Promise.all(pending.map((w) => w.settled));
        pending = [];
        for (const o of outcomes) {
          if (op === 'follow running') assert.deepEqual(o, { ok: true, value: { written: id.length } }, `${where()}: the held write lands`);
          else assert.match(String((o.value as Error).message), /the container stopped before it was thawed/, `${where()}: the held write fails`);
        }
      }
      if (op === 'undo') assert.equal(fs.existsSync(stateDir), false, `${where()}: the state dir is gone`);
      if (op === 'prepare') {
        assert.equal(r.value, planFile(stateDir), `${where()}: it answers the plan's path`);
        assert.ok(fs.statSync(planFile(stateDir)).size > 0, `${where()}: the plan is written`);
        assert.deepEqual(readSpec(stateDir).process.args, ['sleep', '1000'], `${where()}: the config is kept`);
      }
      await files();
    }
    // Every event the model refuses here changes nothing for real: the gofer's work is refused in its words, the facts are not taken.
    for (const op of Object.keys(EVENTS) as Op[]) {
      const e = EVENTS[op];
      const { fail: _f, ...plain } = e;
      if (model.status !== 'active' || model.can(plain as never)) continue;
      const r = await bus.request(message(e, id)).then(() => null, (x: Error) => x);
      if (WORK.has(e.type)) assert.match(r?.message ?? '', new RegExp(`cannot ${e.type.slice(6)} gofer "${id}" in state ${goferStatus(model)}`), `${where()}: ${op} refused`);
      else assert.equal(r, null, `${where()}: ${op} is a fact, not taken`);
      expectAt(model);
    }
    gofer.stop(); // leaves the bus: a write it still held fails
    for (const o of await Promise.all(pending.map((w) => w.settled))) assert.equal(o.ok, false, `${where()}: a held write fails when the gofer goes`);
    assert.equal(bus.size, 0);
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
  assert.ok(held > 0, 'some writes were held');
  console.log(`# ${paths.length} paths replayed, ${held} writes held`);
});
