// The actors' bus and the actors on it, in process: messages are checked against their schema
// before they reach anyone, every one can be watched, and each actor answers only what it takes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ActorBus, type ActorMessage } from '../src/bus/actor-bus.js';
import { GoferActor, goferAddress } from '../src/actors/gofer-actor.js';
import { SandboxActor, sandboxAddress } from '../src/actors/sandbox-actor.js';
import { ProcessActor } from '../src/actors/process-actor.js';
import { fromPromise } from 'xstate';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runa-actors-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('the actors\' bus: a malformed message is refused before it reaches a mailbox; watchers see every message', async () => {
  const bus = new ActorBus();
  const got: ActorMessage[] = [];
  const seen: string[] = [];
  bus.register('container:c1', (m) => { got.push(m); return 'ok'; });
  bus.watch((m) => seen.push(m.type));
  assert.equal(await bus.request({ type: 'container.pause', from: 'sandbox:s', to: 'container:c1' }), 'ok');
  await assert.rejects(bus.request({ type: 'container.pause', from: 'nobody', to: 'container:c1' } as never), /actor message: from: /);
  await assert.rejects(bus.request({ type: 'no.such', from: 'sandbox:s', to: 'container:c1' } as never), /actor message/);
  await assert.rejects(bus.request({ type: 'process.signal', from: 'container:c1', to: 'process:c1/init', signal: 99 }), /signal/);
  assert.equal(got.length, 1, 'only the valid message was delivered');
  await assert.rejects(bus.request({ type: 'container.pause', from: 'sandbox:s', to: 'container:ghost' }), /no actor container:ghost/);
  assert.deepEqual(seen, ['container.pause', 'container.pause']);
});

test('the gofer validates a bundle by message; a failure stops it with the reason, and the caller gets the error as it was', async () => {
  const bus = new ActorBus();
  const dir = path.join(tmp, 'state-g1');
  fs.mkdirSync(dir);
  const gofer = new GoferActor('g1', dir, null, { bus });
  const from = 'container:g1';
  const missing = path.join(tmp, 'no-bundle');
  await assert.rejects(bus.request({ type: 'gofer.validate', from, to: goferAddress('g1'), bundle: missing }), new RegExp(`bundle ${missing} does not exist`));
  assert.equal(gofer.status, 'stopped');
  assert.match(gofer.actor.getSnapshot().context.error!, /does not exist/);
  await assert.rejects(bus.request({ type: 'gofer.prepare', from, to: goferAddress('g1'), input: {} as never }), /cannot prepare gofer "g1" in state stopped/);
  await bus.request({ type: 'gofer.undo', from, to: goferAddress('g1') });
  assert.equal(fs.existsSync(dir), false, 'undo removes what the container had on disk');
  await assert.rejects(bus.request({ type: 'container.stop', from, to: goferAddress('g1') }), /gofer g1 does not take container.stop/);
  gofer.stop();
  await assert.rejects(bus.request({ type: 'gofer.undo', from, to: goferAddress('g1') }), /no actor/);
});

test('the gofer\'s work is invoked by key: swapped effects see every request, in order, and their answers go back', async () => {
  const bus = new ActorBus();
  const calls: string[] = [];
  const gofer = new GoferActor('g2', path.join(tmp, 'state-g2'), null, {
    bus,
    effects: {
      validateBundle: (b) => { calls.push(`validate ${b}`); return { bundle: b, rootfs: '/r', spec: {} as never }; },
      preparePlan: () => { calls.push('prepare'); return '/plan'; },
      undoFiles: () => { calls.push('undo'); },
    },
  });
  const from = 'container:g2';
  const to = goferAddress('g2');
  await assert.rejects(bus.request({ type: 'gofer.prepare', from, to, input: {} as never }), /cannot prepare gofer "g2" in state created/, 'prepare needs a validated bundle');
  assert.deepEqual(await bus.request({ type: 'gofer.validate', from, to, bundle: '/b' }), { bundle: '/b', rootfs: '/r', spec: {} });
  assert.equal(await bus.request({ type: 'gofer.prepare', from, to, input: {} as never }), '/plan');
  await bus.request({ type: 'gofer.serve', from, to });
  assert.equal(gofer.status, 'running');
  await bus.request({ type: 'gofer.undo', from, to });
  assert.equal(gofer.status, 'stopped');
  assert.deepEqual(calls, ['validate /b', 'prepare', 'undo']);
  gofer.stop();
});

test('a process without a monitor link refuses the gate and signals in runc\'s words', async () => {
  const bus = new ActorBus();
  const p = new ProcessActor('c2', 'init', 'init', { bus });
  await assert.rejects(bus.request({ type: 'process.gate', from: 'container:c2', to: p.address }), /container not running/);
  await assert.rejects(bus.request({ type: 'process.signal', from: 'container:c2', to: p.address, signal: 15 }), /container not running/);
  await assert.rejects(bus.request({ type: 'process.attach', from: 'container:c2', to: p.address, socket: path.join(tmp, 'no.sock'), expectedPid: null }));
  // It follows its container's state as a process does.
  await bus.request({ type: 'process.follow', from: 'container:c2', to: p.address, status: 'running', pid: 42, exitStatus: null });
  assert.equal(p.actor.getSnapshot().value, 'running');
  assert.equal(p.actor.getSnapshot().context.pid, 42);
  await bus.request({ type: 'process.follow', from: 'container:c2', to: p.address, status: 'stopped', pid: null, exitStatus: 3 });
  assert.deepEqual([p.actor.getSnapshot().value, p.actor.getSnapshot().context.exitStatus], ['stopped', 3]);
  p.stop();
});

test('a sandbox actor with swapped effects: the root\'s status, sent as a message, brings its members along before the answer', async () => {
  const bus = new ActorBus();
  const orders: string[] = [];
  const effect = (name: string) => fromPromise<{ failed: string[] }, { sandbox: string; members: string[] }>(async ({ input }) => {
    await new Promise((r) => setTimeout(r, 20));
    orders.push(`${name} ${input.members.join(',')}`);
    return { failed: [] };
  });
  let removed = '';
  const sandbox = new SandboxActor('s1', {
    bus, actors: { pauseMembers: effect('pause'), resumeMembers: effect('resume'), stopMembers: effect('stop') },
    onRemoved: (id) => { removed = id; },
  });
  const to = sandboxAddress('s1');
  const status = (s: string) => bus.request({ type: 'member.status', from: 'container:s1', to, id: 's1', status: s as never, exitStatus: null });
  await status('running');
  assert.throws(() => sandbox.refuseJoin('s1'), /cannot join sandbox "s1" in state running/, 'the root is no member');
  sandbox.refuseJoin('m1');
  await bus.request({ type: 'member.joined', from: 'container:m1', to, id: 'm1' });
  await status('paused');
  assert.deepEqual(orders, ['pause m1'], 'the answer waited for the members');
  await status('running');
  await status('stopped');
  assert.deepEqual(orders, ['pause m1', 'resume m1', 'stop m1']);
  assert.throws(() => sandbox.refuseJoin('m2'), /cannot join sandbox "s1" in state stopped/);
  await status('deleted');
  await bus.request({ type: 'member.left', from: 'container:m1', to, id: 'm1' });
  assert.equal(removed, 's1', 'removed with its last container');
  assert.equal(bus.has(to), false, 'and gone from the bus');
});
