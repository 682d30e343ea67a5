// The bench's "inspection" section. What an attached viewer (the inspector) costs a `run` and the bus API.
import { rows, opts, rootA, nextId, runa, log, must, connect, closeContext, bundleTrue, alternate } from '../harness.js';
import { throughput, tputCell, busApiRun } from './throughput.js';

/**
 * What inspection costs: `run` latency and bus API throughput with no viewer and with one
 * attached (a client subscribed to the inspect topic, counting frames), in the same run.
 * runa only: the runc column is not used.
 */
export async function phaseInspection(): Promise<void> {
  log(`inspection: ${opts.runs} runs with and without a viewer, then throughput both ways`);
  must(await runa(['run', '-b', bundleTrue, nextId('warm')]), 'runa run (warm-up)');
  const viewer = await connect(rootA);
  let frames = 0;
  viewer.client.on('inspect', () => { frames++; });
  const watch = (on: boolean) => viewer.client.request({ type: on ? 'inspect.subscribe' : 'inspect.unsubscribe' });
  try {
    const runOnce = async () => must(await runa(['run', '-b', bundleTrue, nextId('i')]), 'runa run').ms;
    // Alternated sample by sample; the viewer subscribes before and leaves after each watched sample, outside its time.
    const lat = await alternate(opts.runs, runOnce, async () => {
      await watch(true);
      try { return await runOnce(); } finally { await watch(false); }
    });
    const without = lat.runa.value;
    const withViewer = lat.runc;
    const pct = (a?: number, b?: number) => (a !== undefined && b ? `${(((a - b) / b) * 100).toFixed(0)} %` : 'n/a');
    rows.push({
      section: 'inspection', name: '`run /bin/true`, daemon warm, a viewer attached', unit: 'ms', runa: withViewer, runc: { text: '—' },
      note: `no viewer: ${without?.toFixed(1) ?? 'n/a'} ms (p90 ${lat.runa.p90?.toFixed(1) ?? 'n/a'}), alternated sample by sample: ${pct(withViewer.value, without)}`,
    });
    const conns = await Promise.all(Array.from({ length: opts.clients }, () => connect(rootA)));
    try {
      const bare = await throughput('bus API, no viewer', busApiRun(conns, 'ib'), rootA);
      await watch(true);
      const before = frames;
      const watched = await throughput('bus API, a viewer attached', busApiRun(conns, 'ib'), rootA);
      await watch(false);
      rows.push({
        section: 'inspection', name: `bus API create/start/delete, ${opts.clients} clients, a viewer attached`, unit: '/s', higherIsBetter: true,
        runa: tputCell(watched), runc: { text: '—' },
        note: `no viewer: ${bare.perSecond.toFixed(1)} /s (${pct(watched.perSecond, bare.perSecond)}); the viewer received ${frames - before} frames (${watched.completed ? Math.round((frames - before) / watched.completed) : 0} per container)`,
      });
    } finally {
      for (const { ctx } of conns) closeContext(ctx);
    }
  } finally {
    closeContext(viewer.ctx);
  }
}
