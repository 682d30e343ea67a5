// Model-based testing of the companions against the real runtime: every simple path through
// the process machine's life (xstate/graph over the machine itself) is replayed on a real
// container's init with the CLI operations that cause each event, and after every step the
// init's actor (`runa debug --format json`) must be where the machine is, and the gofer where
// the container's state puts it (serving while created, running or stopped, holding writes
// while paused). A kill with a signal that does not exist is refused and moves nothing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { getInitialSnapshot, getNextSnapshot } from 'xstate';
import { getSimplePaths } from 'xstate/graph';
import { processMachine, processStatus, type ProcessEvent, type ProcessSnapshot } from '../src/machines/index.js';
import { Sandbox, until } from './helpers/runa.js';

const sb = new Sandbox('companions-model');
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

const EVENTS: ProcessEvent[] = [
  { type: 'process.start' }, { type: 'process.pause' }, { type: 'process.resume' }, { type: 'process.exited', exitStatus: 137 },
];

/** The CLI call that makes the init take each event. */
function cli(event: ProcessEvent, id: string): string[] {
  switch (event.type) {
    case 'process.start': return ['start', id];
    case 'process.pause': return ['pause', id];
    case 'process.resume': return ['resume', id];
    case 'process.exited': return ['kill', id, 'KILL'];
    default: throw new Error(`no CLI call for ${event.type}`);
  }
}

interface Debug { processes: Array<{ address: string; value: string }>; gofer: { value: string }; status: string }
async function debug(id: string): Promise<Debug> {
  const r = await sb.run(['debug', '--format', 'json', id]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Debug;
}

/** Where the gofer is for a process life (the container's state follows the init's). */
const goferFor: Record<string, string> = { created: 'running', running: 'running', paused: 'paused', stopped: 'running' };

const paths = getSimplePaths(processMachine, {
  input: { role: 'init' }, events: EVENTS, serializeState: (s) => processStatus(s as ProcessSnapshot),
});

test('the process model yields paths through every state of its life', () => {
  const reached = new Set(paths.map((p) => processStatus(p.state as ProcessSnapshot)));
  for (const s of ['created', 'running', 'paused', 'stopped']) assert.ok(reached.has(s as never), s);
  assert.ok(paths.length >= 4, `${paths.length} paths`);
});

test('every simple path of the process machine replays on a real container\'s init and gofer', async () => {
  const bundle = await sb.bundle(['sleep', '1000']);
  let n = 0;
  for (const path of paths) {
    const id = `pm${++n}`;
    assert.equal((await sb.run(['create', '-b', bundle, id])).code, 0);
    let model = getInitialSnapshot(processMachine, { role: 'init' });
    const trail: string[] = ['created'];
    const expectAt = async () => {
      const life = processStatus(model);
      await until(async () => (await debug(id)).processes[0].value === life, `${id} ${trail.join(' → ')}: the init ${life}`);
      // The gofer is told the container's status (gofer.follow) as the init is: stopped (from
      // paused too: stopped while frozen), it serves the bundle's rootfs.
      await until(async () => (await debug(id)).gofer.value === goferFor[life], `${id} ${trail.join(' → ')}: the gofer ${goferFor[life]}`);
      const d = await debug(id);
      assert.equal(d.processes[0].address, `process:${id}/init`);
      assert.equal(d.gofer.value, goferFor[life], `${id} ${trail.join(' → ')}: the gofer`);
    };
    await expectAt();
    for (const step of path.steps) {
      const event = step.event as ProcessEvent;
      if ((event.type as string) === 'xstate.init') continue;
      trail.push(event.type.replace('process.', ''));
      const r = await sb.run(cli(event, id));
      assert.equal(r.code, 0, `${id} ${trail.join(' → ')}: ${r.stderr}`);
      model = getNextSnapshot(processMachine, model, event);
      await expectAt();
    }
    // Bad input (a signal number past the last) is refused and moves nothing.
    if (processStatus(model) === 'running') {
      const bad = await sb.run(['kill', id, '65']);
      assert.notEqual(bad.code, 0);
      await expectAt();
    }
    assert.equal((await sb.run(['delete', '--force', id])).code, 0);
  }
});
