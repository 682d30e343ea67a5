// Many container lives through one daemon, and its memory as they go: each life is
// `runa run -d` of a sleeping container and `runa delete -f` of it, `parallel` at a time, all
// through the command line against one private state root whose daemon must stay the same
// process throughout. Every `sampleEvery` lives the daemon is asked for a full garbage
// collection and its actor counts and V8 heap (`daemon.ping` with `gc`), and its RSS and USS
// are read from /proc. Used by test/soak-memory.test.ts
// (a bounded run) and `npm run soak -- --lives 1000,10000` (bench/soak.ts).
import fs from 'node:fs';
import path from 'node:path';
import { BusClient } from '../../src/bus/client.js';
import { Sandbox, alive } from './runa.js';
import { cgroupChildren } from './callers.js';

export interface LivesOptions {
  /** the counts of lives at which to report (the last is the total) */
  checkpoints: number[];
  parallel: number;
  sampleEvery: number;
  log?: (line: string) => void;
}

export interface Ping { containers: number; sandboxes: number; mailboxes: number; memory?: { rss: number; heapTotal: number; heapUsed: number; external: number } }

export interface LivesSample {
  lives: number;
  /** from /proc/PID/smaps_rollup, kB */
  rssKb: number;
  ussKb: number;
  /** what the daemon says of itself (daemon.ping) after a full collection */
  heapUsedKb: number;
  heapTotalKb: number;
  containers: number;
  mailboxes: number;
  seconds: number;
}

export interface LivesReport {
  lives: number;
  failed: string[];
  samples: LivesSample[];
  /** the samples at the checkpoints */
  at: LivesSample[];
  /** the daemon changed (it died or left): the figures would be of two processes */
  daemonChanged: boolean;
  /** daemon.ping after the last delete */
  end: Ping | null;
  leftovers: string[];
  seconds: number;
}

export function memKb(pid: number): { rss: number; uss: number } {
  try {
    const roll = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const f = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(roll)?.[1] ?? 0);
    return { rss: f('Rss'), uss: f('Private_Clean') + f('Private_Dirty') };
  } catch {
    return { rss: 0, uss: 0 };
  }
}

export async function lives(opts: LivesOptions): Promise<LivesReport> {
  const sb = new Sandbox('lives');
  const log = opts.log ?? (() => {});
  const total = Math.max(...opts.checkpoints);
  const started = Date.now();
  const report: LivesReport = { lives: 0, failed: [], samples: [], at: [], daemonChanged: false, end: null, leftovers: [], seconds: 0 };
  let client: BusClient | null = null;
  try {
    const bundle = await sb.bundle(['sleep', '100000']);
    // The first life starts the daemon (not counted: it is the start).
    const first = await sb.run(['run', '-d', '-b', bundle, 'lv-first']);
    if (first.code !== 0) throw new Error(`runa run -d: ${first.stderr}`);
    await sb.run(['delete', '-f', 'lv-first']);
    const daemon = sb.daemonPid()!;
    client = await BusClient.connect(path.join(sb.root, 'runa.sock'));
    const ping = async (gc = false): Promise<Ping> => client!.request<Ping>({ type: 'daemon.ping', gc });
    const sample = async (): Promise<LivesSample> => {
      // After a full collection: the heap is then what the daemon keeps, not its garbage.
      const p = await ping(true);
      const m = memKb(daemon);
      const s: LivesSample = {
        lives: report.lives, rssKb: m.rss, ussKb: m.uss, heapUsedKb: p.memory?.heapUsed ?? 0, heapTotalKb: p.memory?.heapTotal ?? 0,
        containers: p.containers, mailboxes: p.mailboxes, seconds: Math.round((Date.now() - started) / 100) / 10,
      };
      report.samples.push(s);
      log(`${s.lives} lives: RSS ${s.rssKb} kB, USS ${s.ussKb} kB, heap ${s.heapUsedKb}/${s.heapTotalKb} kB, ${s.containers} containers, ${s.mailboxes} mailboxes (${s.seconds} s)`);
      return s;
    };
    await sample();
    let next = 0;
    const checkpoints = [...opts.checkpoints].sort((a, b) => a - b);
    let sampling: Promise<unknown> = Promise.resolve();
    const worker = async (w: number) => {
      while (next < total && report.failed.length < 10) {
        const n = next++;
        const id = `lv${w}-${n}`;
        const r = await sb.run(['run', '-d', '-b', bundle, id], { timeoutMs: 60_000 });
        if (r.code !== 0) report.failed.push(`run -d ${id}: ${r.signal ?? r.code}: ${r.stderr.trim()}`);
        const d = await sb.run(['delete', '-f', id], { timeoutMs: 60_000 });
        if (d.code !== 0 && r.code === 0) report.failed.push(`delete -f ${id}: ${d.signal ?? d.code}: ${d.stderr.trim()}`);
        report.lives++;
        if (!alive(daemon)) { report.daemonChanged = true; report.failed.push(`the daemon ${daemon} died after ${report.lives} lives`); break; }
        if (report.lives % opts.sampleEvery === 0 || checkpoints.includes(report.lives)) {
          const at = checkpoints.includes(report.lives);
          sampling = sampling.then(async () => { const s = await sample(); if (at) report.at.push(s); });
        }
      }
    };
    await Promise.all(Array.from({ length: opts.parallel }, (_, w) => worker(w)));
    await sampling;
    if (sb.daemonPid() !== daemon) report.daemonChanged = true;
    report.end = await ping();
    const list = await sb.run(['list', '-q']);
    if (list.stdout.trim()) report.leftovers.push(`containers: ${list.stdout.trim().split('\n').join(' ')}`);
    const dirs = fs.readdirSync(sb.root).filter((n) => fs.statSync(path.join(sb.root, n)).isDirectory());
    report.leftovers.push(...dirs.map((d) => `state dir ${d}`));
    report.leftovers.push(...cgroupChildren('/runa').filter((d) => /\/lv(\d+|-first)-?\d*$/.test(d)).map((d) => `cgroup ${d}`));
  } finally {
    client?.close();
    const { leftovers, mounts } = await sb.cleanup();
    report.leftovers.push(...leftovers.map((l) => `process ${l}`), ...mounts.map((m) => `mount ${m}`));
    report.seconds = Math.round((Date.now() - started) / 1000);
  }
  return report;
}
