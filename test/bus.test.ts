// The buses: typed request/reply in-process and over the daemon's socket; hostile input
// gets an error reply, never reaches a machine, and the daemon keeps serving.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import WebSocket from 'ws';
import { Bus } from '../src/bus/bus.js';
import { BusClient } from '../src/bus/client.js';
import { RunaError } from '../src/errors.js';
import { Context } from '../src/cli/context.js';
import { Sandbox, until } from './helpers/runa.js';

const sb = new Sandbox('bus');
let sock: string;
const clients: BusClient[] = [];
const connect = async () => { const c = await BusClient.connect(sock); clients.push(c); return c; };

before(async () => {
  assert.equal((await sb.run(['delete', '-f', 'warmup'])).code, 0); // starts the daemon
  sock = path.join(sb.root, 'runa.sock');
});
after(async () => {
  for (const c of clients) c.close();
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

async function stillServing() {
  const c = await connect();
  const r = await c.request<{ pid: number }>({ type: 'daemon.ping' });
  assert.equal(r.pid, sb.daemonPid());
}

test('in-process bus: request/reply by correlation id, thrown errors become typed error replies', async () => {
  const bus = new Bus();
  bus.handle('daemon.ping', () => ({ pid: 1 }));
  bus.handle('container.state', (req) => { throw new RunaError('not_exist', `no ${req.id}`); });
  const replies = await Promise.all([bus.request({ type: 'daemon.ping' }), bus.request({ type: 'daemon.ping' })]);
  assert.deepEqual(replies, [{ pid: 1 }, { pid: 1 }]);
  await assert.rejects(bus.request({ type: 'container.state', id: 'x' }), (e: any) => e.code === 'not_exist' && e.message === 'no x');
});

test('in-process topics count their listeners so publishers can skip work', () => {
  const bus = new Bus();
  assert.equal(bus.hasListeners('inspect'), false);
  const seen: unknown[] = [];
  const sub = bus.topic('inspect').subscribe((e) => seen.push(e.body));
  assert.equal(bus.hasListeners('inspect'), true);
  bus.publish('inspect', 1);
  bus.publish('other', 2);
  sub.unsubscribe();
  assert.equal(bus.hasListeners('inspect'), false);
  assert.deepEqual(seen, [1]);
});

test('a frame that is not JSON gets an error reply; the connection and daemon go on', async () => {
  const c = await connect();
  const errors: any[] = [];
  c.on('error', (e) => errors.push(e));
  c.sendRaw('{"kind": "request", "cid": ');
  await until(() => errors.length === 1, 'error reply');
  assert.equal(errors[0].code, 'invalid_frame');
  assert.deepEqual(await c.request({ type: 'daemon.ping' }).then(() => 'ok'), 'ok');
});

test('a message that fails its schema gets an error naming the field, with its correlation id', async () => {
  const ws = new WebSocket(`ws+unix://${sock}:/`);
  await new Promise((r) => ws.once('open', r));
  const reply = new Promise<any>((r) => ws.once('message', (d) => r(JSON.parse(d.toString()))));
  ws.send(JSON.stringify({ kind: 'request', cid: 'c-1', body: { type: 'container.kill', id: 'x', signal: 'nine' } }));
  const r = await reply;
  assert.equal(r.kind, 'error');
  assert.equal(r.cid, 'c-1');
  assert.equal(r.error.code, 'invalid_message');
  assert.match(r.error.message, /body\.signal/);
  const unknown = new Promise<any>((res) => ws.once('message', (d) => res(JSON.parse(d.toString()))));
  ws.send(JSON.stringify({ kind: 'request', cid: 'c-2', body: { type: 'container.explode', id: 'x' } }));
  assert.equal((await unknown).error.code, 'invalid_message');
  const binary = new Promise<any>((res) => ws.once('message', (d) => res(JSON.parse(d.toString()))));
  ws.send(Buffer.from([1, 2, 3]));
  assert.equal((await binary).error.code, 'invalid_frame');
  ws.close();
  await stillServing();
});

test('an oversized frame closes that connection with 1009; others are unaffected', async () => {
  const other = await connect();
  const ws = new WebSocket(`ws+unix://${sock}:/`);
  await new Promise((r) => ws.once('open', r));
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  // Announce a frame one byte over the 1 MiB limit: the daemon refuses it from its header alone.
  const header = Buffer.alloc(14);
  header[0] = 0x81;
  header[1] = 0x80 | 127;
  header.writeBigUInt64BE(BigInt((1 << 20) + 1), 2);
  ((ws as any)._socket as net.Socket).write(header);
  assert.equal(await closed, 1009);
  await other.request({ type: 'daemon.ping' });
  await stillServing();
});

test('a truncated frame followed by a half-close does not disturb the daemon', async () => {
  const ws = new WebSocket(`ws+unix://${sock}:/`);
  await new Promise((r) => ws.once('open', r));
  const raw = (ws as any)._socket as net.Socket;
  // A masked text frame header announcing 100 bytes, followed by 10, then FIN on the socket.
  raw.write(Buffer.concat([Buffer.from([0x81, 0x80 | 100, 1, 2, 3, 4]), Buffer.alloc(10)]));
  raw.end();
  await new Promise((r) => ws.once('close', r));
  await stillServing();
});

test('plain HTTP on the socket is refused; garbage bytes are dropped', async () => {
  const res = await new Promise<string>((resolve) => {
    const s = net.connect(sock, () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    let data = '';
    s.on('data', (d) => { data += d; s.end(); });
    s.on('close', () => resolve(data));
  });
  assert.match(res, /^HTTP\/1\.1 426/);
  await new Promise<void>((resolve) => {
    const s = net.connect(sock, () => { s.write(Buffer.alloc(4096, 0xff)); s.end(); });
    s.resume(); // read the 400 so that the socket can close
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
  await stillServing();
});

test('operations on unknown containers and invalid ids are typed errors', async () => {
  const c = await connect();
  await assert.rejects(c.request({ type: 'container.start', id: 'ghost' }), (e: any) => e.code === 'not_exist' && e.message === 'container does not exist');
  await assert.rejects(c.request({ type: 'container.create', id: '../evil', bundle: '/' }), (e: any) => e.code === 'invalid_id');
});

test('inspection: a subscriber sees a container go created → running → stopped in @xstate frames', async () => {
  const c = await connect();
  const frames: any[] = [];
  c.on('inspect', (f) => frames.push(f));
  const r = await c.request<{ actors: number }>({ type: 'inspect.subscribe' });
  assert.equal(typeof r.actors, 'number');
  const bundle = await sb.bundle(['sh', '-c', 'exit 0']);
  // create, then start: the daemon's start (run starts at once, below).
  const created = await sb.run(['create', '-b', bundle, 'watched']);
  assert.equal(created.code, 0, created.stderr);
  const startCmd = await sb.run(['start', 'watched']);
  assert.equal(startCmd.code, 0, startCmd.stderr);
  await until(() => frames.some((f) => f.type === '@xstate.snapshot' && f.snapshot?.context?.id === 'watched' && f.snapshot.value === 'stopped'), 'stopped frame');
  // A new actor is announced with its first snapshot (@xstate.actor), then each change (@xstate.snapshot).
  const mine = frames.filter((f) => (f.type === '@xstate.snapshot' || f.type === '@xstate.actor') && f.snapshot?.context?.id === 'watched' && 'pendingSignals' in (f.snapshot.context ?? {}));
  const values = mine.map((f) => JSON.stringify(f.snapshot.value)).filter((v, i, a) => v !== a[i - 1]);
  // The machine drives itself through its in-between states: attaching to the monitor, starting.
  // (`exit 0` may end before its start has settled: then the exit, recorded while starting, settles it as stopped.)
  assert.deepEqual(values.filter((v) => v !== '"running"'), ['{"creating":"idle"}', '{"creating":"attaching"}', '"created"', '"starting"', '"stopped"']);
  assert.ok(frames.some((f) => f.type === '@xstate.actor'), 'actor frames');
  assert.ok(frames.some((f) => f.type === '@xstate.event' && f.event?.type === 'container.start'), 'event frames');
  for (const f of frames.filter((x) => !x._runa)) assert.ok(f.sessionId && f._version !== undefined && f.createdAt, 'stately frame fields');
  // What Stately's converter drops comes as runa's own frames: microsteps with their transitions, and actions.
  const session = mine[0].sessionId;
  const steps = frames.filter((f) => f.type === '@xstate.microstep' && f.sessionId === session);
  const start = steps.find((f) => f.event?.type === 'container.start');
  assert.ok(start, 'the microstep of container.start');
  assert.equal(start.value, 'starting');
  assert.deepEqual(start.transitions, [{ eventType: 'container.start', source: 'container.created', targets: ['container.starting'] }]);
  // The effect's answer settles it: the invoked `start` actor's done event.
  const started = steps.find((f) => f.event?.type === 'xstate.done.actor.start');
  assert.ok(started, 'the microstep of the start effect\'s answer');
  assert.ok(started.value === 'running' || started.value === 'stopped', started.value);
  // The effects are invoked actors: each shows as an actor of its own, a child of the container.
  assert.ok(frames.some((f) => f.type === '@xstate.actor' && f.parentId === session), 'an effect actor, child of the container');
  // run: nsinit starts the program itself, and the machine goes from attaching to the monitor
  // (found running) to running, or to stopped when the exit came with its hello.
  const run = await sb.run(['run', '--keep', '-b', bundle, 'at-once']);
  assert.equal(run.code, 0, run.stderr);
  await until(() => frames.some((f) => f.type === '@xstate.snapshot' && f.snapshot?.context?.id === 'at-once' && f.snapshot.value === 'stopped'), 'stopped frame');
  const atOnce = frames.filter((f) => (f.type === '@xstate.snapshot' || f.type === '@xstate.actor') && f.snapshot?.context?.id === 'at-once' && 'pendingSignals' in (f.snapshot.context ?? {}))
    .map((f) => JSON.stringify(f.snapshot.value)).filter((v, i, a) => v !== a[i - 1]);
  assert.deepEqual(atOnce.filter((v) => v !== '"running"'), ['{"creating":"idle"}', '{"creating":"attaching"}', '"stopped"']);
  assert.ok(!frames.some((f) => f.type === '@xstate.event' && f.event?.type === 'container.start' && f.snapshot?.context?.id === 'at-once'), 'no start of the daemon\'s');
  await c.request({ type: 'inspect.unsubscribe' });
  assert.equal((await sb.run(['delete', 'watched'])).code, 0);
  assert.equal((await sb.run(['delete', 'at-once'])).code, 0);
});

test('inspection: messages between actors (container → gofer, process → container, sandbox → member) are events from one actor to another', async () => {
  const c = await connect();
  const frames: any[] = [];
  c.on('inspect', (f) => frames.push(f));
  await c.request({ type: 'inspect.subscribe' });
  const member = { 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-id': 'ipod' };
  assert.equal((await sb.run(['run', '-d', '-b', await sb.bundle(['sleep', '1000']), 'ipod'])).code, 0);
  assert.equal((await sb.run(['run', '-d', '-b', await sb.bundle(['sleep', '1000'], (s) => { s.annotations = member; }), 'ipod-a'])).code, 0);
  assert.equal((await sb.run(['kill', 'ipod', 'KILL'])).code, 0);
  const sent = (type: string) => frames.find((f) => f.type === '@xstate.event' && f.event?.type === type && f.event?.to?.endsWith(':ipod-a'));
  await until(() => sent('order.stop'), 'the sandbox ordering its member to stop');
  // Every actor a message names is known to the viewer, and the frame links sender to receiver.
  const sessionOf = (f: any) => frames.find((a) => a.type === '@xstate.actor' && a.sessionId === f.sessionId);
  const message = (type: string) => frames.find((x) => x.type === '@xstate.event' && x.event?.type === type && (x.event.from?.endsWith(':ipod-a') || x.event.to?.endsWith(':ipod-a')));
  for (const type of ['gofer.validate', 'gofer.prepare', 'process.attach', 'process.gate', 'process.started', 'member.joined', 'order.stop']) {
    const f = message(type);
    assert.ok(f, `${type} seen`);
    assert.ok(sessionOf(f), `${type}: its receiver is an actor the viewer knows`);
    // A create is an actor of its own (create:ipod-a): its messages to the gofer have their sender too.
    assert.ok(f.sourceId && f.sourceId !== f.sessionId, `${type}: from one actor to another`);
    if (type === 'gofer.validate' || type === 'gofer.prepare') assert.equal(f.event.from, 'create:ipod-a');
  }
  // What became of each message: the replies, each with its time.
  const reply = (type: string) => frames.find((x) => x.type === '@runa.message' && x.kind === 'reply' && x.message === type && x.to?.includes(':ipod-a'));
  for (const type of ['gofer.validate', 'gofer.prepare', 'process.attach', 'process.gate']) {
    assert.ok(reply(type)?.ok === true && typeof reply(type).ms === 'number', `${type}'s reply seen`);
  }
  await c.request({ type: 'inspect.unsubscribe' });
  for (const id of ['ipod-a', 'ipod']) assert.equal((await sb.run(['delete', '--force', id])).code, 0);
});

test('inspect.snapshot: every live actor in one reply, with its parent, state and context, and each machine\'s definition once', async () => {
  const c = await connect();
  assert.equal((await sb.run(['run', '-d', '-b', await sb.bundle(['sleep', '1000']), 'snap'])).code, 0);
  const r = await c.request<any>({ type: 'inspect.snapshot' });
  const mine = r.actors.filter((a: any) => a.address.endsWith(':snap') || a.address.startsWith('process:snap/'));
  assert.deepEqual(mine.map((a: any) => a.address).sort(), ['container:snap', 'gofer:snap', 'process:snap/init', 'sandbox:snap']);
  const by = Object.fromEntries(mine.map((a: any) => [a.address, a]));
  assert.equal(by['container:snap'].value, 'running');
  assert.equal(by['container:snap'].parent, 'sandbox:snap');
  assert.equal(by['process:snap/init'].parent, 'container:snap');
  assert.equal(by['sandbox:snap'].value, 'running');
  for (const m of ['container', 'sandbox', 'gofer', 'process']) {
    assert.ok(r.definitions[m]?.states || r.definitions[m]?.on, `${m}'s definition`);
  }
  assert.ok(r.definitions.container.states.running && r.definitions.container.states.pausing, 'the definition names the states, in-between ones too');
  assert.equal((await sb.run(['delete', '--force', 'snap'])).code, 0);
});

test('the gofer serves file operations inside the container (never outside it), holding writes while the container is paused', async () => {
  const c = await connect();
  // The rootfs is read-only; /tmp is the container's own tmpfs, which only its view has.
  const bundle = await sb.bundle(['sleep', '1000'], (s) => { s.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] }); });
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'files'])).code, 0);
  await assert.rejects(c.request({ type: 'container.file', id: 'files', request: { op: 'write', path: '/etc/x', data: '' } }), /write \/etc\/x in container "files": EROFS/);
  const file = (request: any) => c.request<any>({ type: 'container.file', id: 'files', request });
  const b64 = (t: string) => Buffer.from(t).toString('base64');
  assert.deepEqual(await file({ op: 'write', path: '/tmp/hello', data: b64('hi there\n'), mode: 0o600 }), { written: 9 });
  assert.equal((await sb.run(['exec', 'files', 'cat', '/tmp/hello'])).stdout, 'hi there\n');
  assert.deepEqual(await file({ op: 'stat', path: '/tmp/hello' }), { type: 'file', size: 9, mode: 0o600, uid: 0, gid: 0 });
  assert.equal(Buffer.from((await file({ op: 'read', path: '/etc/hostname' })).data, 'base64').toString(), 'runa\n');
  // Hostile paths stay inside: .. stops at the container's root, and a symlink to / is the container's /.
  assert.equal(Buffer.from((await file({ op: 'read', path: '/../../../../etc/hostname' })).data, 'base64').toString(), 'runa\n');
  assert.equal((await sb.run(['exec', 'files', 'ln', '-s', '/', '/tmp/up'])).code, 0);
  assert.equal(Buffer.from((await file({ op: 'read', path: '/tmp/up/etc/hostname' })).data, 'base64').toString(), 'runa\n');
  await assert.rejects(file({ op: 'read', path: '/tmp/up/etc/shadow' }), /read \/tmp\/up\/etc\/shadow in container "files": ENOENT/, 'the host\'s /etc/shadow is out of reach');
  await assert.rejects(file({ op: 'read', path: '/tmp' }), /not a regular file/);
  await assert.rejects(c.request({ type: 'container.file', id: 'files', request: { op: 'chmod', path: '/x' } } as any), /invalid/);

  // Paused: reads are served, writes wait for resume.
  assert.equal((await sb.run(['pause', 'files'])).code, 0);
  assert.equal((await file({ op: 'stat', path: '/tmp/hello' })).size, 9);
  let written = false;
  const held = file({ op: 'write', path: '/tmp/later', data: b64('later') }).then((r) => { written = true; return r; });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(written, false, 'held while frozen');
  assert.equal((await file({ op: 'stat', path: '/tmp/hello' })).size, 9, 'others are served meanwhile');
  assert.equal((await sb.run(['resume', 'files'])).code, 0);
  assert.deepEqual(await held, { written: 5 });
  assert.equal((await sb.run(['exec', 'files', 'cat', '/tmp/later'])).stdout, 'later');
  assert.equal((await sb.run(['delete', '--force', 'files'])).code, 0);
  await assert.rejects(file({ op: 'stat', path: '/' }), /container does not exist/);
});

test('where a file operation is served is the container machine\'s answer: the live root while its init lives, the bundle\'s rootfs once stopped; a write held in a frozen container that then stops fails', async () => {
  const c = await connect();
  const bundle = await sb.bundle(['sleep', '1000'], (s) => { s.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] }); });
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'files2'])).code, 0);
  const file = (request: any) => c.request<any>({ type: 'container.file', id: 'files2', request });
  const b64 = (t: string) => Buffer.from(t).toString('base64');
  assert.deepEqual(await file({ op: 'write', path: '/tmp/live', data: b64('x') }), { written: 1 });
  assert.equal((await file({ op: 'stat', path: '/tmp/live' })).size, 1, 'in the container\'s own /tmp');
  assert.equal((await sb.run(['pause', 'files2'])).code, 0);
  const held = file({ op: 'write', path: '/tmp/held', data: b64('held') });
  held.catch(() => undefined);
  // SIGKILL to a paused container: thawed, killed; its gofer serves the bundle's rootfs now, and the held write is lost with its root.
  assert.equal((await sb.run(['kill', 'files2', 'KILL'])).code, 0);
  await until(async () => JSON.parse((await sb.run(['state', 'files2'])).stdout).status === 'stopped', 'files2 stopped');
  await assert.rejects(held, /write \/tmp\/held in container "files2": the container stopped before it was thawed/);
  await assert.rejects(file({ op: 'stat', path: '/tmp/live' }), /stat \/tmp\/live in container "files2": ENOENT/, 'the tmpfs went with the container');
  assert.equal((await file({ op: 'stat', path: '/bin' })).type, 'directory', 'the bundle\'s rootfs');
  assert.equal((await sb.run(['delete', 'files2'])).code, 0);
});

test('a peer that stops reading is not read from until it drains, loses nothing, and others are served meanwhile', async () => {
  const flooder = new WebSocket(`ws+unix://${sock}:/`);
  await new Promise((r) => flooder.once('open', r));
  const raw = (flooder as any)._socket as net.Socket;
  const N = 60_000;
  const seen: string[] = [];
  flooder.on('message', (d) => seen.push(JSON.parse(d.toString()).cid));
  raw.pause(); // read nothing: replies pile up on the daemon's side
  for (let i = 0; i < N; i++) flooder.send(JSON.stringify({ kind: 'request', cid: `f${i}`, body: { type: 'daemon.ping' } }));
  // While the flooder lags, another client is served normally.
  const other = await connect();
  await until(async () => (await other.request<{ pausedPeers: number }>({ type: 'daemon.ping' })).pausedPeers === 1, 'the daemon stops reading the flooder', 20_000);
  raw.resume();
  await until(() => seen.length === N, `all ${N} replies`, 60_000);
  assert.equal(seen[0], 'f0');
  assert.equal(seen[N - 1], `f${N - 1}`, 'in order, none lost');
  flooder.close();
});

test('a peer that stops answering heartbeats is dropped', async () => {
  const hb = new Sandbox('heartbeat');
  try {
    assert.equal((await hb.run(['delete', '-f', 'x'], { env: { RUNA_HEARTBEAT_MS: '100' } })).code, 0);
    const ws = new WebSocket(`ws+unix://${path.join(hb.root, 'runa.sock')}:/`, { autoPong: false });
    await new Promise((r) => ws.once('open', r));
    const pings: number[] = [];
    ws.on('ping', () => pings.push(Date.now()));
    await new Promise((r) => ws.once('close', r));
    assert.ok(pings.length >= 1, 'it was pinged before being dropped');
  } finally {
    const { leftovers } = await hb.cleanup();
    assert.deepEqual(leftovers, []);
  }
});

test('a daemon that dies while it accepts a client: the connect fails at once (never hangs), and the CLI takes its request to the next daemon', async () => {
  // A "daemon" that accepts and dies: with a reset (a SIGKILL mid-handshake), or a close.
  const other = new Sandbox('busreset');
  fs.mkdirSync(other.root, { recursive: true, mode: 0o700 });
  const fake = path.join(other.dir, 'fake.sock');
  let accepted = 0;
  // A unix socket closed with the handshake unread resets the peer's connection (ECONNRESET).
  const server = net.createServer({ pauseOnConnect: true }, (s) => { accepted++; if (accepted % 2) setTimeout(() => s.destroy(), 20); else s.destroy(); });
  await new Promise<void>((r) => server.listen(fake, r));
  try {
    for (let i = 0; i < 2; i++) {
      const e = await BusClient.connect(fake).then(() => null, (x: NodeJS.ErrnoException & { code: string }) => x);
      assert.ok(e && ['ECONNRESET', 'EPIPE', 'handshake_closed'].includes(e.code), `connect failed as a dead daemon: ${e?.code} ${e?.message}`);
    }
    // The CLI's connect: its root's socket is that dying "daemon" at first. Nothing was sent,
    // so it goes on as when none listened: it starts the root's daemon, whose socket replaces
    // the dead one, and its request is answered (it used to fail with `read ECONNRESET`).
    fs.symlinkSync(fake, path.join(other.root, 'runa.sock'));
    const ctx = new Context({ root: other.root, logFormat: 'text', debug: false });
    try {
      const client = await ctx.connect();
      const ping = await client.request<{ pid: number }>({ type: 'daemon.ping' });
      assert.equal(ping.pid, other.daemonPid());
      assert.ok(accepted >= 3, `the dying daemon was reached first (${accepted} accepts)`);
    } finally {
      ctx.close();
    }
  } finally {
    server.close();
    const { leftovers, mounts } = await other.cleanup();
    assert.deepEqual(leftovers, []);
    assert.deepEqual(mounts, []);
  }
});
