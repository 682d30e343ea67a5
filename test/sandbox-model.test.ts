// Model-based testing of the sandbox machine against the real runtime. The machine's settled
// states are explored by running it (its effects on members are invoked actors, so each step
// is followed until the sandbox settles); then every transition of that graph is replayed with
// the CLI on a real pod, reached by a shortest path. After every step the pod must be where the
// machine is: the root's state, and each member's. At the end of each path, a member joining
// where the machine refuses it must be refused by the runtime too, and change nothing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, waitFor, type Actor } from 'xstate';
import { sandboxMachine, sandboxSettling, type SandboxEvent, type SandboxSnapshot } from '../src/machines/index.js';
import { Sandbox, until } from './helpers/runa.js';

const sb = new Sandbox('sandbox-model');
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

const MEMBER = 'm';
const EVENTS: SandboxEvent[] = [
  { type: 'root.running' }, { type: 'root.paused' }, { type: 'root.stopped' }, { type: 'root.deleted' },
  { type: 'member.joined', id: MEMBER }, { type: 'member.left', id: MEMBER },
];
const name = (e: SandboxEvent) => e.type + ('id' in e ? ` ${e.id}` : '');
const key = (s: SandboxSnapshot) => JSON.stringify([s.value, s.context.members, s.context.rootPresent]);

async function settle(actor: Actor<typeof sandboxMachine>): Promise<SandboxSnapshot> {
  return waitFor(actor, (s) => !sandboxSettling(s) || s.status !== 'active');
}

/** Replay a path of events on a fresh machine; resolves with the settled snapshot. */
async function replay(path: SandboxEvent[]): Promise<SandboxSnapshot> {
  const actor = createActor(sandboxMachine, { input: { id: 'model' } }).start();
  for (const e of path) {
    actor.send(e);
    await settle(actor);
  }
  return actor.getSnapshot();
}

/** Breadth-first over settled states: the shortest path to each, and every transition out of it. */
async function explore(): Promise<Array<{ path: SandboxEvent[]; event: SandboxEvent }>> {
  const seen = new Map<string, SandboxEvent[]>([[key(await replay([])), []]]);
  const queue: SandboxEvent[][] = [[]];
  const transitions: Array<{ path: SandboxEvent[]; event: SandboxEvent }> = [];
  while (queue.length) {
    const path = queue.shift()!;
    const snap = await replay(path);
    if (snap.status !== 'active') continue;
    for (const event of EVENTS) {
      // member.left is taken everywhere (a no-op for a non-member): only a real leaving counts.
      if (!snap.can(event) || (event.type === 'member.left' && !snap.context.members.includes(event.id))) continue;
      // A paused member nested in its frozen pod cannot be killed: the runtime refuses (checked below).
      if (event.type === 'member.left' && snap.value === 'paused') continue;
      transitions.push({ path, event });
      const next = await replay([...path, event]);
      if (!seen.has(key(next))) {
        seen.set(key(next), [...path, event]);
        queue.push([...path, event]);
      }
    }
  }
  return transitions;
}

let transitions: Array<{ path: SandboxEvent[]; event: SandboxEvent }> = [];

test('the sandbox machine yields transitions through every state a pod can be in', async () => {
  transitions = await explore();
  const states = new Set<string>(['created']); // where every path starts
  for (const t of transitions) states.add(String((await replay([...t.path, t.event])).value));
  for (const s of ['created', 'running', 'paused', 'stopped', 'removed']) assert.ok(states.has(s), `${s} reached: ${[...states]}`);
  assert.ok(transitions.length >= 15, `${transitions.length} transitions`);
});

test('every transition of the sandbox machine replays on a real pod', async () => {
  const rootBundle = await sb.bundle(['sleep', '1000']);
  let n = 0;
  const status = async (id: string): Promise<string> => {
    const r = await sb.run(['state', id]);
    // `state` takes a unique prefix (runsc): once the root `sN` is gone, `state sN` is its member `sN-m`.
    return r.code === 0 && JSON.parse(r.stdout).id === id ? JSON.parse(r.stdout).status : 'gone';
  };
  for (const { path, event } of transitions) {
    const root = `s${++n}`;
    const member = `${root}-${MEMBER}`;
    const memberBundle = await sb.bundle(['sleep', '1000'], (s) => {
      s.annotations = { 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-id': root };
    });
    const cli = (e: SandboxEvent, before: SandboxSnapshot): string[][] => {
      switch (e.type) {
        case 'root.running': return [before.value === 'created' ? ['start', root] : ['resume', root]];
        case 'root.paused': return [['pause', root]];
        case 'root.stopped': return [['kill', root, 'KILL']];
        case 'root.deleted': return [['delete', '--force', root]];
        case 'member.joined': return [['run', '-d', '-b', memberBundle, member]];
        case 'member.left': return [['delete', '--force', member]];
      }
    };
    const actor = createActor(sandboxMachine, { input: { id: root } }).start();
    const trail: string[] = [];
    assert.equal((await sb.run(['create', '-b', rootBundle, root])).code, 0);
    for (const e of [...path, event]) {
      const step = e.type === 'member.joined' || e.type === 'member.left' ? { ...e, id: member } : e;
      trail.push(name(e));
      for (const args of cli(step, actor.getSnapshot())) {
        const r = await sb.run(args);
        assert.equal(r.code, 0, `${root}: ${trail.join(' → ')}: ${args.join(' ')}: ${r.stderr}`);
      }
      actor.send(step);
      const snap = await settle(actor);
      // Where the machine is, the pod must be: the root, and the member.
      const want = (present: boolean, value: string) => (!present ? 'gone' : value === 'removed' ? 'gone' : value);
      const rootWant = want(snap.context.rootPresent, String(snap.value));
      const memberWant = want(snap.context.members.includes(member), String(snap.value));
      await until(async () => (await status(root)) === rootWant && (await status(member)) === memberWant,
        `${root}: ${trail.join(' → ')}: root ${rootWant}, member ${memberWant}`, 5000).catch(async () => {
        assert.fail(`${root}: ${trail.join(' → ')}: root is ${await status(root)} (machine: ${rootWant}), member is ${await status(member)} (machine: ${memberWant})`);
      });
    }
    // What the machine refuses, the runtime refuses, changing nothing.
    const snap = actor.getSnapshot();
    if (snap.status === 'active' && !snap.context.members.includes(member) && !snap.can({ type: 'member.joined', id: member })) {
      const r = await sb.run(['create', '-b', memberBundle, member]);
      assert.equal(r.code, 1, `${root}: ${trail.join(' → ')}: a member joined`);
      assert.match(r.stderr, /cannot join sandbox|does not exist/);
      assert.equal(await status(member), 'gone');
    }
    if (snap.value === 'paused' && snap.context.members.includes(member)) {
      const r = await sb.run(['delete', '--force', member]);
      assert.equal(r.code, 1, `${root}: ${trail.join(' → ')}: a paused member was deleted`);
      assert.match(r.stderr, new RegExp(`cannot delete container "${member}" while its sandbox "${root}" is paused: resume the sandbox first`));
      assert.equal(await status(member), 'paused');
    }
    for (const id of [root, member]) await sb.run(['delete', '--force', id]);
  }
});
