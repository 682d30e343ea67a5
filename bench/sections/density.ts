// The bench's "density" section. Memory per container with many running: runa's daemon and monitors against runc.
import { nsinitPath } from '../../src/paths.js';
import { describeFailure, descendants, memAvailable, memOf, pool, processes, sleep, sumMem, type Mem } from '../util.js';
import { rows, extra, opts, rootA, nextId, nextIdC, runa, runc, log, Failure, must, checkAborted, daemonPid, stopDaemon, connect, closeContext, bundleTrue, bundleSleep, noRunc } from '../harness.js';

export interface DensitySample {
  n: number;
  started: number;
  /** live actors in the daemon with the containers running (inspect.snapshot), and before */
  actors?: number;
  actorsBefore?: number;
  daemonBefore?: Mem | null;
  daemonAfter?: Mem | null;
  monitors?: Mem & { count: number };
  containers: Mem & { count: number };
  memAvailableDropKB: number;
}

export async function densityRuna(n: number): Promise<DensitySample> {
  // A fresh daemon for each count: the baseline must not include garbage from earlier phases.
  await stopDaemon(rootA);
  must(await runa(['run', '-b', bundleTrue, nextId('warm')]), 'runa run (warm-up)');
  const dpid = daemonPid(rootA);
  if (!dpid) throw new Failure('runa daemon not running');
  const { ctx, client } = await connect(rootA);
  await sleep(1000);
  const daemonBefore = memOf(dpid);
  const availBefore = memAvailable();
  const liveActors = async () => ((await client.request({ type: 'inspect.snapshot' })) as { actors: unknown[] }).actors.length;
  const actorsBefore = await liveActors();
  const ids = Array.from({ length: n }, () => nextId('d'));
  let started = 0;
  await pool(ids, 4, async (id) => {
    checkAborted();
    const r = await runa(['run', '-d', '-b', bundleSleep, id]);
    if (r.code === 0) started++;
    else log(`density: runa run -d ${id} failed: ${describeFailure(r)}`);
  });
  await sleep(1000);
  const daemonAfter = memOf(dpid);
  const mons = processes((cmd) => cmd.startsWith(nsinitPath) && cmd.includes(rootA + '/'));
  const inits = mons.flatMap((m) => descendants(m.pid));
  const sample: DensitySample = {
    n, started, daemonBefore, daemonAfter, actors: await liveActors(), actorsBefore,
    monitors: sumMem(mons.map((m) => m.pid)),
    containers: sumMem(inits),
    memAvailableDropKB: availBefore - memAvailable(),
  };
  await pool(ids, 16, (id) => client.request({ type: 'container.delete', id, force: true }).catch(() => undefined));
  closeContext(ctx);
  return sample;
}

export async function densityRunc(n: number): Promise<DensitySample> {
  await sleep(1000);
  const availBefore = memAvailable();
  const ids = Array.from({ length: n }, () => nextIdC('d'));
  let started = 0;
  await pool(ids, 4, async (id) => {
    checkAborted();
    const r = await runc(['run', '-d', '-b', bundleSleep, id]);
    if (r.code === 0) started++;
    else log(`density: runc run -d ${id} failed: ${describeFailure(r)}`);
  });
  await sleep(1000);
  const list = JSON.parse((await runc(['list', '--format', 'json'], { capture: true })).stdout || '[]') as Array<{ id: string; pid: number }> | null;
  const pids = (list ?? []).filter((c) => ids.includes(c.id) && c.pid > 0).flatMap((c) => [c.pid, ...descendants(c.pid)]);
  const sample: DensitySample = { n, started, containers: sumMem(pids), memAvailableDropKB: availBefore - memAvailable() };
  await pool(ids, 8, (id) => runc(['delete', '--force', id]));
  return sample;
}

export async function phaseDensity(): Promise<void> {
  const samples: Array<{ runa: DensitySample; runc: DensitySample | null }> = [];
  {
    for (const n of opts.density) {
      checkAborted();
      log(`density: ${n} idle containers (runa)`);
      const a = await densityRuna(n);
      log(`density: ${n} idle containers (runc)`);
      const c = opts.runc ? await densityRunc(n) : null;
      samples.push({ runa: a, runc: c });
      const mb = (kb: number) => kb / 1024 / n;
      // The daemon shares node's text pages with every other node process on the machine, so its
      // Pss moves with them: its growth is counted in private memory (USS).
      const growth = a.daemonAfter && a.daemonBefore ? a.daemonAfter.uss - a.daemonBefore.uss : NaN;
      const overheadKB = growth + (a.monitors?.pss ?? 0);
      const started = `${a.started}/${n} runa` + (c ? `, ${c.started}/${n} runc` : '');
      rows.push({
        section: 'density', name: `total per container @ ${n}`, unit: 'MB',
        runa: { value: mb(overheadKB + a.containers.pss) }, runc: c ? { value: mb(c.containers.pss) } : noRunc,
        note: `runa: daemon growth (USS) + nsinit monitors (Pss) + container processes (Pss); runc: container processes (Pss) (started: ${started})`,
      });
      if (a.actors !== undefined) {
        rows.push({
          section: 'density', name: `actors per idle container @ ${n}`, unit: 'actors', runa: { value: (a.actors - (a.actorsBefore ?? 0)) / Math.max(1, a.started) }, runc: { text: '—' },
          note: 'live actors in the daemon (its inspector\'s snapshot) per running container: its sandbox, container, gofer and init process; effects are actors only while invoked',
        });
      }
      rows.push({
        section: 'density', name: `runtime overhead per container @ ${n}`, unit: 'MB',
        runa: { value: mb(overheadKB) }, runc: c ? { text: '0 (no process left)' } : noRunc,
        note: `fresh runa daemon, USS ${(a.daemonBefore!.uss / 1024).toFixed(1)} → ${(a.daemonAfter!.uss / 1024).toFixed(1)} MB (RSS ${(a.daemonBefore!.rss / 1024).toFixed(1)} → ${(a.daemonAfter!.rss / 1024).toFixed(1)}); `
          + `${a.monitors?.count} monitors, ${((a.monitors?.pss ?? 0) / Math.max(1, a.monitors?.count ?? 1)).toFixed(0)} kB Pss / ${((a.monitors?.rss ?? 0) / Math.max(1, a.monitors?.count ?? 1)).toFixed(0)} kB RSS each`,
      });
      rows.push({
        section: 'density', name: `container processes per container @ ${n}`, unit: 'MB',
        runa: { value: mb(a.containers.pss) }, runc: c ? { value: mb(c.containers.pss) } : noRunc,
        note: 'the `sleep` itself (Pss)',
      });
      if (n >= 50) rows.push({
        section: 'density', name: `system MemAvailable drop per container @ ${n}`, unit: 'MB',
        runa: { value: mb(a.memAvailableDropKB) }, runc: c ? { value: mb(c.memAvailableDropKB) } : noRunc,
        note: 'whole system, kernel included (namespaces, mounts, cgroups, page tables); noisy',
      });
    }
  }
  extra.density = samples;
}
