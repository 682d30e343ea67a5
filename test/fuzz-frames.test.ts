// Frames fuzzing (issue 12, item 3): both socket protocols get invalid, truncated, oversized
// and out-of-order frames from a structure-aware fuzzer with a fixed seed.
//  - the daemon's WebSocket bus, over raw sockets: every bad frame gets an error reply or a
//    close with a reason, the daemon stays up, serves others, stays small and changes nothing;
//  - the monitor link, fed by a fake nsinit monitor: a peer that breaks the protocol is
//    dropped with a clear error, nothing throws, and no wrong exit status is ever reported.
// RUNA_FUZZ_CASES=N runs N cases of each (default: a few seconds' worth); RUNA_FUZZ_SEED=S
// another sequence. A failure names its seed and case.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BusClient } from '../src/bus/client.js';
import { ActorBus, type ActorMessage } from '../src/actors/actor-bus.js';
import { MonitorMessage } from '../src/bus/messages.js';
import { MonitorLink, MAX_LINE } from '../src/actors/monitor-link.js';
import { ProcessActor, processAddress } from '../src/actors/process-actor.js';
import { Sandbox } from './helpers/runa.js';
import { RawWs } from './helpers/raw-ws.js';
import { prng, mutate, mutateText, serialize, randomString, randomValue, type Rng } from './helpers/fuzz.js';

const CASES = Number(process.env.RUNA_FUZZ_CASES) || 600;
const SEED = Number(process.env.RUNA_FUZZ_SEED) || 0x12f2a3e5;
const BATCH = 50;
/** A bad frame not answered (nor the connection closed) in this long is a hang. */
const ANSWER_MS = 5000;
const MAX_PAYLOAD = 1 << 20;

const sb = new Sandbox('fuzz-frames');
let sock: string;
let cwd: string;

before(async () => {
  assert.equal((await sb.run(['delete', '-f', 'fuzz-frames-warmup'])).code, 0); // starts the daemon
  sock = path.join(sb.root, 'runa.sock');
  cwd = fs.mkdtempSync(path.join(sb.dir, 'cwd-'));
});
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

/** What the daemon's root and the fuzzer's cwd hold (nothing may appear or go). */
function listing(): string[] {
  const walk = (d: string): string[] => fs.readdirSync(d, { withFileTypes: true })
    .filter((e) => e.name !== 'daemon.cache') // the daemon may leave its code cache
    .flatMap((e) => (e.isDirectory() ? [`${e.name}/`, ...walk(path.join(d, e.name)).map((x) => `${e.name}/${x}`)] : [e.name]));
  return [...walk(sb.root).map((x) => `root/${x}`), ...walk(cwd).map((x) => `cwd/${x}`)];
}

/** The daemon answers a fresh client, and says how many clients it has. */
async function ping(): Promise<{ pid: number; clients?: number }> {
  const c = await BusClient.connect(sock);
  try { return await c.request<{ pid: number; clients?: number }>({ type: 'daemon.ping' }); } finally { c.close(); }
}

/** Valid requests, each answered at once on a root with no container (none is made). */
function templates(r: Rng): unknown[] {
  const id = `fz-${r.int(1e6)}`;
  const root = sb.root;
  return [
    { type: 'daemon.ping' },
    { type: 'container.list' },
    { type: 'inspect.snapshot' },
    { type: 'inspect.subscribe' },
    { type: 'inspect.unsubscribe' },
    { type: 'container.state', id },
    { type: 'container.start', id },
    { type: 'container.pause', id },
    { type: 'container.resume', id },
    { type: 'container.wait', id },
    { type: 'container.stats', id },
    { type: 'container.history', id },
    { type: 'container.debug', id, events: 3, stacks: true },
    { type: 'container.events', id, interval: 1000 },
    { type: 'container.kill', id, signal: 9, all: true },
    { type: 'container.delete', id, force: true },
    { type: 'container.update', id, resources: { memory: { limit: 1 << 20 } } },
    { type: 'container.checkpoint', id, options: { imagePath: path.join(cwd, 'ckpt') } },
    { type: 'container.file', id, request: { op: 'read', path: '/etc/hostname' } },
    { type: 'container.exec', id, process: { args: ['true'] } },
    { type: 'container.create', id, bundle: path.join(cwd, 'no-bundle') },
    { type: 'container.created', id, monitorPid: 1, initPid: 1 },
    { type: 'container.createFailed', id, message: 'x' },
    { type: 'container.hooks', id, kind: 'prestart', childPid: 1, monitorPid: 1 },
    { type: 'exec.started', id, execId: '0123456789abcdef', monitorPid: 1 },
    { type: 'exec.failed', id, execId: '0123456789abcdef', message: 'x' },
    { type: 'cli.step', session: 'nope', result: { ev: 'done' } },
    { type: 'cli.run', argv: ['--root', root, 'list'], cwd },
    { type: 'cli.run', argv: ['--root', root, 'state', id], cwd },
    { type: 'cli.run', argv: ['--root', root, 'kill', id, 'KILL'], cwd },
    { type: 'cli.run', argv: ['--root', root, 'delete', '--force', id], cwd },
    { type: 'cli.run', argv: ['--root', root, 'features'], cwd },
    { type: 'cli.run', argv: ['--root', root, r.pick(['ps', 'pause', 'resume', 'start', 'wait', 'debug']), id], cwd, env: ['A=b'] },
  ];
}

const request = (r: Rng, body: unknown) => ({ kind: 'request', cid: r.chance(0.1) ? 'same' : `c${r.int(1e9)}`, body });

/** A case: what it sent, and null if the daemon behaved, else what went wrong. */
type Case = (r: Rng) => Promise<{ what: string; failure: string | null }>;

/** Frames on one connection: each must be answered, unless the daemon closes it with a reason. */
async function expectAnswers(ws: RawWs, n: number, what: string): Promise<{ what: string; failure: string | null }> {
  const ok = await ws.waitFor(n, ANSWER_MS);
  ws.destroy();
  if (!ok) return { what, failure: `hang: ${ws.responses.length} of ${n} frames answered, connection open` };
  // The CLI's client takes frames of up to MAX_PAYLOAD: an answer must fit (an error echoing a huge input too).
  if (ws.maxFrame > MAX_PAYLOAD) return { what, failure: `a frame of ${ws.maxFrame} bytes came back` };
  if (ws.responses.length >= n) {
    const bad = ws.responses.find((f) => !(f.kind === 'reply' || (f.kind === 'error' && typeof f.error?.code === 'string' && f.error.message)));
    return { what, failure: bad ? `unexpected frame ${JSON.stringify(bad).slice(0, 200)}` : null };
  }
  if (ws.closeCode !== null && ws.closeCode !== 1000 && ws.closeReason) return { what: `${what} (closed ${ws.closeCode} ${ws.closeReason})`, failure: null };
  return { what, failure: `closed without a reason after ${ws.responses.length} of ${n} answers (close ${ws.closeCode})` };
}

const cases: Record<string, [weight: number, Case]> = {
  /** a structurally mutated request, maybe several at once */
  mutant: [40, async (r) => {
    const ws = await RawWs.open(sock);
    const n = r.chance(0.8) ? 1 : 2 + r.int(5);
    const whats: string[] = [];
    for (let i = 0; i < n; i++) {
      const m = mutate(r, request(r, r.pick(templates(r))), { hugeMax: r.chance(0.5) ? 2000 : 1_200_000 });
      const text = serialize(r, m.value);
      whats.push(`${m.what} [${text.length}B] ${text.slice(0, 80)}`);
      ws.text(text);
    }
    // A frame over the limit is refused from its header: the connection closes (1009).
    return expectAnswers(ws, n, whats.join(' | '));
  }],
  /** a valid request's text, damaged */
  text: [15, async (r) => {
    const ws = await RawWs.open(sock);
    const m = mutateText(r, JSON.stringify(request(r, r.pick(templates(r)))));
    ws.text(m.bytes);
    return expectAnswers(ws, 1, `${m.what}: ${JSON.stringify(m.bytes.toString('latin1').slice(0, 80))}`);
  }],
  /** many valid requests at once, out of their usual order, cids reused */
  flood: [8, async (r) => {
    const ws = await RawWs.open(sock);
    const n = 20 + r.int(300);
    const ts = templates(r);
    for (let i = 0; i < n; i++) {
      if (r.chance(0.05)) ws.text(serialize(r, mutate(r, request(r, r.pick(ts)), { hugeMax: 1000 }).value));
      else ws.text(JSON.stringify({ kind: 'request', cid: r.chance(0.5) ? 'dup' : `c${i}`, body: r.pick(ts) }));
    }
    return expectAnswers(ws, n, `${n} requests at once`);
  }],
  binary: [4, async (r) => {
    const ws = await RawWs.open(sock);
    ws.write(RawWs.frame(0x2, Buffer.from(JSON.stringify(request(r, { type: 'daemon.ping' })))));
    const res = await expectAnswers(ws, 1, 'binary frame');
    if (!res.failure && ws.responses[0]?.error?.code !== 'invalid_frame') res.failure = `binary frame answered ${JSON.stringify(ws.responses[0])}`;
    return res;
  }],
  /** over the max payload: announced in one header, or reached by fragments */
  oversized: [4, async (r) => {
    const ws = await RawWs.open(sock);
    if (r.chance(0.5)) {
      ws.write(RawWs.frame(0x1, Buffer.alloc(0), { announce: MAX_PAYLOAD + 1 + r.int(1 << 30) }));
    } else {
      const part = Buffer.alloc(300 * 1024, 0x20);
      ws.text(part, { fin: false });
      for (let i = 0; i < 4; i++) ws.write(RawWs.frame(0x0, part, { fin: false }));
    }
    const closed = await ws.waitClosed(ANSWER_MS);
    ws.destroy();
    if (!closed || ws.closeCode !== 1009 || !ws.closeReason) return { what: 'oversized frame', failure: `expected a close 1009 with a reason, got ${closed ? ws.closeCode : 'no close'} ${ws.closeReason}` };
    return { what: `oversized frame (closed ${ws.closeCode} ${ws.closeReason})`, failure: null };
  }],
  /** a frame cut short, then the peer half-closes (or just goes) */
  truncated: [4, async (r) => {
    const ws = await RawWs.open(sock);
    const full = RawWs.frame(0x1, Buffer.from(JSON.stringify(request(r, r.pick(templates(r))))));
    ws.write(full.subarray(0, 1 + r.int(full.length - 1)));
    if (r.chance(0.5)) ws.socket.end(); else ws.destroy();
    const closed = await ws.waitClosed(ANSWER_MS);
    ws.destroy();
    return { what: 'truncated frame', failure: closed ? null : 'the daemon kept a half-closed connection open' };
  }],
  /** WebSocket protocol errors: each closes the connection with 1002 or 1007 and a reason */
  protocol: [5, async (r) => {
    const ws = await RawWs.open(sock);
    const body = Buffer.from(JSON.stringify(request(r, { type: 'daemon.ping' })));
    const kind = r.int(7);
    const what = ['reserved opcode', 'RSV bits', 'unmasked frame', 'long control frame', 'fragmented control frame', 'continuation without a start', 'bad close code'][kind];
    if (kind === 0) ws.write(RawWs.frame(r.pick([3, 4, 5, 6, 7, 0xb, 0xc, 0xf]), body));
    if (kind === 1) ws.write(RawWs.frame(0x1, body, { rsv: 1 + r.int(7) }));
    if (kind === 2) ws.write(RawWs.frame(0x1, body, { mask: false }));
    if (kind === 3) ws.write(RawWs.frame(0x9, Buffer.alloc(126 + r.int(1000))));
    if (kind === 4) ws.write(RawWs.frame(0x9, Buffer.from('x'), { fin: false }));
    if (kind === 5) ws.write(RawWs.frame(0x0, body));
    if (kind === 6) ws.close(r.pick([0, 999, 1004, 1005, 1006, 1015, 2999, 5000]));
    const closed = await ws.waitClosed(ANSWER_MS);
    ws.destroy();
    if (!closed || ws.closeCode === null || ws.closeCode === 1000 || !ws.closeReason) return { what, failure: `expected a close with an error code and reason, got ${closed ? ws.closeCode : 'no close'} "${ws.closeReason}"` };
    return { what: `${what} (closed ${ws.closeCode} ${ws.closeReason})`, failure: null };
  }],
  /** a close, then more frames: none is served, the daemon closes */
  afterClose: [4, async (r) => {
    const ws = await RawWs.open(sock);
    ws.close(1000, 'bye');
    for (let i = 0; i < 1 + r.int(5); i++) ws.text(JSON.stringify(request(r, { type: 'daemon.ping' })));
    const closed = await ws.waitClosed(ANSWER_MS);
    ws.destroy();
    if (!closed) return { what: 'frames after close', failure: 'not closed' };
    if (ws.responses.length) return { what: 'frames after close', failure: `${ws.responses.length} frames after close were served` };
    return { what: 'frames after close', failure: null };
  }],
  /** a valid request in fragments, pings between them: served once */
  fragments: [4, async (r) => {
    const ws = await RawWs.open(sock);
    const text = Buffer.from(JSON.stringify(request(r, { type: 'container.list' })));
    const cut = 1 + r.int(text.length - 2);
    ws.text(text.subarray(0, cut), { fin: false });
    ws.write(RawWs.frame(0x9, Buffer.from('hi')));
    ws.write(RawWs.frame(0x0, text.subarray(cut)));
    return expectAnswers(ws, 1, 'fragmented request');
  }],
  /** not WebSocket at all: bytes, a plain HTTP request, a handshake cut short */
  raw: [5, async (r) => {
    const s = net.connect(sock);
    await new Promise((res, rej) => { s.once('connect', res); s.once('error', rej); });
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('error', () => {});
    const kind = r.int(4);
    const what = ['random bytes', 'plain HTTP', 'handshake cut short', 'bad upgrade'][kind];
    if (kind === 0) s.write(Buffer.from(Array.from({ length: 1 + r.int(8192) }, () => r.int(256))));
    if (kind === 1) s.write(`${r.pick(['GET', 'POST', 'DELETE'])} /${randomString(r).replace(/\s/g, '')} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`);
    if (kind === 2) s.write('GET / HTTP/1.1\r\nHost: runa\r\nUpgrade: websocket\r\nConnection: Upg');
    if (kind === 3) s.write('GET / HTTP/1.1\r\nHost: runa\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 99\r\nSec-WebSocket-Key: x\r\n\r\n');
    s.end();
    const closed = await new Promise<boolean>((res) => { const t = setTimeout(() => res(false), ANSWER_MS); s.once('close', () => { clearTimeout(t); res(true); }); });
    s.destroy();
    if (!closed) return { what, failure: 'the daemon kept the connection open' };
    if (kind !== 2 && !/^HTTP\/1\.1 4\d\d /.test(got)) return { what, failure: `no HTTP error status: ${JSON.stringify(got.slice(0, 80))}` };
    return { what: `${what} (${got.split('\r\n')[0]})`, failure: null };
  }],
};

test(`the daemon's WebSocket bus under ${CASES} fuzzed cases (seed ${SEED})`, async () => {
  const r = prng(SEED);
  const daemon = (await ping()).pid;
  const before = listing();
  const rss0 = rssKiB(daemon);
  const kinds = Object.entries(cases).flatMap(([name, [w, fn]]) => Array.from({ length: w }, () => [name, fn] as const));
  const failures: string[] = [];
  const counts: Record<string, number> = {};
  let rssMax = rss0;
  const t0 = Date.now();
  for (let i = 0; i < CASES; i++) {
    const [name, fn] = r.pick(kinds);
    counts[name] = (counts[name] ?? 0) + 1;
    const { what, failure } = await fn(r);
    if (failure) failures.push(`case ${i} (${name}, seed ${SEED}): ${what}: ${failure}`);
    if ((i + 1) % BATCH === 0 || i === CASES - 1) {
      const p = await ping();
      assert.equal(p.pid, daemon, `the daemon is the same after case ${i}`);
      rssMax = Math.max(rssMax, rssKiB(daemon));
      assert.deepEqual(listing(), before, `nothing appeared or went in the root after case ${i}`);
    }
  }
  // Every fuzz connection is gone from the daemon's side too (the one asking is its only client).
  const end = Date.now() + 5000;
  let left = (await ping()).clients;
  while (left !== undefined && left > 1 && Date.now() < end) { await new Promise((res) => setTimeout(res, 20)); left = (await ping()).clients; }
  assert.equal(left ?? 1, 1, 'no fuzz connection left open in the daemon');
  const ms = Date.now() - t0;
  console.log(`# ws fuzz: ${CASES} cases in ${ms} ms; ${JSON.stringify(counts)}; daemon RSS ${rss0 >> 10} -> max ${rssMax >> 10} MiB`);
  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} failing cases`);
  assert.ok(rssMax - rss0 < 200 * 1024, `daemon RSS grew by ${(rssMax - rss0) >> 10} MiB`);
});

// Regression: ws closed on a protocol error with a bare code (no reason), and the daemon then
// terminated the socket at once, so a peer could lose even the close frame (found by the fuzzer).
test('each WebSocket protocol error closes that connection with its code and the reason', async () => {
  const pingFrame = Buffer.from(JSON.stringify({ kind: 'request', cid: 'p', body: { type: 'daemon.ping' } }));
  const bad: Array<[string, Buffer, number, RegExp]> = [
    ['reserved opcode', RawWs.frame(0x3, pingFrame), 1002, /invalid opcode 3/],
    ['RSV1 set', RawWs.frame(0x1, pingFrame, { rsv: 4 }), 1002, /RSV1 must be clear/],
    ['unmasked frame', RawWs.frame(0x1, pingFrame, { mask: false }), 1002, /MASK must be set/],
    ['long ping', RawWs.frame(0x9, Buffer.alloc(200)), 1002, /invalid payload length/],
    ['invalid UTF-8', RawWs.frame(0x1, Buffer.from([0x7b, 0xc3, 0x28])), 1007, /invalid UTF-8/],
    ['oversized', RawWs.frame(0x1, Buffer.alloc(0), { announce: MAX_PAYLOAD + 1 }), 1009, /Max payload size exceeded/],
  ];
  for (const [what, frame, code, why] of bad) {
    const ws = await RawWs.open(sock);
    // A valid request in the same write first: it is served, or dropped with the connection (never a silent end).
    ws.write(Buffer.concat([RawWs.frame(0x1, pingFrame), frame]));
    assert.equal(await ws.waitClosed(ANSWER_MS), true, `${what}: closed`);
    assert.equal(ws.closeCode, code, `${what}: close code`);
    assert.match(ws.closeReason, why, `${what}: close reason`);
    assert.match(ws.closeReason, /^runa: /, `${what}: close reason`);
  }
  assert.equal((await ping()).pid, sb.daemonPid());
});

// ---- the monitor link: a fake nsinit monitor says what the fuzzer tells it ----

/** A script of lines a monitor sends: a plausible conversation, then damaged or reordered. */
function monitorScript(r: Rng): string[] {
  const msg = (): Record<string, unknown> => r.pick<() => Record<string, unknown>>([
    () => ({ type: 'process.started' }),
    () => ({ type: 'process.failed', message: randomString(r) }),
    () => ({ type: 'monitor.signalled', signal: r.int(65) }),
    () => ({ type: 'monitor.error', message: 'é💥' + randomString(r) }),
    () => ({ type: 'process.exited', exitStatus: r.int(257) - 1, signal: r.int(65) }),
  ])();
  const hello = () => ({ type: 'monitor.hello', pid: 1 + r.int(1 << 22), initPid: 1 + r.int(1 << 22), state: r.pick(['created', 'running']) });
  const lines: unknown[] = [];
  if (r.chance(0.95)) lines.push(hello());
  for (let i = r.int(6); i > 0; i--) lines.push(msg());
  if (r.chance(0.7)) lines.push({ type: 'process.exited', exitStatus: r.int(256), signal: 0 });
  for (let i = r.chance(0.2) ? 1 + r.int(3) : 0; i > 0; i--) lines.push(r.chance(0.3) ? hello() : msg()); // after the end
  const text = lines.map((l) => JSON.stringify(l));
  // Damage: garbage, truncation, unknown kinds, out-of-range fields, oversized or empty lines.
  for (let n = r.chance(0.4) ? 1 + r.int(2) : 0; n > 0; n--) {
    const at = r.int(text.length + 1);
    const bad = r.pick<() => string>([
      () => 'not json',
      () => '',
      () => (text[at] ?? '{"type":"process.exited","exitStatus":3,"signal":0}').slice(0, r.int(40)),
      () => JSON.stringify({ type: r.pick(['process.exploded', 'monitor.hello ', 'exited', '']), exitStatus: 1 }),
      () => JSON.stringify({ type: 'process.exited', exitStatus: r.pick([256, 300, -2, 1.5, '7', null]), signal: 0 }),
      () => JSON.stringify({ type: 'process.exited', exitStatus: 0, signal: r.pick([65, -1, 9.5]) }),
      () => JSON.stringify({ type: 'monitor.hello', pid: r.pick([0, -1, 'x']), initPid: 2, state: 'created' }),
      () => JSON.stringify({ type: 'process.failed', message: 'x'.repeat(MAX_LINE - 20 + r.int(MAX_LINE)) }),
      () => JSON.stringify(randomValue(r)),
    ])();
    if (r.chance(0.5) && at < text.length) text[at] = bad; else text.splice(at, 0, bad);
  }
  return text;
}

/** What the link must report of a script: its valid, in-order prefix; and whether it breaks. */
function expected(script: string[], complete: boolean): { messages: MonitorMessage[]; broken: boolean } {
  const messages: MonitorMessage[] = [];
  let hello = false;
  let exited = false;
  for (const [i, line] of script.entries()) {
    if (i === script.length - 1 && !complete) return { messages, broken: line.length > MAX_LINE };
    if (line.length > MAX_LINE) return { messages, broken: true };
    let raw: unknown;
    try { raw = JSON.parse(line); } catch { return { messages, broken: true }; }
    const m = MonitorMessage.safeParse(raw);
    if (!m.success || exited || (m.data.type === 'monitor.hello') === hello) return { messages, broken: true };
    hello = true;
    if (m.data.type === 'process.exited') exited = true;
    messages.push(m.data);
  }
  return { messages, broken: false };
}

const monDir = fs.mkdtempSync(path.join(os.tmpdir(), 'runa-fuzz-monitor-'));
after(() => fs.rmSync(monDir, { recursive: true, force: true }));

/** Serve one connection with the script's bytes in random pieces; then end, or hold it open. */
async function fakeMonitor(r: Rng, n: number, bytes: Buffer, end: boolean) {
  const sockPath = path.join(monDir, `m${n}.sock`);
  const conns: net.Socket[] = [];
  const cuts = Array.from({ length: r.int(6) }, () => r.int(bytes.length + 1)).sort((a, b) => a - b);
  const server = net.createServer(async (c) => {
    conns.push(c);
    c.on('error', () => {});
    c.resume();
    let from = 0;
    for (const cut of [...cuts, bytes.length]) {
      c.write(bytes.subarray(from, cut)); // (a cut may fall inside a UTF-8 character)
      from = cut;
      await new Promise((res) => setImmediate(res));
    }
    if (end) c.end();
  });
  await new Promise<void>((res) => server.listen(sockPath, () => res()));
  return { sockPath, close: () => { for (const c of conns) c.destroy(); return new Promise<void>((res) => server.close(() => res())); } };
}

test(`the monitor link under ${CASES} fuzzed monitors (seed ${SEED})`, async () => {
  const r = prng(SEED ^ 0x6d6f6e);
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown) => uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  const failures: string[] = [];
  const t0 = Date.now();
  let broken = 0;
  try {
    for (let i = 0; i < CASES; i++) {
      const script = monitorScript(r);
      const complete = r.chance(0.8);
      const text = script.join('\n') + (complete ? '\n' : '');
      const end = r.chance(0.7);
      const want = expected(script, complete);
      if (want.broken) broken++;
      const mon = await fakeMonitor(r, i, Buffer.from(text), end);
      const viaActor = i % 2 === 1;
      const fail = (why: string) => failures.push(`case ${i} (seed ${SEED}, ${viaActor ? 'process actor' : 'link'}): ${why}; script ${JSON.stringify(script.map((l) => l.slice(0, 60)))}`);
      try {
        if (!viaActor) await linkCase(mon.sockPath, want, end, fail);
        else await actorCase(i, mon.sockPath, want, end, fail);
      } finally {
        await mon.close();
      }
    }
  } finally {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
  }
  console.log(`# monitor fuzz: ${CASES} cases (${broken} breaking the protocol) in ${Date.now() - t0} ms`);
  assert.deepEqual(uncaught, [], 'nothing thrown out of the event loop');
  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} failing cases`);
});

const withTimeout = <T>(p: Promise<T>, ms: number, what: string) => {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, rej) => { t = setTimeout(() => rej(new Error(`hang: ${what}`)), ms); })]).finally(() => clearTimeout(t));
};

/** MonitorLink directly: exactly the valid prefix is reported; a broken peer is dropped with the reason. */
async function linkCase(sockPath: string, want: ReturnType<typeof expected>, end: boolean, fail: (why: string) => void) {
  const seen: MonitorMessage[] = [];
  let link: MonitorLink;
  try {
    ({ link } = await withTimeout(MonitorLink.connect(sockPath, (m) => seen.push(m)), ANSWER_MS, 'connect'));
  } catch (e) {
    const err = e as Error & { code?: string };
    if (want.messages.length > 0) return fail(`connect failed (${err.message}) though a hello came`);
    if (!(err.code === 'monitor_protocol' || err.code === 'monitor_gone') && !/hang/.test(err.message)) return fail(`connect failed with ${err.code}: ${err.message}`);
    if (/hang/.test(err.message) && (want.broken || end)) return fail('connect hung');
    if (want.broken !== (err.code === 'monitor_protocol')) return fail(`connect failed with ${err.code}, expected ${want.broken ? 'monitor_protocol' : 'monitor_gone'}`);
    return;
  }
  if (want.messages.length === 0) { link.close(); return fail('connected without a valid hello'); }
  if (want.broken || end) {
    try { await withTimeout(link.closed, ANSWER_MS, 'the link closing'); } catch (e) { link.close(); return fail((e as Error).message); }
  } else {
    try { await withTimeout((async () => { while (seen.length < want.messages.length) await new Promise((res) => setTimeout(res, 2)); })(), ANSWER_MS, 'the messages'); } catch (e) { link.close(); return fail((e as Error).message); }
    link.close();
    await link.closed;
  }
  if (JSON.stringify(seen) !== JSON.stringify(want.messages)) return fail(`reported ${JSON.stringify(seen).slice(0, 300)}, expected ${JSON.stringify(want.messages).slice(0, 300)}`);
  if (want.broken !== (link.error?.code === 'monitor_protocol')) return fail(`link error ${link.error?.message}, expected ${want.broken ? 'a protocol error' : 'none'}`);
  if (want.broken && !/^the container monitor broke its protocol \(.+\)$/.test(link.error!.message)) return fail(`unclear error: ${link.error!.message}`);
  // A wait on a closed link ends, with the reason it closed.
  try { await withTimeout(link.next('monitor.signalled'), ANSWER_MS, 'next() on a closed link'); return fail('next() on a closed link resolved'); } catch (e) {
    const code = (e as RunaErrorLike).code;
    if (code !== (want.broken ? 'monitor_protocol' : 'monitor_gone')) return fail(`next() after close: ${(e as Error).message}`);
  }
}
type RunaErrorLike = Error & { code?: string };

/** Through the process actor: the container hears the valid prefix's exit (once, right) and then that the link is lost. */
async function actorCase(i: number, sockPath: string, want: ReturnType<typeof expected>, end: boolean, fail: (why: string) => void) {
  const bus = new ActorBus();
  const id = `fzm${i}`;
  const told: ActorMessage[] = [];
  const hear = (m: ActorMessage) => { told.push(m); };
  const mailbox = bus.register(`container:${id}`, { 'process.started': hear, 'process.exited': hear, 'process.lost': hear });
  const p = new ProcessActor(id, 'init', 'init', { bus });
  try {
    const attached = await withTimeout(bus.request({ type: 'process.attach', from: `container:${id}`, to: processAddress(id, 'init'), socket: sockPath, expectedPid: null }), ANSWER_MS, 'attach')
      .then(() => null, (e: RunaErrorLike) => e);
    if (attached) {
      if (/hang/.test(attached.message) && (want.broken || end)) return fail('attach hung');
      if (want.messages.length > 0) return fail(`attach failed (${attached.message}) though a hello came`);
      return;
    }
    const exits = want.messages.filter((m) => m.type === 'process.exited');
    const settled = () => told.some((m) => m.type === 'process.lost') || (!(want.broken || end) && told.filter((m) => m.type !== 'process.lost').length >= want.messages.filter((m) => m.type === 'process.exited' || m.type === 'process.started').length);
    try { await withTimeout((async () => { while (!settled()) await new Promise((res) => setTimeout(res, 2)); })(), ANSWER_MS, 'the container being told'); } catch (e) { return fail((e as Error).message); }
    const toldExits = told.filter((m) => m.type === 'process.exited') as Array<Extract<ActorMessage, { type: 'process.exited' }>>;
    if (toldExits.length > 1) return fail(`${toldExits.length} exits told`);
    if (toldExits.length !== exits.length || (exits.length && toldExits[0].exitStatus !== (exits[0] as { exitStatus: number }).exitStatus)) {
      return fail(`told exit ${JSON.stringify(toldExits.map((m) => m.exitStatus))}, expected ${JSON.stringify(exits.map((m) => (m as { exitStatus: number }).exitStatus))}`);
    }
    if ((want.broken || end) && told.filter((m) => m.type === 'process.lost').length !== 1) return fail('the link\'s end was not told once');
  } finally {
    p.stop();
    mailbox.close();
  }
}
