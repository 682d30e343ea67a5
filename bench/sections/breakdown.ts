// The bench's "breakdown" section. Where the time of a `run` goes: the daemon's steps over the bus, and a CLI's cold start.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { BusClient } from '../../src/bus/client.js';
import { cliEntry, daemonEntry, nsinitPath, packageRoot, socketPath } from '../../src/paths.js';
import { runTimed, sleep, stat } from '../util.js';
import { breakdown, extra, findRow, opts, work, rootA, monitors, nextId, runa, log, must, checkAborted, connect, closeContext, bundleTrue } from '../harness.js';
import { readSyncLine } from './latency.js';

export const API_STEPS = ['container.create (daemon: validate bundle, build plan, write state)', 'spawn nsinit', 'nsinit: namespaces, mounts, pivot_root → created',
  'container.created (daemon: attach to monitor)', 'container.start (daemon → monitor → exec)', '/bin/true runs and exits, monitor exits', 'container.delete'];

/** The create/start/wait/delete flow of `runa run`, in-process over the bus, with a timestamp per step. */
export async function apiRunInstrumented(client: BusClient, id: string): Promise<number[]> {
  const t = [performance.now()];
  const mark = () => t.push(performance.now());
  const { plan } = await client.request<{ plan: string }>({ type: 'container.create', id, bundle: bundleTrue });
  mark();
  const child = spawn(nsinitPath, [plan], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
  monitors.add(child);
  const exited = new Promise<void>((r) => child.once('exit', () => { monitors.delete(child); r(); }));
  try {
    await new Promise<void>((resolve, reject) => { child.once('spawn', resolve); child.once('error', reject); });
    mark();
    const initPid = await readSyncLine(child);
    mark();
    await client.request({ type: 'container.created', id, monitorPid: child.pid!, initPid });
    mark();
  } catch (e) {
    child.kill('SIGKILL');
    await client.request({ type: 'container.createFailed', id, message: (e as Error).message }).catch(() => undefined);
    throw e;
  }
  await client.request({ type: 'container.start', id });
  mark();
  await exited;
  mark();
  await client.request({ type: 'container.delete', id, force: true });
  mark();
  return t.slice(1).map((v, i) => v - t[i]);
}

/** Run a snippet of ESM in a fresh Node.js process; it prints one JSON object of timings. */
export async function probe(code: string): Promise<Record<string, number>> {
  const r = must(await runTimed(process.execPath, ['--input-type=module', '-e', code], { capture: true }), 'probe');
  return JSON.parse(r.stdout) as Record<string, number>;
}

export const fileUrl = (...p: string[]) => JSON.stringify(pathToFileURL(path.join(packageRoot, ...p)).href);

export async function phaseBreakdown(): Promise<void> {
  log('breakdown: node start-up, CLI start-up, connection set-up, in-process bus API');
  must(await runa(['run', '-b', bundleTrue, nextId('warm')]), 'runa run (warm-up)');
  const series: Record<string, number[]> = {
    nodeStart: [], version: [], nodeVersion: [], boot: [], importClient: [], connect: [], firstRequest: [], importDaemon: [],
  };
  const clientProbe = `const t0 = performance.now();
const { BusClient } = await import(${fileUrl('dist', 'src', 'bus', 'client.js')});
const t1 = performance.now();
const c = await BusClient.connect(${JSON.stringify(socketPath(rootA))});
const t2 = performance.now();
await c.request({ type: 'daemon.ping' });
const t3 = performance.now();
c.close();
process.stdout.write(JSON.stringify({ boot: t0, importClient: t1 - t0, connect: t2 - t1, firstRequest: t3 - t2 }));`;
  /** A daemon started as the front end starts it (bin/runa-daemon.cjs, its build-time code cache, a fresh root): spawn to listening. */
  const daemonListen = async (i: number): Promise<number> => {
    const root = path.join(work, `daemon-start-${i}`);
    fs.mkdirSync(root, { mode: 0o700 });
    const { NODE_EXTRA_CA_CERTS: _, ...env } = process.env;
    const t0 = performance.now();
    const child = spawn(process.execPath, [daemonEntry, '--root', root, 'daemon'], { stdio: 'ignore', env });
    const exited = new Promise((r) => child.once('exit', r));
    let ms = NaN;
    for (let k = 0; k < 5000; k++) {
      const ok = await new Promise<boolean>((r) => {
        const c = net.connect(socketPath(root));
        c.once('connect', () => { c.destroy(); r(true); });
        c.once('error', () => r(false));
      });
      if (ok) { ms = performance.now() - t0; break; }
      await sleep(1);
    }
    child.kill('SIGTERM');
    await exited;
    fs.rmSync(root, { recursive: true, force: true });
    return ms;
  };
  for (let i = 0; i < opts.runs; i++) {
    checkAborted();
    series.nodeStart.push(must(await runTimed(process.execPath, ['-e', '0']), 'node -e 0').ms);
    series.version.push(must(await runa(['--version']), 'runa --version').ms);
    series.nodeVersion.push(must(await runTimed(process.execPath, [cliEntry, '--root', rootA, '--version']), 'node bin/runa.js --version').ms);
    for (const [k, v] of Object.entries(await probe(clientProbe))) series[k].push(v);
    if (i < Math.min(opts.runs, 10)) series.importDaemon.push(await daemonListen(i));
  }
  const s = Object.fromEntries(Object.entries(series).map(([k, v]) => [k, stat(v)]));
  const warm = findRow('latency', '`run /bin/true`, daemon warm')?.runa.value;
  const cold = findRow('latency', '`run /bin/true`, daemon cold')?.runa.value;
  const diff = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? 'not measured' : (a - b).toFixed(1));
  breakdown.push({ name: '**The command line**', text: '' });
  breakdown.push({ name: '`runa --version`: the front end (start, connect, `cli.run` answered by the daemon)', ms: s.version });
  breakdown.push({ name: '`runa run` beyond `--version` (`run` − `--version`)', text: diff(warm, s.version.median), note: 'the daemon\'s work, nsinit, and the steps it asks of the front end' });
  breakdown.push({ name: '**The Node.js CLI (`bin/runa.js`: what the front end execs when no daemon answers, and for spec, update, events…)**', text: '' });
  breakdown.push({ name: '`node -e 0`: bare Node.js process, spawn to exit', ms: s.nodeStart });
  breakdown.push({ name: '  of which Node.js bootstrap before user code runs', ms: s.boot, note: '`performance.now()` at the first line of a script' });
  breakdown.push({ name: '`node bin/runa.js --version`: Node.js + the CLI entry\'s static imports', ms: s.nodeVersion });
  breakdown.push({ name: '  CLI module loading (that − `node -e 0`)', text: (s.nodeVersion.median - s.nodeStart.median).toFixed(1) });
  breakdown.push({ name: '  `import(bus/client.js)` (ws) in a fresh process', ms: s.importClient, note: 'paid by every command that talks to the daemon' });
  breakdown.push({ name: '  connect (WebSocket upgrade on the unix socket) in a fresh process', ms: s.connect });
  breakdown.push({ name: '  first request round trip in a fresh process', ms: s.firstRequest });
  breakdown.push({ name: '**daemon cold start**', text: '' });
  breakdown.push({ name: '`run` daemon cold − daemon warm', text: diff(cold, warm), note: 'the first call spawns `runa daemon` and polls its socket' });
  breakdown.push({ name: '  daemon start to listening (`bin/runa-daemon.cjs`, its code cache, a fresh root)', ms: s.importDaemon });

  const { ctx, client } = await connect(rootA);
  try {
    const steps: number[][] = API_STEPS.map(() => []);
    const totals: number[] = [];
    await apiRunInstrumented(client, nextId('api')); // warm-up
    for (let i = 0; i < opts.runs; i++) {
      checkAborted();
      const t = await apiRunInstrumented(client, nextId('api'));
      t.forEach((v, j) => steps[j].push(v));
      totals.push(t.reduce((a, b) => a + b, 0));
    }
    breakdown.push({ name: '**`run` via the bus API, in-process (no CLI): daemon + nsinit**', ms: stat(totals), note: 'the flow of `runa run`, driven from the bench process over one warm connection' });
    API_STEPS.forEach((name, j) => breakdown.push({ name: `  ${j + 1}. ${name}`, ms: stat(steps[j]) }));
    extra.breakdown = { ...s, apiRun: stat(totals), apiSteps: Object.fromEntries(API_STEPS.map((n, j) => [n, stat(steps[j])])) };
  } finally {
    closeContext(ctx);
  }
}
