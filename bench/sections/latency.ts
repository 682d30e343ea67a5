// The bench's "latency" section. `run`, create/start/delete, exec, state and list: runa against runc, one call at a time.
import { type ChildProcess } from 'node:child_process';
import { describeFailure, stat } from '../util.js';
import { type Row, rows, extra, opts, rootA, nextId, nextIdC, runa, runc, log, Failure, must, stopDaemon, bundleTrue, bundleSleep, alternate, noRunc, daemonPid } from '../harness.js';
import fs from 'node:fs';

/** A process's user + system CPU time so far, in ms (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) * 10;
  } catch { return NaN; }
}

export async function phaseLatency(): Promise<void> {
  log(`latency: ${opts.runs} runs per figure`);
  // Warm up: start runa's daemon, fault in both binaries.
  must(await runa(['run', '-b', bundleTrue, nextId('warm')]), 'runa run (warm-up)');
  if (opts.runc) must(await runc(['run', '-b', bundleTrue, nextIdC('warm')]), 'runc run (warm-up)');

  const dpid = daemonPid(rootA);
  const cpuBefore = dpid ? cpuMs(dpid) : NaN;
  let runaRuns = 0;
  const warm = await alternate(opts.runs,
    async () => { runaRuns++; return must(await runa(['run', '-b', bundleTrue, nextId('r')]), 'runa run').ms; },
    opts.runc ? async () => must(await runc(['run', '-b', bundleTrue, nextIdC('c')]), 'runc run').ms : null);
  rows.push({ section: 'latency', name: '`run /bin/true`, daemon warm', unit: 'ms', ...warm });
  if (dpid) {
    rows.push({
      section: 'latency', name: 'the daemon\'s CPU per warm `run`', unit: 'ms', runa: { value: (cpuMs(dpid) - cpuBefore) / Math.max(1, runaRuns) }, runc: { text: '—' },
      note: 'user + system time of the daemon process (/proc/PID/stat) over the warm runs, per run; runc has no daemon',
    });
  }

  log(`latency: ${opts.coldRuns} cold runs (daemon stopped before each)`);
  const cold = await alternate(opts.coldRuns, async () => {
    await stopDaemon(rootA);
    return must(await runa(['run', '-b', bundleTrue, nextId('r')]), 'runa run (cold)').ms;
  }, null);
  rows.push({
    section: 'latency', name: '`run /bin/true`, daemon cold (first call)', unit: 'ms', runa: cold.runa,
    runc: opts.runc ? { ...warm.runc } : noRunc, note: 'runc has no daemon: its figure is the warm one',
  });

  log('latency: create + start + wait + delete');
  const stepsA: Record<string, number[]> = { create: [], start: [], wait: [], delete: [] };
  const stepsC: Record<string, number[]> = { create: [], start: [], 'poll state': [], delete: [] };
  let polls = 0;
  const cycle = await alternate(opts.runs, async () => {
    const id = nextId('r');
    const t = [
      must(await runa(['create', '-b', bundleTrue, id]), 'runa create').ms,
      must(await runa(['start', id]), 'runa start').ms,
      must(await runa(['wait', id]), 'runa wait').ms,
      must(await runa(['delete', id]), 'runa delete').ms,
    ];
    Object.values(stepsA).forEach((xs, i) => xs.push(t[i]));
    return t.reduce((a, b) => a + b, 0);
  }, opts.runc ? async () => {
    const id = nextIdC('c');
    const t0 = must(await runc(['create', '-b', bundleTrue, id]), 'runc create').ms;
    const t1 = must(await runc(['start', id]), 'runc start').ms;
    let t2 = 0;
    for (let i = 0; ; i++) {
      const s = must(await runc(['state', id], { capture: true }), 'runc state');
      t2 += s.ms;
      polls++;
      if (JSON.parse(s.stdout).status === 'stopped') break;
      if (i > 1000) throw new Failure('runc container did not stop');
    }
    const t3 = must(await runc(['delete', id]), 'runc delete').ms;
    [t0, t1, t2, t3].forEach((v, i) => Object.values(stepsC)[i].push(v));
    return t0 + t1 + t2 + t3;
  } : null);
  const stepText = (steps: Record<string, number[]>) =>
    Object.entries(steps).map(([k, v]) => `${k} ${stat(v).median.toFixed(0)}`).join(' + ');
  rows.push({
    section: 'latency', name: '`create` + `start` + wait + `delete` of /bin/true', unit: 'ms', ...cycle,
    note: `runa: ${stepText(stepsA)} ms` + (opts.runc ? `; runc: ${stepText(stepsC)} ms (${(polls / Math.max(1, opts.runs)).toFixed(1)} state polls per cycle; runc has no wait)` : ''),
  });
  extra.cycleSteps = {
    runa: Object.fromEntries(Object.entries(stepsA).map(([k, v]) => [k, stat(v)])),
    runc: Object.fromEntries(Object.entries(stepsC).map(([k, v]) => [k, stat(v)])),
  };

  // exec and state need a running container on each side.
  const ida = nextId('exec');
  const idc = nextIdC('exec');
  must(await runa(['run', '-d', '-b', bundleSleep, ida]), 'runa run -d');
  if (opts.runc) must(await runc(['run', '-d', '-b', bundleSleep, idc]), 'runc run -d');
  try {
    log('latency: exec');
    const probe = await runa(['exec', '--help'], { capture: true });
    const implemented = !/No help topic/.test(probe.stderr);
    let execRow: Row;
    if (!implemented) {
      execRow = {
        section: 'latency', name: '`exec /bin/true` into a running container', unit: 'ms',
        runa: { text: 'n/a (not implemented)' }, runc: opts.runc ? { text: '' } : noRunc,
      };
      if (opts.runc) {
        const r = await alternate(opts.runs, async () => null, async () => must(await runc(['exec', idc, '/bin/true']), 'runc exec').ms);
        execRow.runc = r.runc;
      }
    } else {
      const first = await runa(['exec', ida, '/bin/true']);
      if (first.code !== 0) {
        execRow = {
          section: 'latency', name: '`exec /bin/true` into a running container', unit: 'ms',
          runa: { text: `failed (${describeFailure(first).slice(0, 80)})` }, runc: noRunc,
        };
        if (opts.runc) execRow.runc = (await alternate(opts.runs, async () => null, async () => must(await runc(['exec', idc, '/bin/true']), 'runc exec').ms)).runc;
      } else {
        const r = await alternate(opts.runs,
          async () => must(await runa(['exec', ida, '/bin/true']), 'runa exec').ms,
          opts.runc ? async () => must(await runc(['exec', idc, '/bin/true']), 'runc exec').ms : null);
        execRow = { section: 'latency', name: '`exec /bin/true` into a running container', unit: 'ms', ...r };
      }
    }
    rows.push(execRow);

    log('latency: state (CLI cold start of a read-only command)');
    const st = await alternate(opts.runs,
      async () => must(await runa(['state', ida]), 'runa state').ms,
      opts.runc ? async () => must(await runc(['state', idc]), 'runc state').ms : null);
    rows.push({ section: 'latency', name: '`state` of a running container (CLI cold start)', unit: 'ms', ...st, note: 'runa: the front end asks the daemon, which reads the state dir' });

    log('latency: list');
    const ls = await alternate(opts.runs,
      async () => must(await runa(['list']), 'runa list').ms,
      opts.runc ? async () => must(await runc(['list']), 'runc list').ms : null);
    rows.push({ section: 'latency', name: '`list` with a running container', unit: 'ms', ...ls, note: 'runa: the front end asks the daemon, which reads the state dirs' });
  } finally {
    await runa(['delete', '--force', ida]);
    if (opts.runc) await runc(['delete', '--force', idc]);
  }
}

/** Read nsinit's sync line from fd 3 (as src/cli/lifecycle.ts does). */
export function readSyncLine(child: ChildProcess): Promise<number> {
  const stream = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void };
  return new Promise((resolve, reject) => {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      stream.removeAllListeners();
      stream.destroy();
      const [kind, a, ...rest] = buf.slice(0, nl).split('\t');
      if (kind === 'created') resolve(Number(a));
      else reject(new Failure(rest.join('\t') || `nsinit failed (errno ${a})`));
    });
    stream.on('end', () => reject(new Failure('nsinit exited before the container was created')));
  });
}
