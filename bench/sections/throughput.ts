// The bench's "throughput" section. Containers per second with many clients: the CLI and the bus API against runc's CLI.
import { performance } from 'node:perf_hooks';
import { BusClient } from '../../src/bus/client.js';
import { Context } from '../../src/cli/context.js';
import { createContainer } from '../../src/cli/lifecycle.js';
import { memOf, stat, type Mem, type Stat } from '../util.js';
import { type Cell, rows, extra, opts, rootA, aborted, monitors, nextId, nextIdC, runa, runc, log, must, checkAborted, daemonPid, connect, closeContext, bundleTrue, noRunc } from '../harness.js';

export interface Throughput {
  perSecond: number; completed: number; failed: number; seconds: number; latency: Stat; firstError?: string;
  /** completions per second in consecutive 5 s windows: shows drift over the run */
  perWindow: number[];
  /** runa's daemon memory (kB) before and after */
  daemon?: { before: Mem | null; after: Mem | null };
}

export async function throughput(label: string, one: (client: number) => Promise<void>, daemonRoot?: string): Promise<Throughput> {
  log(`throughput: ${label}, ${opts.clients} clients × ${opts.throughputSeconds} s`);
  const dpid = daemonRoot ? daemonPid(daemonRoot) : null;
  const before = dpid ? memOf(dpid) : null;
  const windows: number[] = [];
  const t0 = performance.now();
  const end = t0 + opts.throughputSeconds * 1000;
  let completed = 0;
  let failed = 0;
  let firstError: string | undefined;
  const lat: number[] = [];
  await Promise.all(Array.from({ length: opts.clients }, async (_, c) => {
    while (performance.now() < end && !aborted) {
      const s = performance.now();
      try {
        await one(c);
        completed++;
        const now = performance.now();
        lat.push(now - s);
        const w = Math.floor((now - t0) / 5000);
        windows[w] = (windows[w] ?? 0) + 1;
      } catch (e) {
        failed++;
        firstError ??= (e as Error).message;
        if (failed > 50 && completed === 0) return; // broken, not slow
      }
    }
  }));
  checkAborted();
  const seconds = (performance.now() - t0) / 1000;
  if (firstError) log(`throughput ${label}: ${failed} failed, first: ${firstError}`);
  const perWindow = Array.from({ length: Math.max(1, Math.floor(opts.throughputSeconds / 5)) }, (_, i) => Math.round((windows[i] ?? 0) / Math.min(5, opts.throughputSeconds)));
  const daemon = dpid ? { before, after: memOf(dpid) } : undefined;
  return { perSecond: completed / seconds, completed, failed, seconds, latency: stat(lat), firstError, perWindow, daemon };
}

export function tputCell(t: Throughput): Cell {
  if (!t.completed) return { text: `failed (${t.firstError?.slice(0, 60) ?? 'none completed'})` };
  return { value: t.perSecond, detail: t };
}

export function daemonNote(t: Throughput): string {
  const d = t.daemon;
  if (!d?.before || !d.after) return '';
  return `; daemon RSS ${(d.before.rss / 1024).toFixed(0)} → ${(d.after.rss / 1024).toFixed(0)} MB`;
}

/** One /bin/true through the bus API on client c's connection: the flow of `runa run` without the CLI. */
export function busApiRun(conns: Array<{ ctx: Context; client: BusClient }>, prefix: string) {
  return async (c: number): Promise<void> => {
    const { ctx, client } = conns[c];
    const id = nextId(prefix);
    const { nsinit } = await createContainer(ctx, { id, bundle: bundleTrue });
    const monitor = { kill: (sig: NodeJS.Signals) => nsinit.kill(sig) };
    monitors.add(monitor);
    try {
      await client.request({ type: 'container.start', id });
      await nsinit.wait();
    } finally {
      monitors.delete(monitor);
      await client.request({ type: 'container.delete', id, force: true });
    }
  };
}


export async function phaseThroughput(): Promise<void> {
  must(await runa(['run', '-b', bundleTrue, nextId('warm')]), 'runa run (warm-up)');
  const cli = await throughput('runa CLI run', async () => {
    must(await runa(['run', '-b', bundleTrue, nextId('t')]), 'runa run');
  }, rootA);
  const cliC = opts.runc ? await throughput('runc CLI run', async () => {
    must(await runc(['run', '-b', bundleTrue, nextIdC('t')]), 'runc run');
  }) : null;
  rows.push({
    section: 'throughput', name: `runa CLI \`run\` vs runc CLI \`run\`, /bin/true, ${opts.clients} clients`, unit: '/s', higherIsBetter: true,
    runa: tputCell(cli), runc: cliC ? tputCell(cliC) : noRunc,
    note: `containers completed per second; median latency under load: runa ${cli.latency.median.toFixed(0)} ms` + (cliC ? `, runc ${cliC.latency.median.toFixed(0)} ms` : '')
      + `; per 5 s: runa ${cli.perWindow.join(' ')}` + (cliC ? `, runc ${cliC.perWindow.join(' ')}` : ''),
  });

  const conns = await Promise.all(Array.from({ length: opts.clients }, () => connect(rootA)));
  let api: Throughput;
  try {
    api = await throughput('runa bus API', busApiRun(conns, 'b'), rootA);
  } finally {
    for (const { ctx } of conns) closeContext(ctx);
  }
  rows.push({
    section: 'throughput', name: `runa bus API (in-process \`createContainer\`) vs runc CLI \`run\`, ${opts.clients} clients`, unit: '/s', higherIsBetter: true,
    runa: tputCell(api), runc: cliC ? tputCell(cliC) : noRunc,
    note: `one bus connection per client; median latency under load: ${api.latency.median.toFixed(0)} ms; per 5 s: ${api.perWindow.join(' ')}${daemonNote(api)}`,
  });
  extra.throughput = { runaCli: cli, runaApi: api, runcCli: cliC };
}
