// The chaos soak (`npm run soak`, and briefly in `npm test`): clients take containers through
// their whole lives (create, start, exec, pause, resume, kill, wait, delete) through the
// command line while the daemon is killed with SIGKILL every few seconds and started again on
// demand by the next command. A command that fails because its daemon died is not an error:
// the client asks `state` what became of it and goes on from there, as a caller would. At the
// end no container may be lost or left, every exit status must be the one its program gave,
// and nothing (process, cgroup, mount, state dir) may be left over.
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, alive, sleep } from './runa.js';
import { cgroupChildren } from './callers.js';

export interface SoakOptions {
  seconds: number;
  clients: number;
  /** SIGKILL the daemon after a random pause in this range (ms). */
  killEveryMs: [number, number];
  log?: (line: string) => void;
}

export interface SoakReport {
  seconds: number;
  containers: number;
  ops: number;
  /** commands that failed because their daemon was killed under them */
  interrupted: number;
  kills: number;
  exitStatuses: number;
  problems: string[];
  /** left after the end: processes, cgroup dirs, mounts, state dirs */
  leftovers: string[];
  /** the largest RSS of a daemon, sampled before each kill and at the end */
  daemonRssKb: number;
}

const rssKb = (pid: number): number => {
  try { return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0); } catch { return 0; }
};

const GONE = /connection to runa daemon closed|cannot reach the runa daemon/;
const NOT_EXIST = /does not exist/;

export async function soak(opts: SoakOptions): Promise<SoakReport> {
  const sb = new Sandbox('soak');
  const log = opts.log ?? (() => {});
  const report: SoakReport = { seconds: opts.seconds, containers: 0, ops: 0, interrupted: 0, kills: 0, exitStatuses: 0, problems: [], leftovers: [], daemonRssKb: 0 };
  const problem = (s: string) => { if (report.problems.length < 50) report.problems.push(s); log(`PROBLEM ${s}`); };
  try {
    // The kinds of container: a long-running one (killed), and one that exits 7 on its own.
    const long = await sb.bundle(['sh', '-c', 'while :; do sleep 1; done']);
    const exits = await sb.bundle(['sh', '-c', 'sleep 0.2; exit 7']);
    const deadline = Date.now() + opts.seconds * 1000;

    /** One command; `interrupted` when its daemon died under it. */
    const cmd = async (args: string[]) => {
      report.ops++;
      const r = await sb.run(args, { timeoutMs: 60_000 });
      const interrupted = r.code !== 0 && GONE.test(r.stderr) && !NOT_EXIST.test(r.stderr);
      if (interrupted) report.interrupted++;
      if (r.signal) problem(`${args.join(' ')}: killed by ${r.signal} (hung)`);
      return { ...r, interrupted };
    };
    /**
     * The container's status as a daemon sees it (`debug` starts one, which adopts what the
     * dead one left and settles it: `state` alone would read the disk without one), asked
     * until a daemon answers; null when it does not exist.
     */
    const status = async (id: string): Promise<string | null> => {
      for (let i = 0; i < 100; i++) {
        await cmd(['debug', id]);
        const r = await cmd(['state', id]);
        if (r.code === 0) return JSON.parse(r.stdout).status as string;
        if (NOT_EXIST.test(r.stderr)) return null;
        if (!r.interrupted) { problem(`state ${id}: ${r.stderr.trim()}`); return null; }
      }
      problem(`state ${id}: no answer`);
      return null;
    };
    /** Retry a command its daemon's death interrupted, until `done` says the effect is there. */
    const until = async (id: string, args: string[], done: (st: string | null) => boolean, what: string): Promise<boolean> => {
      for (let i = 0; i < 50; i++) {
        const r = await cmd(args);
        if (r.code === 0) return true;
        if (!r.interrupted) { problem(`${what} ${id}: ${r.stderr.trim()}`); return false; }
        if (done(await status(id))) return true;
      }
      problem(`${what} ${id}: never done`);
      return false;
    };
    /** The exit status `wait` reports, asked again when its daemon dies. */
    const waitFor = async (id: string): Promise<number | null> => {
      for (let i = 0; i < 50; i++) {
        const r = await cmd(['wait', id]);
        if (r.code === 0) return JSON.parse(r.stdout).exitStatus as number;
        if (!r.interrupted) { problem(`wait ${id}: ${r.stderr.trim()}`); return null; }
      }
      return null;
    };

    const client = async (c: number) => {
      let n = 0;
      while (Date.now() < deadline && report.problems.length === 0) {
        const id = `sk${c}-${n++}`;
        const kind = n % 3 === 0 ? 'exits' : 'long';
        // create: done, or rolled back, or whole (a daemon that died after nsinit was up)
        const cr = await cmd(['create', '-b', kind === 'long' ? long : exits, id]);
        if (cr.code !== 0) {
          if (!cr.interrupted) { problem(`create ${id}: ${cr.stderr.trim()}`); break; }
          // Cut short, its outcome is unknown to the caller, as with any lost answer: rolled
          // back (as if never attempted), or whole, when the daemon died after the create
          // and before its answer (then stopped: the front end killed the nsinit it had
          // spawned). A caller deletes what it finds.
          const st = await status(id);
          if (st === null) continue;
          if (st !== 'created' && st !== 'stopped') { problem(`create ${id} cut short left it ${st}`); break; }
          report.containers++;
          await until(id, ['delete', '-f', id], (s2) => s2 === null, 'delete');
          continue;
        }
        report.containers++;
        if (!(await until(id, ['start', id], (st) => st !== 'created', 'start'))) break;
        if (kind === 'long') {
          // An exec'd process's status is its own.
          for (let i = 0; i < 3; i++) {
            const ex = await cmd(['exec', id, 'sh', '-c', 'exit 3']);
            if (ex.code === 3) { report.exitStatuses++; break; }
            if (!ex.interrupted) { problem(`exec ${id}: status ${ex.code}: ${ex.stderr.trim()}`); break; }
          }
          if (n % 2 === 0) {
            await until(id, ['pause', id], (st) => st === 'paused', 'pause');
            await until(id, ['resume', id], (st) => st === 'running', 'resume');
          }
          await until(id, ['kill', id, 'KILL'], (st) => st === 'stopped', 'kill');
        }
        const exit = await waitFor(id);
        const want = kind === 'long' ? 137 : 7;
        if (exit !== want) problem(`${id}: exit status ${exit}, not ${want}`);
        else report.exitStatuses++;
        await until(id, ['delete', id], (st) => st === null, 'delete');
        if ((await status(id)) !== null) problem(`${id}: still there after its delete`);
      }
    };

    const killer = async () => {
      while (Date.now() < deadline && report.problems.length === 0) {
        const [lo, hi] = opts.killEveryMs;
        await sleep(lo + Math.random() * (hi - lo));
        const pid = sb.daemonPid();
        if (pid && alive(pid)) {
          report.daemonRssKb = Math.max(report.daemonRssKb, rssKb(pid));
          try { process.kill(pid, 'SIGKILL'); report.kills++; log(`killed the daemon (${pid})`); } catch { /* gone */ }
        }
      }
    };

    await Promise.all([killer(), ...Array.from({ length: opts.clients }, (_, c) => client(c))]);

    // Nothing lost, nothing left: every container went through delete.
    const list = await sb.run(['list', '-q']);
    if (list.stdout.trim()) problem(`containers left: ${list.stdout.trim().split('\n').join(' ')}`);
    const pid = sb.daemonPid();
    if (pid && alive(pid)) report.daemonRssKb = Math.max(report.daemonRssKb, rssKb(pid));
    const dirs = fs.readdirSync(sb.root).filter((n) => fs.statSync(path.join(sb.root, n)).isDirectory());
    report.leftovers.push(...dirs.map((d) => `state dir ${d} (${fs.readdirSync(path.join(sb.root, d)).join(', ') || 'empty'})`));
    report.leftovers.push(...cgroupChildren('/runa').filter((d) => /\/sk\d+-\d+$/.test(d)).map((d) => `cgroup ${d}`));
  } finally {
    const { leftovers, mounts } = await sb.cleanup();
    report.leftovers.push(...leftovers.map((l) => `process ${l}`), ...mounts.map((m) => `mount ${m}`));
  }
  return report;
}
