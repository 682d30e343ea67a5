// The chaos soak under the real callers (test/soak-callers.test.ts, `npm run soak -- --callers`):
// a private containerd drives runa through its runc shim (`ctr run`, `ctr task …`), and
// containerd's CRI plugin through crictl, while runa's daemon for the shim's state root is
// SIGKILLed every few seconds. The caller's commands that reach a dying daemon fail (the shim
// passes runa's "connection to runa daemon closed" on): the client then does what a caller
// does, looks at what is there (`ctr task ls`, `crictl ps -a`), deletes what is left of that
// life and goes on with the next. No container may be lost: a container that was started must
// still be there to exec into, to stop and to delete, and its exit status must be the one its
// program gave (`exit N` reports N; a TERM trapped into `exit 42` reports 42). At the end
// nothing may be left: containers, tasks, pods, shims, daemons, cgroups, mounts, state dirs.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BusClient } from '../../src/bus/client.js';
import { Containerd, RUNTIME, command, processes, show, stateDirs, type CmdResult, type Leftovers } from './callers.js';
import { CRI_NAMESPACE, CriContainerd } from './cri.js';
import { IMAGE, writeBusyboxImage, type ImageOpts } from './oci-image.js';
import { alive, runaBin, sleep } from './runa.js';

export interface CallersSoakOptions {
  seconds: number;
  clients: number;
  /** SIGKILL runa's daemon after a random pause in this range (ms). */
  killEveryMs: [number, number];
  log?: (line: string) => void;
}

export interface CallersSoakReport {
  caller: 'containerd' | 'cri';
  seconds: number;
  /** containers the clients created (or tried to) */
  lives: number;
  /** pods (CRI) the clients ran (or tried to) */
  pods: number;
  /** of which every step went through at the first try */
  whole: number;
  /** commands of the caller (ctr, crictl) */
  ops: number;
  /** caller commands that failed because runa's daemon died under them */
  interrupted: number;
  kills: number;
  /** distinct daemons killed */
  daemons: number;
  /** exit statuses (of containers and exec'd processes) checked, all right */
  exitStatuses: number;
  problems: string[];
  /** after the end: what the caller still listed, what runa's daemon still held, and the teardown's leftovers */
  leftovers: string[];
}

/** runa's words, through the shim, for a command its daemon did not live to answer. */
export const GONE = /connection to runa daemon closed|cannot reach the runa daemon/;

const newReport = (caller: CallersSoakReport['caller'], seconds: number): CallersSoakReport =>
  ({ caller, seconds, lives: 0, pods: 0, whole: 0, ops: 0, interrupted: 0, kills: 0, daemons: 0, exitStatuses: 0, problems: [], leftovers: [] });

/** A runa command of `root` in flight (the shim's create, start, exec, kill, delete…). */
function runaInFlight(root: string): boolean {
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (argv[0] === RUNTIME && argv.includes(root) && !argv.includes('state')) return true;
    } catch { /* gone */ }
  }
  return false;
}

/**
 * SIGKILL the daemon of `root` every so often until `done()`: after a random pause, at the
 * first moment in the next 1.5 s that a runa command is in flight (most of a caller's time is
 * its own: a kill at a random moment would mostly find the daemon idle), else then.
 */
async function killer(root: string, opts: CallersSoakOptions, report: CallersSoakReport, done: () => boolean): Promise<void> {
  const seen = new Set<number>();
  while (!done()) {
    const [lo, hi] = opts.killEveryMs;
    const wake = Date.now() + lo + Math.random() * (hi - lo);
    while (!done() && Date.now() < wake) await sleep(50);
    // A command that has just begun, or one well on its way.
    const settle = Math.random() * 60;
    for (const end = Date.now() + 1500; !done() && Date.now() < end && !runaInFlight(root);) await sleep(5);
    await sleep(settle);
    if (done()) break;
    let pid = 0;
    try { pid = Number(fs.readFileSync(path.join(root, 'daemon.pid'), 'utf8')); } catch { continue; }
    if (pid && alive(pid)) {
      try { process.kill(pid, 'SIGKILL'); report.kills++; seen.add(pid); opts.log?.(`killed runa's daemon ${pid}`); } catch { /* gone */ }
    }
  }
  report.daemons = seen.size;
}

/**
 * What runa's daemon for `root` holds (a daemon is started if none runs: `debug` starts one,
 * which adopts what is on disk), then that daemon stopped.
 */
async function daemonHolds(root: string): Promise<string[]> {
  if (RUNTIME !== runaBin) return [];
  await command(runaBin, ['--root', root, 'debug', 'soak-none'], { timeoutMs: 30_000 });
  const out: string[] = [];
  const list = await command(runaBin, ['--root', root, 'list', '-q'], { timeoutMs: 30_000 });
  if (list.stdout.trim()) out.push(`runa lists ${list.stdout.trim().split('\n').join(' ')}`);
  try {
    const c = await BusClient.connect(path.join(root, 'runa.sock'));
    try {
      const p = await c.request<{ containers: number; sandboxes: number; mailboxes: number }>({ type: 'daemon.ping' });
      if (p.containers || p.sandboxes || p.mailboxes) out.push(`runa's daemon holds ${p.containers} containers, ${p.sandboxes} sandboxes, ${p.mailboxes} mailboxes`);
    } finally {
      c.close();
    }
  } catch (e) {
    out.push(`runa's daemon did not answer a ping: ${(e as Error).message}`);
  }
  return out;
}

const describeLeft = (l: Leftovers): string[] => Object.entries(l).flatMap(([k, v]) => (v as string[]).map((x) => `${k}: ${x}`));

/** A client's commands, with the report's bookkeeping. */
function tools(report: CallersSoakReport, log: (l: string) => void) {
  const problem = (s: string) => { if (report.problems.length < 50) report.problems.push(s); log(`PROBLEM ${s}`); };
  /** A failed command: tolerated (and counted) when runa's daemon died under it, else a problem. */
  const cut: string[] = [];
  const failed = (r: CmdResult, what: string): void => {
    if (r.timedOut) problem(`${what}: hung: ${show(r)}`);
    else if (GONE.test(r.stderr) || GONE.test(r.stdout)) { report.interrupted++; cut.push(what); log(`${what}: cut short by the daemon's death`); }
    else problem(`${what}: ${show(r)}`);
  };
  /** The life of `id` (a container, or a pod: the shim's id) is over: its shim must be gone, and its socket. */
  const shimGone = async (address: string, ns: string, id: string, name = id): Promise<void> => {
    const socket = `/run/containerd/s/${createHash('sha256').update(path.join(address, ns, id)).digest('hex')}`;
    const shims = () => processes((cmd) => cmd.includes('containerd-shim') && cmd.includes(address) && cmd.includes(` -id ${id} `));
    for (let i = 0; i < 100; i++) {
      if (!fs.existsSync(socket) && shims().length === 0) return;
      await sleep(50);
    }
    const what = [...(fs.existsSync(socket) ? [`its socket ${socket}`] : []), ...shims().map((p) => `its shim ${p.split(':')[0]}`)].join(' and ');
    const why = cut.filter((w) => w.includes(name));
    problem(`${name}: ${what} left after its delete (${why.length ? `cut short: ${why.join('; ')}` : 'nothing was cut short'})`);
  };
  return { problem, failed, shimGone };
}

// ---------------------------------------------------------------------------------------------
// containerd through ctr

export async function soakContainerd(opts: CallersSoakOptions): Promise<CallersSoakReport> {
  const log = opts.log ?? (() => {});
  const report = newReport('containerd', opts.seconds);
  const { problem, failed, shimGone } = tools(report, log);
  // A namespace, and so a cgroup, of its own: another checkout's containerd suite removes what is under /runa-e2e.
  const c = new Containerd({ namespace: `runa-soak-${process.pid}` });
  let tornDown = false;
  try {
    await c.start();
    const image = path.join(c.dir, 'busybox.tar');
    writeBusyboxImage(image);
    const imp = await c.ctr(['images', 'import', image], { timeoutMs: 120_000 });
    if (imp.code !== 0) throw new Error(`ctr images import: ${show(imp)}`);
    const deadline = Date.now() + opts.seconds * 1000;
    const stop = () => Date.now() >= deadline || report.problems.length > 0;

    const ctr = (args: string[], timeoutMs = 60_000): Promise<CmdResult> => { report.ops++; return c.ctr(args, { timeoutMs }); };
    const taskStatus = async (id: string): Promise<string | null> => (await c.tasks()).get(id)?.status ?? null;
    /** `ctr task rm`: the exit status the shim kept (ctr 1.6 says a non-zero one in a warning). */
    const taskRm = async (id: string): Promise<number | null> => {
      for (let i = 0; i < 20; i++) {
        const r = await ctr(['task', 'rm', id]);
        const warned = /exit with non-zero exit code (\d+)/.exec(r.stderr);
        if (r.code === 0) return warned ? Number(warned[1]) : 0;
        if (!r.stderr.trim() && r.code) return r.code; // older ctr: the status as its own
        failed(r, `ctr task rm ${id}`);
        if (!GONE.test(r.stderr)) return null;
      }
      problem(`ctr task rm ${id}: never done`);
      return null;
    };
    /** `ctr container rm`, again while the daemon's death cuts it short. */
    const containerRm = async (id: string): Promise<void> => {
      for (let i = 0; i < 20; i++) {
        const r = await ctr(['container', 'rm', id]);
        if (r.code === 0 || /not found/.test(r.stderr)) return;
        failed(r, `ctr container rm ${id}`);
        if (!GONE.test(r.stderr)) return;
      }
      problem(`ctr container rm ${id}: never done`);
    };
    /** What is left of a life cut short: its task killed if it runs, deleted, and its container. */
    const recover = async (id: string): Promise<void> => {
      const st = await taskStatus(id);
      if (st === 'RUNNING' || st === 'PAUSED' || st === 'CREATED') {
        if (st === 'PAUSED') await ctr(['task', 'resume', id]);
        await ctr(['task', 'kill', '-s', 'SIGKILL', id]);
        for (let i = 0; i < 200 && (await taskStatus(id)) !== 'STOPPED'; i++) await sleep(100);
      }
      if (await taskStatus(id)) await taskRm(id);
      await containerRm(id);
      if (await taskStatus(id)) problem(`${id}: its task is still there after its recovery`);
    };
    const retried = retrier(ctr, failed, problem);

    /** `ctr run --rm` in the foreground: its status is the program's `exit N`. */
    const foreground = async (id: string, n: number): Promise<boolean> => {
      const want = 10 + (n % 90);
      const r = await ctr(['run', '--rm', ...c.runFlags(), IMAGE, id, 'sh', '-c', `sleep 0.2; exit ${want}`]);
      if (r.code === want && !r.timedOut) {
        report.exitStatuses++;
        if ((await taskStatus(id)) || (await ctr(['container', 'info', id])).code === 0) problem(`${id}: left after its ctr run --rm`);
        return true;
      }
      failed(r, `ctr run --rm ${id} (exit ${want})`);
      // Cut short: the task may have run to its end all the same; then its status must be right.
      for (let i = 0; i < 100 && (await taskStatus(id)) === 'RUNNING'; i++) await sleep(100);
      if ((await taskStatus(id)) === 'STOPPED') {
        const got = await taskRm(id);
        if (got !== null && got !== want && got !== 137) problem(`${id}: exit status ${got}, not ${want}`);
        else if (got === want) report.exitStatuses++;
      }
      await recover(id);
      return false;
    };

    /** `ctr run -d`, exec'd into, paused and resumed, stopped by TERM (trapped: exit 42), deleted. */
    const detached = async (id: string, n: number): Promise<boolean> => {
      let whole = true;
      const r = await ctr(['run', '-d', ...c.runFlags(), IMAGE, id, 'sh', '-c', 'trap "exit 42" TERM; while :; do sleep 0.1; done']);
      if (r.code !== 0 || r.timedOut) {
        failed(r, `ctr run -d ${id}`);
        await recover(id);
        return false;
      }
      // An exec'd process's status is its own; a daemon killed under it fails the exec, not the container.
      for (let i = 0; i < 10; i++) {
        const ex = await (report.ops++, c.exec(id, ['sh', '-c', 'exit 3'], [], { timeoutMs: 60_000 }));
        if (ex.code === 3) { report.exitStatuses++; break; }
        whole = false;
        failed(ex, `ctr task exec ${id} (exit 3)`);
        if (!GONE.test(ex.stderr)) break;
      }
      if (n % 2 === 0) {
        const p = await retried(['task', 'pause', id], `ctr task pause ${id}`, (x) => x.code === 0);
        if (p && (await taskStatus(id)) !== 'PAUSED') problem(`${id}: ${await taskStatus(id)} after its pause`);
        if (p) await retried(['task', 'resume', id], `ctr task resume ${id}`, (x) => x.code === 0);
        if (!p) whole = false;
        const st = await taskStatus(id);
        if (st !== 'RUNNING') problem(`${id}: ${st} after pause and resume`);
      }
      // TERM, trapped: the container must still be the one started (through every daemon killed since).
      const k = await retried(['task', 'kill', id], `ctr task kill ${id}`, (x) => x.code === 0 || /not found|already finished/.test(x.stderr));
      if (!k) whole = false;
      for (let i = 0; i < 300 && (await taskStatus(id)) === 'RUNNING'; i++) await sleep(100);
      const got = await taskRm(id);
      if (got !== 42) problem(`${id}: exit status ${got} after TERM, not 42`);
      else report.exitStatuses++;
      await containerRm(id);
      if (await taskStatus(id)) problem(`${id}: its task is still there after its delete`);
      return whole;
    };

    const client = async (k: number) => {
      for (let n = 0; !stop(); n++) {
        const id = `cs${k}-${n}`;
        report.lives++;
        const whole = n % 2 === 0 ? await foreground(id, n) : await detached(id, n);
        if (whole) report.whole++;
        await shimGone(c.sock, c.namespace, id);
      }
    };
    let clientsDone = false;
    await Promise.all([
      killer(c.runtimeRoot, opts, report, () => clientsDone || stop()),
      Promise.all(Array.from({ length: opts.clients }, (_, k) => client(k))).finally(() => { clientsDone = true; }),
    ]);

    // Nothing lost, nothing left: every life went through its delete.
    const ls = await c.ctr(['container', 'ls', '-q']);
    if (ls.stdout.trim()) report.leftovers.push(`ctr container ls: ${ls.stdout.trim().split('\n').join(' ')}`);
    const tasks = [...(await c.tasks()).keys()];
    if (tasks.length) report.leftovers.push(`ctr task ls: ${tasks.join(' ')}`);
    report.leftovers.push(...(await runaLeft(c.runtimeRoot)));
    tornDown = true;
    report.leftovers.push(...describeLeft(await c.teardown()));
  } finally {
    if (!tornDown) await c.teardown();
  }
  return report;
}

// ---------------------------------------------------------------------------------------------
// the CRI through crictl

export const PAUSE_IMAGE = 'localhost/runa-test/pause:latest';

export async function soakCri(opts: CallersSoakOptions): Promise<CallersSoakReport> {
  const log = opts.log ?? (() => {});
  const report = newReport('cri', opts.seconds);
  const { problem, failed, shimGone } = tools(report, log);
  // No CNI: the pods take the node's network (the test's network namespace).
  // A cgroup parent of its own: another checkout's CRI suite removes what is under /runa-cri-e2e.
  const c = new CriContainerd({ cni: false, cgroupParent: `/runa-cri-soak-${process.pid}` });
  let tornDown = false;
  try {
    await c.start(PAUSE_IMAGE);
    const images: [string, ImageOpts][] = [['busybox.tar', {}], ['pause.tar', { name: PAUSE_IMAGE, entrypoint: ['/bin/sleep'], cmd: ['2147483647'] }]];
    for (const [file, o] of images) {
      writeBusyboxImage(path.join(c.dir, file), o);
      const r = await c.ctr(['images', 'import', path.join(c.dir, file)], { timeoutMs: 120_000 });
      if (r.code !== 0) throw new Error(`ctr images import: ${show(r)}`);
    }
    const deadline = Date.now() + opts.seconds * 1000;
    const stop = () => Date.now() >= deadline || report.problems.length > 0;
    const crictl = (args: string[], timeoutMs = 90_000): Promise<CmdResult> => { report.ops++; return c.crictl(args, { timeoutMs }); };
    const retried = retrier(crictl, failed, problem);
    const inspect = async (id: string): Promise<any> => {
      const r = await crictl(['inspect', '-o', 'json', id]);
      return r.code === 0 ? JSON.parse(r.stdout) : null;
    };
    /** The containers crictl lists by that name in that pod. */
    const named = async (pod: string, name: string): Promise<string[]> =>
      (await crictl(['ps', '-a', '-q', '--pod', pod, '--name', `^${name}$`])).stdout.split('\n').filter(Boolean);

    const podConfig = (name: string) => c.writeConfig(`pod-${name}`, {
      metadata: { name, namespace: 'runa-soak', uid: `uid-${name}`, attempt: 0 },
      log_directory: path.join(c.dir, 'logs', name),
      linux: { cgroup_parent: `${c.cgroupParent}/${name}`, security_context: { namespace_options: { network: 2, pid: 1 } } },
    });
    /** `crictl runp`, again while the daemon's death cuts it short (what it left is removed first). */
    const runp = async (name: string): Promise<{ id: string; config: string } | null> => {
      const config = podConfig(name);
      fs.mkdirSync(path.join(c.dir, 'logs', name), { recursive: true });
      for (let i = 0; i < 10; i++) {
        const r = await crictl(['runp', config]);
        if (r.code === 0) return { id: r.stdout.trim(), config };
        failed(r, `crictl runp ${name}`);
        if (!GONE.test(r.stderr)) return null;
        for (const p of (await crictl(['pods', '-q', '--name', `^${name}$`])).stdout.split('\n').filter(Boolean)) await removePod(p, name);
      }
      problem(`crictl runp ${name}: cut short 10 times`);
      return null;
    };
    const removePod = async (id: string, name = id.slice(0, 12)): Promise<void> => {
      await retried(['stopp', id], `crictl stopp ${name}`, (r) => r.code === 0);
      await retried(['rmp', id], `crictl rmp ${name}`, (r) => r.code === 0);
    };

    /** One container's life in a pod: create, start, (exec, stop), exited with the right status, removed. */
    const life = async (pod: { id: string; config: string }, podName: string, n: number): Promise<boolean> => {
      const name = `c${n}`;
      const long = n % 2 === 1;
      const want = long ? 42 : 10 + (n % 90);
      const config = c.writeConfig(`ctr-${podName}-${name}`, {
        metadata: { name },
        image: { image: IMAGE },
        command: long ? ['sh', '-c', 'trap "exit 42" TERM; while :; do sleep 0.1; done'] : ['sh', '-c', `sleep 0.3; exit ${want}`],
        log_path: `${name}.log`,
        linux: { security_context: { namespace_options: { pid: 1 } } },
      });
      const cr = await crictl(['create', '--no-pull', pod.id, config, pod.config]);
      if (cr.code !== 0) {
        failed(cr, `crictl create ${podName}/${name}`);
        for (const id of await named(pod.id, name)) await retried(['rm', '-f', id], `crictl rm -f ${id.slice(0, 12)}`, (r) => r.code === 0);
        return false;
      }
      const id = cr.stdout.trim();
      let whole = true;
      const st = await crictl(['start', id]);
      if (st.code !== 0) {
        failed(st, `crictl start ${podName}/${name}`);
        await retried(['rm', '-f', id], `crictl rm -f ${id.slice(0, 12)}`, (r) => r.code === 0);
        return false;
      }
      if (long) {
        for (let i = 0; i < 10; i++) {
          const ex = await crictl(['exec', '-s', id, 'sh', '-c', 'exit 3']);
          // crictl exec -s exits 1 and names the command's status.
          if (ex.code === 3 || (ex.code === 1 && /exited with 3\b/.test(ex.stderr))) { report.exitStatuses++; break; }
          whole = false;
          failed(ex, `crictl exec ${podName}/${name} (exit 3)`);
          if (!GONE.test(ex.stderr)) break;
        }
        if (!(await retried(['stop', '-t', '10', id], `crictl stop ${podName}/${name}`, (r) => r.code === 0))) whole = false;
      }
      let info: any = null;
      for (let i = 0; i < 300; i++) {
        info = await inspect(id);
        if (info?.status?.state === 'CONTAINER_EXITED') break;
        await sleep(100);
      }
      if (info?.status?.state !== 'CONTAINER_EXITED') problem(`${podName}/${name}: ${info?.status?.state ?? 'gone'}, not exited`);
      else if (info.status.exitCode !== want) problem(`${podName}/${name}: exit status ${info.status.exitCode} (${info.status.reason}), not ${want}`);
      else report.exitStatuses++;
      if (!(await retried(['rm', id], `crictl rm ${podName}/${name}`, (r) => r.code === 0))) whole = false;
      if (await inspect(id)) problem(`${podName}/${name}: still there after its rm`);
      return whole;
    };

    const client = async (k: number) => {
      for (let p = 0; !stop(); p++) {
        // A pod per 4 lives: its sandbox (the pause container) lives through several kills.
        const podName = `soak${k}-${p}`;
        report.pods++;
        const pod = await runp(podName);
        if (!pod) continue;
        for (let n = 0; n < 4 && !stop(); n++) {
          report.lives++;
          if (await life(pod, podName, n)) report.whole++;
        }
        await removePod(pod.id, podName);
        await shimGone(c.sock, CRI_NAMESPACE, pod.id, podName);
      }
    };
    let clientsDone = false;
    await Promise.all([
      killer(c.runtimeRoot, opts, report, () => clientsDone || stop()),
      Promise.all(Array.from({ length: opts.clients }, (_, k) => client(k))).finally(() => { clientsDone = true; }),
    ]);

    const ps = await c.crictl(['ps', '-a', '-q']);
    if (ps.stdout.trim()) report.leftovers.push(`crictl ps -a: ${ps.stdout.trim().split('\n').join(' ')}`);
    const pods = await c.crictl(['pods', '-q']);
    if (pods.stdout.trim()) report.leftovers.push(`crictl pods: ${pods.stdout.trim().split('\n').join(' ')}`);
    report.leftovers.push(...(await runaLeft(c.runtimeRoot)));
    tornDown = true;
    report.leftovers.push(...describeLeft(await c.teardown()));
  } finally {
    if (!tornDown) await c.teardown();
  }
  return report;
}

/**
 * A caller's command retried while runa's daemon dies under it (its error says so, GONE): `ok`
 * says whether a result is success; any other failure is the caller's answer.
 */
function retrier(run: (args: string[]) => Promise<CmdResult>, failed: (r: CmdResult, what: string) => void, problem: (message: string) => void) {
  return async (args: string[], what: string, ok: (r: CmdResult) => boolean, tries = 10): Promise<CmdResult | null> => {
    for (let i = 0; i < tries; i++) {
      const r = await run(args);
      if (ok(r)) return r;
      failed(r, what);
      if (!GONE.test(r.stderr) || r.timedOut) return null;
    }
    problem(`${what}: cut short ${tries} times`);
    return null;
  };
}

/** What runa kept of a soak's containers: state dirs under its root, and anything its daemon still holds. */
async function runaLeft(root: string): Promise<string[]> {
  return [...stateDirs(root).map((d) => `runa state dir ${d}`), ...(await daemonHolds(root))];
}
