// The bench's "bus" section. The daemon's bus alone: requests per second over the socket.
import { performance } from 'node:perf_hooks';
import { Bus } from '../../src/bus/bus.js';
import { rows, opts, rootBus, log, checkAborted, stopDaemon, connect, closeContext } from '../harness.js';

export async function measureRate(seconds: number, window: number, one: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let n = 0;
  await Promise.all(Array.from({ length: window }, async () => {
    while (performance.now() < end) { await one(); n++; }
  }));
  return n / ((performance.now() - t0) / 1000);
}

export async function phaseBus(): Promise<void> {
  const s = opts.busSeconds;
  log(`bus: in-process, ${s} s per figure`);
  const bus = new Bus();
  bus.handle('daemon.ping', () => ({ pid: process.pid, containers: 0 }));
  await measureRate(0.3, 64, () => bus.request({ type: 'daemon.ping' })); // warm-up (JIT)
  const note = 'request/reply round trips per second; runc has no bus';
  for (const w of [1, 256]) {
    checkAborted();
    const rate = await measureRate(s, w, () => bus.request({ type: 'daemon.ping' }));
    rows.push({ section: 'bus', name: `in-process \`Bus.request(daemon.ping)\`, ${w} in flight`, unit: '/s', higherIsBetter: true, runa: { value: rate }, runc: { text: '—' }, note });
  }

  log(`bus: over the daemon's unix socket, ${s} s per figure`);
  const { ctx, client } = await connect(rootBus);
  try {
    await measureRate(0.5, 64, () => client.request({ type: 'daemon.ping' }));
    for (const w of [1, 64, 256]) {
      checkAborted();
      const rate = await measureRate(s, w, () => client.request({ type: 'daemon.ping' }));
      rows.push({ section: 'bus', name: `socket \`BusClient.request(daemon.ping)\`, ${w} in flight`, unit: '/s', higherIsBetter: true, runa: { value: rate }, runc: { text: '—' }, note: w === 1 ? note + '; one connection' : 'one connection' });
    }
    // Several connections at once: the daemon is one process, the clients share this one.
    const more = await Promise.all(Array.from({ length: 4 }, () => connect(rootBus)));
    try {
      const t0 = performance.now();
      const rates = await Promise.all(more.map(({ client: c }) => measureRate(s, 64, () => c.request({ type: 'daemon.ping' }))));
      void t0;
      rows.push({ section: 'bus', name: 'socket, 4 connections × 64 in flight', unit: '/s', higherIsBetter: true, runa: { value: rates.reduce((a, b) => a + b, 0) }, runc: { text: '—' }, note: 'all clients in the bench process' });
    } finally {
      for (const m of more) closeContext(m.ctx);
    }
  } finally {
    closeContext(ctx);
    await stopDaemon(rootBus);
  }
}
