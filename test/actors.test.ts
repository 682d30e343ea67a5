// The actors' bus and the actors on it, in process: messages are checked against their schema
// before they reach anyone, every one can be watched, and each actor answers only what it takes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ActorBus, type ActorMessage, type GoferPrepareInput } from '../src/actors/actor-bus.js';
import { parseSpec } from '../src/oci/spec.js';
import { GoferActor, goferAddress } from '../src/actors/gofer-actor.js';
import { SandboxActor, sandboxAddress } from '../src/actors/sandbox-actor.js';
import { ProcessActor } from '../src/actors/process-actor.js';
import { createActor, fromPromise } from 'xstate';
import { ContainerActor } from '../src/actors/container-actor.js';
import { containerMachine, isSettled, processStatus, type ContainerEvent } from '../src/machines/index.js';
import { waitFor } from 'xstate';

/** The pure machine's persisted snapshot after these operations, each settled (its effects do nothing). */
async function settledAfter(id: string, events: ContainerEvent[]): Promise<unknown> {
  const a = createActor(containerMachine, { input: { id } }).start();
  for (const e of events) { a.send(e); await waitFor(a, isSettled); }
  return a.getPersistedSnapshot();
}
import { processStartTime } from '../src/state.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runa-actors-'));
/** What gofer.prepare carries, at its smallest. */
const prepareInput: GoferPrepareInput = { spec: parseSpec({ ociVersion: '1.2.0', root: { path: 'rootfs' }, process: { user: { uid: 0, gid: 0 }, args: ['true'], cwd: '/' } }), hostCgroups: [] };
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('the actors\' bus: a malformed message is refused before it reaches a mailbox; watchers see every message', async () => {
  const bus = new ActorBus();
  const got: ActorMessage[] = [];
  const seen: string[] = [];
  bus.register('container:c1', { 'order.pause': (m) => { got.push(m); return true; } });
  bus.watch((ev) => { if (ev.kind === 'request') seen.push(ev.msg.type); });
  assert.equal(await bus.request({ type: 'order.pause', from: 'sandbox:s', to: 'container:c1' }), true);
  await assert.rejects(bus.request({ type: 'order.pause', from: 'nobody', to: 'container:c1' } as never), /actor message: from: /);
  await assert.rejects(bus.request({ type: 'no.such', from: 'sandbox:s', to: 'container:c1' } as never), /actor message/);
  await assert.rejects(bus.request({ type: 'process.signal', from: 'container:c1', to: 'process:c1/init', signal: 99 }), /signal/);
  assert.equal(got.length, 1, 'only the valid message was delivered');
  await assert.rejects(bus.request({ type: 'order.pause', from: 'sandbox:s', to: 'container:ghost' }), /no actor at container:ghost: order.pause refused/);
  assert.deepEqual(seen, ['order.pause', 'order.pause']);
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
  await assert.rejects(bus.request({ type: 'gofer.prepare', from, to: goferAddress('g1'), input: prepareInput }), /cannot prepare gofer "g1" in state stopped/);
  await bus.request({ type: 'gofer.undo', from, to: goferAddress('g1') });
  assert.equal(fs.existsSync(dir), false, 'undo removes what the container had on disk');
  await assert.rejects(bus.request({ type: 'order.stop', from, to: goferAddress('g1') }), /actor gofer:g1 does not take order.stop/);
  gofer.stop();
  await assert.rejects(bus.request({ type: 'gofer.undo', from, to: goferAddress('g1') }), /actor gofer:g1 stopped: gofer.undo refused/);
});

test('the gofer\'s work is invoked by key: swapped effects see every request, in order, and their answers go back', async () => {
  const bus = new ActorBus();
  const calls: string[] = [];
  const gofer = new GoferActor('g2', path.join(tmp, 'state-g2'), null, {
    bus,
    effects: {
      validateBundle: (b) => { calls.push(`validate ${b}`); return { bundle: b, rootfs: '/r', spec: prepareInput.spec }; },
      preparePlan: () => { calls.push('prepare'); return '/plan'; },
      undoFiles: () => { calls.push('undo'); },
    },
  });
  const from = 'container:g2';
  const to = goferAddress('g2');
  await assert.rejects(bus.request({ type: 'gofer.prepare', from, to, input: prepareInput }), /cannot prepare gofer "g2" in state created/, 'prepare needs a validated bundle');
  assert.deepEqual(await bus.request({ type: 'gofer.validate', from, to, bundle: '/b' }), { bundle: '/b', rootfs: '/r', spec: prepareInput.spec });
  assert.equal(await bus.request({ type: 'gofer.prepare', from, to, input: prepareInput }), '/plan');
  await bus.request({ type: 'gofer.follow', from, to, status: 'created' });
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
  assert.equal(processStatus(p.actor.getSnapshot()), 'running');
  assert.equal(p.actor.getSnapshot().context.pid, 42);
  await bus.request({ type: 'process.follow', from: 'container:c2', to: p.address, status: 'stopped', pid: null, exitStatus: 3 });
  assert.deepEqual([processStatus(p.actor.getSnapshot()), p.actor.getSnapshot().context.exitStatus], ['stopped', 3]);
  p.stop();
});

test('the process\'s dealings with its monitor are invoked by key: swapped effects answer each request, in turn', async () => {
  const bus = new ActorBus();
  const calls: string[] = [];
  const p = new ProcessActor('c3', 'init', 'init', {
    bus,
    effects: {
      attachMonitor: async (r) => { calls.push(`attach ${r.socket}`); return { pid: 10, initPid: 11, state: 'created' }; },
      openGate: async () => { calls.push('gate'); return { type: 'process.started' }; },
      signalProcess: async (r) => { calls.push(`signal ${r.signal}`); if (r.signal === 64) throw new Error('no such signal here'); },
    },
  });
  const from = 'container:c3';
  assert.deepEqual(await bus.request({ type: 'process.attach', from, to: p.address, socket: '/s', expectedPid: 10 }), { pid: 10, initPid: 11, state: 'created' });
  assert.deepEqual(await bus.request({ type: 'process.gate', from, to: p.address }), { type: 'process.started' });
  // Requests in flight at once each get their own answer.
  await Promise.all([15, 1, 2].map((signal) => bus.request({ type: 'process.signal', from, to: p.address, signal })));
  await assert.rejects(bus.request({ type: 'process.signal', from, to: p.address, signal: 64 }), /no such signal here/);
  assert.equal(p.actor.getSnapshot().status, 'active', 'a failed effect does not stop the process machine');
  assert.deepEqual(calls, ['attach /s', 'gate', 'signal 15', 'signal 1', 'signal 2', 'signal 64']);
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

test('a container\'s effects are spawned by key: swapped, they see the container\'s operations and nothing touches the host', async () => {
  const bus = new ActorBus();
  const dir = path.join(tmp, 'state-c4');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ociVersion: '1.2.0', process: { args: ['true'], cwd: '/' }, root: { path: '/' } }));
  // A running container, as a restarted daemon would find it (no monitor attached).
  const running = await settledAfter('c4', [{ type: 'container.created' }, { type: 'container.start' }]);
  const calls: string[] = [];
  const c = new ContainerActor(
    { id: 'c4', stateDir: dir, ociVersion: '1.2.0', bundle: tmp, rootfs: '/', created: new Date().toISOString(), owner: 'root' },
    {
      bus,
      snapshot: running,
      effects: {
        freeze: (r) => { calls.push(`freeze from ${r.from}`); },
        signal: (r) => { calls.push(`signal${r.all ? ' all' : ''} ${r.signal} from ${r.from}`); },
        checkpoint: (r) => { calls.push(`checkpoint ${(r.options as { imagePath: string }).imagePath}`); },
        runHooks: (r) => { calls.push(`hooks ${r.kind}`); },
      },
    },
  );
  await c.operate({ type: 'container.kill', signal: 15, all: true });
  await c.operate({ type: 'container.checkpoint', options: { imagePath: '/img' } });
  await c.operate({ type: 'container.pause' });
  assert.equal(c.status, 'paused');
  await c.operate({ type: 'container.kill', signal: 15 }); // queued by the machine until resume: no effect
  await c.operate({ type: 'container.kill', signal: 9, all: true }); // a SIGKILL to a frozen container: the signal effect knows it was paused (and thaws)
  assert.deepEqual(calls, ['signal all 15 from running', 'checkpoint /img', 'freeze from running', 'signal all 9 from paused']);
  await assert.rejects(c.operate({ type: 'container.start' }), /cannot start container "c4" in state paused/);
  assert.equal(c.container.getSnapshot().context.pendingSignals.length, 1);
  await c.delete(true);
  assert.equal(c.status, 'deleted');
  assert.equal(fs.existsSync(dir), false, 'its gofer undid the state dir');
  assert.equal(bus.size, 0, 'nothing of it is left on the bus');
});

test('a monitor link dropped while the monitor lives on: the container waits for the monitor\'s end and takes its exit record, not a guess', async () => {
  const bus = new ActorBus();
  const dir = path.join(tmp, 'state-c5');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ociVersion: '1.2.0', process: { args: ['true'], cwd: '/' }, root: { path: '/' } }));
  const running = await settledAfter('c5', [{ type: 'container.created' }, { type: 'container.start' }]);
  const c = new ContainerActor(
    { id: 'c5', stateDir: dir, ociVersion: '1.2.0', bundle: tmp, rootfs: '/', created: new Date().toISOString(), owner: 'root' },
    { bus, snapshot: running },
  );
  // Its "monitor": a live process, linked as if attached.
  const monitor = spawn('sleep', ['30'], { stdio: 'ignore' });
  c.monitor.linked = true;
  c.monitor.monitorPid = monitor.pid!;
  c.monitor.monitorStartTime = processStartTime(monitor.pid!);
  await bus.request({ type: 'process.lost', from: 'process:c5/init', to: 'container:c5', name: 'init' });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(c.status, 'running', 'no exit is made up while the monitor lives');
  // The monitor writes its record and goes: that is the exit.
  fs.writeFileSync(path.join(dir, 'exit'), JSON.stringify({ exitStatus: 3, signal: 0 }));
  monitor.kill('SIGKILL');
  await new Promise((r) => monitor.once('exit', r));
  for (let i = 0; i < 100 && (c.status as string) !== 'stopped'; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(c.status, 'stopped');
  assert.equal(c.exitStatus, 3, 'the monitor\'s record, not 137');
  await c.delete();
  assert.equal(bus.size, 0);
});

// ---- the bus itself: mailboxes, dead letters, timeouts, schemas ----

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const member = (to: string) => ({ type: 'order.pause' as const, from: 'sandbox:s', to });

test('a mailbox handles one message at a time, in order, even when a handler awaits', async () => {
  const bus = new ActorBus();
  const log: string[] = [];
  let n = 0;
  bus.register('container:m1', {
    'order.pause': async () => { const i = ++n; log.push(`begin ${i}`); await tick(i === 1 ? 30 : 0); log.push(`end ${i}`); return true; },
    'order.stop': () => { log.push('stop'); },
  });
  const first = bus.request(member('container:m1'));
  const second = bus.request(member('container:m1'));
  bus.tell({ type: 'order.stop', from: 'sandbox:s', to: 'container:m1' });
  const third = bus.request(member('container:m1'));
  assert.deepEqual(await Promise.all([first, second, third]), [true, true, true]);
  assert.deepEqual(log, ['begin 1', 'end 1', 'begin 2', 'end 2', 'stop', 'begin 3', 'end 3']);
});

test('a concurrent handler runs as its message arrives, beside the one the queue is handling; the owner\'s work takes its turn', async () => {
  const bus = new ActorBus();
  const log: string[] = [];
  let release!: () => void;
  const box = bus.register('container:m2', {
    'order.stop': () => new Promise<void>((r) => { log.push('stop begins'); release = () => { log.push('stop ends'); r(); }; }),
    'process.exited': { concurrent: true, handle: (m) => { log.push(`exited ${m.exitStatus}`); } },
  });
  const stop = bus.request({ type: 'order.stop', from: 'sandbox:s', to: 'container:m2' });
  const op = box.enqueue('container.delete', () => { log.push('delete'); return 'deleted'; });
  await tick();
  // The stop waits for the exit: a queued fact would wait forever.
  await bus.request({ type: 'process.exited', from: 'process:m2/init', to: 'container:m2', name: 'init', exitStatus: 0 });
  const view = bus.mailboxes();
  assert.deepEqual(view.map((v) => [v.address, v.handling.map((h) => h.type), v.queued.map((q) => `${q.type} from ${q.from}`)]),
    [['container:m2', ['order.stop'], ['container.delete from owner']]], 'debug --stacks sees the queue');
  assert.ok(view[0].queued[0].ms >= 0);
  release();
  assert.equal(await op, 'deleted');
  await stop;
  assert.deepEqual(log, ['stop begins', 'exited 0', 'stop ends', 'delete']);
  assert.deepEqual(bus.mailboxes(), [], 'idle again');
});

test('dead letters: no actor, a stopped actor, a full mailbox, a message it does not take — each refused at once, and seen', async () => {
  const bus = new ActorBus({ capacity: 2 });
  const dead: string[] = [];
  bus.watch((ev) => { if (ev.kind === 'dead-letter') dead.push(ev.reason); });
  await assert.rejects(bus.request(member('container:nobody')), (e: Error & { code?: string }) => e.code === 'dead_letter' && /^no actor at container:nobody: order.pause refused$/.test(e.message));
  let release!: () => void;
  const box = bus.register('container:m3', { 'order.pause': () => new Promise<boolean>((r) => { release = () => r(true); }) });
  const a = bus.request(member('container:m3'));
  const b = bus.request(member('container:m3'));
  await assert.rejects(bus.request(member('container:m3')), /actor container:m3 mailbox full \(2 messages\): order.pause refused/);
  await assert.rejects(bus.request({ type: 'order.stop', from: 'sandbox:s', to: 'container:m3' }), /actor container:m3 does not take order.stop/);
  box.close();
  await assert.rejects(bus.request(member('container:m3')), /: actor container:m3 stopped: order.pause refused$/);
  bus.tell(member('container:m3')); // a fact to a stopped actor: seen, not thrown
  assert.equal(bus.mailboxes().length, 1, 'a stopped actor still handles what it had taken');
  release();
  assert.equal(await a, true);
  release();
  assert.equal(await b, true);
  assert.deepEqual(bus.mailboxes(), []);
  assert.equal(dead.length, 5, 'no actor, full, not taken, stopped (a request, then a tell)');
  assert.match(dead[4], /actor container:m3 stopped/);
});

test('a request times out with its type and address; the late reply is dropped, and seen', async () => {
  const bus = new ActorBus({ timeoutMs: 1000 });
  const events: string[] = [];
  bus.watch((ev) => events.push(`${ev.kind} ${ev.msg.type}`));
  bus.register('process:t1/init', { 'process.signal': async () => { await tick(60); } });
  await assert.rejects(bus.request({ type: 'process.signal', from: 'container:t1', to: 'process:t1/init', signal: 15 }, { timeoutMs: 20 }),
    (e: Error & { code?: string }) => e.code === 'timeout' && e.message === 'no reply to process.signal from process:t1/init within 20 ms');
  assert.deepEqual(bus.awaiting(), [], 'no longer awaited');
  await tick(80);
  assert.deepEqual(events, ['request process.signal', 'timeout process.signal', 'late process.signal']);
  // The default applies when the caller names none.
  const slow = new ActorBus({ timeoutMs: 15 });
  slow.register('process:t2/init', { 'process.gate': () => new Promise(() => {}) });
  await assert.rejects(slow.request({ type: 'process.gate', from: 'container:t2', to: 'process:t2/init' }), /no reply to process.gate from process:t2\/init within 15 ms/);
});

test('schemas: a request and a reply are refused with the field path; gofer.prepare\'s input is checked whole', async () => {
  const bus = new ActorBus();
  bus.register('gofer:s1', {
    'gofer.prepare': () => '/plan',
    'gofer.validate': () => ({ bundle: '/b', rootfs: '', spec: prepareInput.spec }),
  });
  const prepare = (input: unknown) => bus.request({ type: 'gofer.prepare', from: 'container:s1', to: 'gofer:s1', input: input as GoferPrepareInput });
  assert.equal(await prepare(prepareInput), '/plan');
  await assert.rejects(prepare({ ...prepareInput, spec: { ...prepareInput.spec, process: { ...prepareInput.spec.process, args: [] } } }), /actor message: input\.spec\.process\.args: must name the program to run/);
  await assert.rejects(prepare({ ...prepareInput, console: 'tty' }), /actor message: input\.console: /);
  await assert.rejects(prepare({ ...prepareInput, seccomp: { filter: { program: [1, 2], length: 1, flags: 0, notify: false, unknown: [] } } }), /input\.seccomp\.filter\.program: must be a Buffer/);
  await assert.rejects(prepare({ hostCgroups: [] }), /actor message: input\.spec: /);
  // A reply that is not what its schema says is refused to the caller, with the path.
  await assert.rejects(bus.request({ type: 'gofer.validate', from: 'container:s1', to: 'gofer:s1', bundle: '/b' }), /reply to gofer.validate from gofer:s1: rootfs: /);
  // Unchecked (RUNA_CHECK_ACTOR_MESSAGES=0), nothing is parsed: the message goes as it is.
  const loose = new ActorBus({ check: false });
  loose.register('gofer:s2', { 'gofer.prepare': (m) => String((m.input as { marker?: string }).marker) });
  assert.equal(await loose.request({ type: 'gofer.prepare', from: 'container:s2', to: 'gofer:s2', input: { marker: 'as is' } as never }), 'as is');
});

test('a malformed tell throws; a tell\'s failure is seen, not thrown', async () => {
  const bus = new ActorBus();
  const failed: string[] = [];
  bus.watch((ev) => { if (ev.kind === 'failed') failed.push(ev.error); });
  bus.register('gofer:f1', { 'gofer.follow': () => { throw new Error('cannot serve'); } });
  assert.throws(() => bus.tell({ type: 'gofer.follow', from: 'nobody', to: 'gofer:f1', status: 'created' } as never), /actor message: from: /);
  assert.throws(() => bus.tell({ type: 'gofer.follow', from: 'container:f1', to: 'gofer:f1', status: 'frozen' } as never), /actor message: status: /);
  bus.tell({ type: 'gofer.follow', from: 'container:f1', to: 'gofer:f1', status: 'created' });
  assert.deepEqual(failed, ['cannot serve']);
});
