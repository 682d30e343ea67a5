// The daemon's memory after many container lives (test/helpers/lives.ts): `runa run -d` and
// `runa delete -f`, two at a time, through one daemon. After a warm-up (V8 sizes its heap to the
// load first) its live heap (after a full collection) and its RSS must stay bounded, and once
// every container is deleted it must hold no container, sandbox or actor mailbox. RUNA_MEMORY_LIVES sets the count (default 300);
// `npm run soak -- --lives 1000,10000` is the long measurement (BENCHMARKS.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { lives } from './helpers/lives.js';
import type { MonitorRequest } from '../src/machines/process.js';

const LIVES = Number(process.env.RUNA_MEMORY_LIVES ?? 300);
const WARM = Math.max(50, Math.floor(LIVES / 3));

test(`the daemon's memory after ${LIVES} container lives (run -d, delete -f) stays bounded, and it keeps no actor of them`, { skip: process.getuid?.() !== 0 ? 'needs root' : false, timeout: 15 * 60_000 }, async (t) => {
  const r = await lives({ checkpoints: [WARM, LIVES], parallel: 2, sampleEvery: 50 });
  const [warm, end] = r.at;
  t.diagnostic(`${r.lives} lives in ${r.seconds} s; daemon RSS ${r.samples[0]?.rssKb} kB at start, ${warm?.rssKb} kB after ${WARM}, ${end?.rssKb} kB after ${LIVES} (live V8 heap ${warm?.heapUsedKb} → ${end?.heapUsedKb} kB)`);
  assert.deepEqual(r.failed, []);
  assert.equal(r.daemonChanged, false, 'one daemon served every life');
  assert.ok(warm && end, 'sampled at both checkpoints');
  assert.deepEqual(r.end && [r.end.containers, r.end.sandboxes, r.end.mailboxes], [0, 0, 0], 'no container, sandbox or mailbox left in the daemon');
  // The heap after a full collection is what the daemon keeps: a leak of 20 kB a life would
  // show here. RSS swings with V8's page use by tens of MB; its bound is looser.
  const heap = end.heapUsedKb - warm.heapUsedKb;
  assert.ok(heap < 4 * 1024, `the daemon's live heap grew by ${heap} kB from ${WARM} to ${LIVES} lives`);
  const grown = end.rssKb - warm.rssKb;
  assert.ok(grown < 24 * 1024, `the daemon's RSS grew by ${grown} kB from ${WARM} to ${LIVES} lives`);
  assert.deepEqual(r.leftovers, []);
});

// The leak the long measurement shows (BENCHMARKS.md, "The daemon's memory after 1,000 and
// 10,000 container lives"), in a few seconds and without a daemon: the process machine as the
// daemon holds it (provided once, shared by every process actor), each actor's monitor effects
// spawned and done, as in a container's life. XState memoizes candidates per event type on the
// shared machine, and a child spawned without an id has a done event of a type of its own: the
// process machine used to leak so. It now invokes its effects from in-between states, by ids
// that repeat (attachMonitor, openGate, signalProcess).
test('the process machine keeps nothing of the effects its actors invoked once they are done', async (t) => {
  const { createActor, fromPromise, waitFor } = await import('xstate');
  const { processMachine, monitorIdle } = await import('../src/machines/process.js');
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const done = fromPromise<unknown, MonitorRequest>(async () => undefined);
  const machine = processMachine.provide({ actors: { attachMonitor: done, openGate: done, signalProcess: done } });
  const life = async (n: number) => {
    const a = createActor(machine, { input: { role: 'init' } }).start();
    // One request at a time, as the process actor's mailbox hands them over.
    for (const e of [{ type: 'monitor.attach', socket: `/nowhere/${n}`, expectedPid: null }, { type: 'monitor.gate' }, { type: 'monitor.signal', signal: 9 }] as const) {
      a.send(e);
      await waitFor(a, (snap) => monitorIdle(snap));
    }
    a.stop();
  };
  for (let n = 0; n < 2000; n++) await life(n); // warm-up
  gc();
  const before = process.memoryUsage().heapUsed;
  const LIVES = 20_000;
  for (let n = 0; n < LIVES; n++) await life(n);
  gc();
  const perLife = (process.memoryUsage().heapUsed - before) / LIVES;
  t.diagnostic(`${perLife.toFixed(0)} bytes of heap kept per life (3 effects invoked each)`);
  assert.ok(perLife < 100, `the heap kept ${perLife.toFixed(0)} bytes per life`);
});
