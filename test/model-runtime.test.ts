// Model-based testing against the real runtime: every simple path through the container
// machine (xstate/graph, each operation settled by its effects' answers: test/helpers/
// container-model.ts) is replayed with the CLI on a real container, and after every step the
// runtime's state must be the machine's. Wherever the machine accepts them, operations whose
// effect fails for real (a kill of a process not in the container, an exec into a cgroup that
// is not there) must fail and leave the state as the model says. At the end of each path,
// every operation the machine refuses is tried for real: it must be refused with the
// machine's words and change nothing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { getInitialSnapshot } from 'xstate';
import { getSimplePaths } from 'xstate/graph';
import { containerMachine, containerStatus, refusal, type ContainerEvent } from '../src/machines/index.js';
import { modelKey, settledLogic, step as modelStep, type ModelEvent } from './helpers/container-model.js';
import { Sandbox, until } from './helpers/runa.js';

const sb = new Sandbox('model');
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

const EVENTS: ContainerEvent[] = [
  { type: 'container.created' }, { type: 'container.start' }, { type: 'container.pause' }, { type: 'container.resume' },
  { type: 'container.delete' }, { type: 'container.delete', force: true }, { type: 'process.exited', exitStatus: 137 },
];

/** The CLI call that performs a machine event on the real container. */
function cli(event: ContainerEvent, id: string, bundle: string): string[] {
  switch (event.type) {
    case 'container.created': return ['create', '-b', bundle, id];
    case 'container.start': return ['start', id];
    case 'container.pause': return ['pause', id];
    case 'container.resume': return ['resume', id];
    case 'container.delete': return event.force ? ['delete', '--force', id] : ['delete', id];
    case 'container.exec': return ['exec', id, 'true'];
    case 'container.kill': return ['kill', id, String(event.signal)];
    case 'process.exited': return ['kill', id, 'KILL']; // the init exits: make it so
    default: throw new Error(`no CLI call for ${event.type}`);
  }
}

async function realStatus(id: string): Promise<string> {
  const r = await sb.run(['state', id]);
  if (r.code !== 0) {
    assert.match(r.stderr, /container does not exist/);
    return 'deleted';
  }
  return JSON.parse(r.stdout).status;
}

// The runtime is never observably `creating` (create is one command): paths start with it.
const paths = getSimplePaths(settledLogic, { input: { id: 'model' }, events: EVENTS, serializeState: modelKey })
  .filter((p) => p.steps[1]?.event.type === 'container.created');

/** Operations whose effect fails for real, with the CLI call that makes it fail and runc's exit status. */
const FAILING: Array<{ event: ModelEvent; cli: (id: string) => string[]; why: RegExp }> = [
  { event: { type: 'container.kill', signal: 9, pid: 999999, fail: 'signal' }, cli: (id) => ['kill', '--pid', '999999', id, 'KILL'], why: /container not running|is not in container/ },
  { event: { type: 'container.exec', fail: 'prepareExec' }, cli: (id) => ['exec', '--cgroup', 'no-such-sub', id, 'true'], why: /cgroup .*no-such-sub does not exist/ },
];

test('the model yields paths through every state the runtime can be in', () => {
  assert.ok(paths.length >= 20, `${paths.length} paths`);
  const reached = new Set(paths.map((p) => containerStatus(p.state)));
  for (const s of ['created', 'running', 'paused', 'stopped', 'deleted']) assert.ok(reached.has(s as never), s);
});

test('every simple path of the container machine replays on the real runtime', async () => {
  const bundle = await sb.bundle(['sleep', '1000']);
  let n = 0;
  for (const path of paths) {
    const id = `m${++n}`;
    let model = getInitialSnapshot(containerMachine, { id });
    const trail: string[] = [];
    for (const step of path.steps) {
      const event = step.event as ContainerEvent;
      if ((event.type as string) === 'xstate.init') continue;
      trail.push(event.type.replace('container.', '') + ('force' in event && event.force ? ' --force' : ''));
      const r = await sb.run(cli(event, id, bundle));
      assert.equal(r.code, 0, `${id} ${trail.join(' → ')}: ${r.stderr}`);
      model = modelStep(model, event);
      const expected = containerStatus(model);
      if (event.type === 'process.exited') await until(async () => (await realStatus(id)) === 'stopped', `${id} stopped`);
      assert.equal(await realStatus(id), expected, `${id} ${trail.join(' → ')}`);
      // exec is a self-loop (never on a simple path): wherever it is allowed, it must work.
      if (model.can({ type: 'container.exec' })) {
        const e = await sb.run(cli({ type: 'container.exec' }, id, bundle));
        assert.equal(e.code, 0, `${id} exec in ${expected}: ${e.stderr}`);
      }
      // So are failing effects: wherever the machine takes the operation, its failure is the answer, and the model says where it leaves the container.
      for (const f of FAILING) {
        if (refusal(model, f.event) !== null) continue;
        const failed = await sb.run(f.cli(id));
        assert.notEqual(failed.code, 0, `${id} ${trail.join(' → ')}: ${f.event.type} must fail`);
        assert.match(failed.stderr, f.why, `${id} ${trail.join(' → ')}: ${f.event.type}`);
        assert.equal(await realStatus(id), containerStatus(modelStep(model, f.event)), `${id}: a failed ${f.event.type} leaves it as the model says`);
      }
    }
    const snap = model;
    const final = containerStatus(snap);
    if (final !== 'deleted') {
      for (const probe of [...EVENTS.filter((e) => e.type !== 'process.exited' && e.type !== 'container.created'),
        { type: 'container.exec' } as const, { type: 'container.kill', signal: 15 } as const]) {
        const why = refusal(snap, probe);
        if (!why) continue;
        const r = await sb.run(cli(probe, id, bundle));
        // runc's status: 255 for a refused exec, 1 for every other refusal.
        assert.equal(r.code, probe.type === 'container.exec' ? 255 : 1, `${id} ${trail.join(' → ')}: ${probe.type} must be refused`);
        assert.equal(r.stderr.trim(), why.message, `${id} ${trail.join(' → ')}: ${probe.type}`);
        assert.equal(await realStatus(id), final, `${id}: a refused ${probe.type} changes nothing`);
      }
      // What the daemon recorded of it is a trace the machines allow (runa debug --check).
      const check = await sb.run(['debug', '--check', id]);
      assert.equal(check.code, 0, `${id} ${trail.join(' → ')}: ${check.stdout}${check.stderr}`);
      assert.match(check.stdout, /recorded steps, each one the machines allow/);
      assert.equal((await sb.run(['delete', '--force', id])).code, 0);
    }
  }
});
