// runa debug --trace FILE [--duration D]: a container's actors as a Chrome trace (trace-event
// JSON, as Perfetto's and chrome://tracing's importers read it), recorded live or taken from the
// history; its structure checked here event by event.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox } from './helpers/runa.js';

const sb = new Sandbox('trace');
before(async () => {
  assert.equal((await sb.run(['delete', '-f', 'warmup'])).code, 0); // starts the daemon
});
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

interface Ev { name: string; ph: string; ts: number; dur?: number; pid: number; tid: number; s?: string; cat?: string; args?: any }

/** The checks Perfetto's JSON importer needs to draw it, and what runa promises of its tracks. */
function checkTrace(file: string): { events: Ev[]; threads: Map<number, string>; otherData: any } {
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.ok(Array.isArray(doc.traceEvents), 'a traceEvents array');
  assert.equal(doc.displayTimeUnit, 'ms');
  const events = doc.traceEvents as Ev[];
  const threads = new Map<number, string>();
  const last = new Map<string, number>();
  for (const e of events) {
    assert.equal(typeof e.name, 'string', JSON.stringify(e));
    assert.ok(['X', 'i', 'M'].includes(e.ph), JSON.stringify(e));
    for (const k of ['ts', 'pid', 'tid'] as const) assert.ok(Number.isFinite(e[k]) && e[k] >= 0, `${k} of ${JSON.stringify(e)}`);
    if (e.ph === 'X') assert.ok(Number.isFinite(e.dur) && e.dur! >= 0, `dur of ${JSON.stringify(e)}`);
    if (e.ph === 'i') assert.equal(e.s, 't', 'an instant on its thread');
    if (e.ph === 'M' && e.name === 'thread_name') threads.set(e.tid, e.args.name);
    const track = `${e.pid}/${e.tid}`;
    assert.ok(e.ts >= (last.get(track) ?? 0), `timestamps never go back on ${track}: ${JSON.stringify(e)}`);
    last.set(track, e.ts);
  }
  assert.ok(events.some((e) => e.ph === 'M' && e.name === 'process_name' && /^runa container /.test(e.args.name)));
  // Every actor's states follow each other: each starts where the one before it ended.
  for (const tid of threads.keys()) {
    const states = events.filter((e) => e.ph === 'X' && e.tid === tid);
    for (let i = 1; i < states.length; i++) assert.equal(states[i].ts, states[i - 1].ts + states[i - 1].dur!, `${threads.get(tid)}: ${states[i - 1].name} then ${states[i].name}`);
  }
  return { events, threads, otherData: doc.otherData };
}

/** The transitions of one actor, as `from → to`, in order. */
const transitions = (events: Ev[], threads: Map<number, string>, actor: string) => {
  const tid = [...threads].find(([, name]) => name === actor)?.[0];
  return events.filter((e) => e.tid === tid && e.cat === 'transition').map((e) => e.name);
};

/** `want` appears in `got` in this order (other steps may come between). */
function inOrder(got: string[], want: string[]): void {
  let at = 0;
  for (const w of want) {
    const i = got.indexOf(w, at);
    assert.ok(i >= 0, `${w} after ${want[want.indexOf(w) - 1] ?? 'the start'} in ${got.join(', ')}`);
    at = i + 1;
  }
}

test('debug --trace --duration: run -d, exec, pause, resume, kill and delete, recorded live, each actor on its own thread', async () => {
  assert.equal((await sb.run(['run', '-d', '-b', await sb.bundle(['sleep', '1000']), 'live'])).code, 0);
  const file = path.join(sb.dir, 'live.json');
  // Recorded until the container is deleted (long before the duration is up).
  const tracing = sb.run(['debug', '--trace', file, '--duration', '10m', 'live'], { timeoutMs: 120_000 });
  // The recording has begun once its file is there (the daemon opens it first).
  for (let i = 0; i < 500 && !fs.existsSync(file); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal((await sb.run(['exec', 'live', 'true'])).code, 0);
  for (const op of [['pause', 'live'], ['resume', 'live'], ['kill', 'live', 'KILL']]) assert.equal((await sb.run(op)).code, 0, op.join(' '));
  assert.equal((await sb.run(['wait', 'live'])).code, 0);
  assert.equal((await sb.run(['delete', 'live'])).code, 0);
  const r = await tracing;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`Trace of container live written to ${file} \\(\\d+ history entries, until the container was deleted: \\d+ trace events, \\d+ bytes\\)`));

  const { events, threads, otherData } = checkTrace(file);
  assert.equal(otherData.recorded, 'live');
  const names = [...threads.values()];
  for (const a of ['sandbox:live', 'container:live', 'gofer:live', 'process:live/init']) assert.ok(names.includes(a), `${a} in ${names.join(', ')}`);
  assert.equal(names.filter((n) => /^process:live\/[0-9a-f]{16}$/.test(n)).length, 1, 'the exec\'d process has a thread');
  inOrder(transitions(events, threads, 'container:live'), [
    'running → execing', 'execing → running', 'running → pausing', 'pausing → paused', 'paused → resuming', 'resuming → running',
    'running → killing', 'killing → running', 'running → stopped', 'stopped → deleting', 'deleting → deleted',
  ]);
  inOrder(transitions(events, threads, 'process:live/init'), ['running → paused', 'paused → running', 'running → stopped']);
  inOrder(transitions(events, threads, 'gofer:live'), ['running → paused', 'paused → running']);
  // The in-between states have their durations: the effects ran there.
  const container = [...threads].find(([, n]) => n === 'container:live')![0];
  const states = events.filter((e) => e.ph === 'X' && e.tid === container).map((e) => e.name);
  inOrder(states, ['running', 'execing', 'running', 'pausing', 'paused', 'resuming', 'running', 'killing', 'running', 'stopped', 'deleting', 'deleted']);
  assert.ok(events.some((e) => e.cat === 'message' && e.name === 'container.pause' && e.args.from === 'daemon:router' && e.tid === container), 'the messages an actor receives are on its thread');
  // The exec'd process starts when it is first seen, not before.
  const exec = [...threads].find(([, n]) => /^process:live\//.test(n) && n !== 'process:live/init')![0];
  assert.equal(events.find((e) => e.ph === 'X' && e.tid === exec)!.args.entered, '(first seen)');
});

test('debug --trace without --duration: what the history holds now, from the create on', async () => {
  assert.equal((await sb.run(['run', '-d', '-b', await sb.bundle(['sleep', '1000']), 'hist'])).code, 0);
  assert.equal((await sb.run(['pause', 'hist'])).code, 0);
  const file = path.join(sb.dir, 'hist.json');
  const r = await sb.run(['debug', '--trace', file, 'hist']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /container hist: paused/, 'and the actor tree, as debug prints it');
  const { events, threads, otherData } = checkTrace(file);
  assert.equal(otherData.recorded, 'history');
  // run starts at once (nsinit --start): from creating straight to running.
  inOrder(transitions(events, threads, 'container:hist'), ['creating → running', 'running → pausing', 'pausing → paused']);
  // The state it is in lasts to the end of the trace.
  const container = [...threads].find(([, n]) => n === 'container:hist')![0];
  const lastState = events.filter((e) => e.ph === 'X' && e.tid === container).at(-1)!;
  assert.equal(lastState.name, 'paused');
  assert.equal(lastState.args.left, '(after the trace)');
  assert.equal((await sb.run(['delete', '-f', 'hist'])).code, 0);
});

test('debug --trace refusals: no such container, a bad --duration, a file that cannot be written, with --check', async () => {
  const file = path.join(sb.dir, 'bad.json');
  const none = await sb.run(['debug', '--trace', file, 'nosuch']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /container does not exist/);
  // A state dir with no container in it (runc's "no state"): the same.
  fs.mkdirSync(path.join(sb.root, 'stateless'));
  const stateless = await sb.run(['debug', '--trace', file, 'stateless']);
  assert.match(stateless.stderr, /container does not exist/);
  fs.rmdirSync(path.join(sb.root, 'stateless'));
  assert.equal(fs.existsSync(file), false, 'no file for a container that is not there');

  assert.equal((await sb.run(['run', '-d', '-b', await sb.bundle(['sleep', '1000']), 'ref'])).code, 0);
  for (const [args, message] of [
    [['--duration', 'soon'], /invalid duration "soon"/],
    [['--duration', '0s'], /duration interval must be greater than 0/],
    [['--duration', '2h'], /-duration and -delay: at most 1h/],
    [['--check'], /-check prints the history's replay only: not with -trace/],
  ] as Array<[string[], RegExp]>) {
    const r = await sb.run(['debug', '--trace', file, ...args, 'ref']);
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.stderr, message);
    assert.equal(fs.existsSync(file), false, `${args.join(' ')}: nothing written`);
  }
  const unwritable = await sb.run(['debug', '--trace', path.join(sb.dir, 'no', 'dir', 'x.json'), 'ref']);
  assert.match(unwritable.stderr, /writing trace ".*\/no\/dir\/x\.json": ENOENT/);
  assert.match((await sb.run(['debug', '--duration', '1s', 'ref'])).stderr, /-duration applies to -profile-cpu and -trace only/);
  assert.equal((await sb.run(['delete', '-f', 'ref'])).code, 0);
});
