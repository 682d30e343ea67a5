// A private Docker engine: dockerd with its own data root, exec root, unix socket, pidfile and
// daemon.json, on a containerd of its own (started here, CRI off), the runtime under test
// registered with --add-runtime and made the default. No bridge, no iptables, and both daemons
// in a network namespace made for the test: nothing of the host's network changes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  RUNTIME, cgroupChildren, cgroupDirs, command, containerdConfigHead, mountsMentioning, processes, removeCgroups, stateDirs, stopRunaDaemon, unmountAll, which,
  type CmdOpts, type CmdResult, type Leftovers,
} from './callers.js';
import { sleep, until } from './runa.js';

/** The docker client that came with dockerd (Debian's /usr/bin/docker), else the one on PATH. */
export function dockerClient(): string | null {
  const dockerd = which('dockerd');
  const beside = dockerd ? path.join(path.dirname(dockerd).replace(/sbin$/, 'bin'), 'docker') : '';
  if (beside && fs.existsSync(beside)) return beside;
  return which('docker');
}

export function dockerMissing(): string | null {
  if (!which('dockerd') || !dockerClient()) return 'dockerd not installed: apt-get install docker.io';
  for (const p of ['containerd', 'containerd-shim-runc-v2']) if (!which(p)) return `${p} not installed: apt-get install containerd`;
  if (!which('unshare') || !which('nsenter')) return 'nsenter/unshare not installed: apt-get install util-linux';
  return null;
}

export const DOCKER_NAMESPACE = 'moby';
/** Every container's cgroup goes under this one (dockerd --cgroup-parent). */
export const DOCKER_CGROUP_PARENT = '/runa-docker-e2e';

export class Docker {
  readonly dir: string;
  readonly sock: string;
  readonly ctrdSock: string;
  readonly netns: string;
  readonly env: NodeJS.ProcessEnv;
  /** The runtime's state root as dockerd's shim passes it (exec-root/runtime-runa plus the namespace). */
  readonly runtimeRoot: string;
  readonly client = dockerClient()!;
  private ctrd: ChildProcess | null = null;
  private dockerd: ChildProcess | null = null;
  private exited: Promise<void>[] = [];
  private shimSocketsBefore = new Set<string>();
  private readonly runContainerdExisted = fs.existsSync('/run/containerd');
  private readonly runDockerExisted = fs.existsSync('/run/docker');
  private readonly etcDockerBefore = new Set(readdir('/etc/docker'));
  private readonly cgroupParentExisted = cgroupDirs(DOCKER_CGROUP_PARENT).length > 0;

  constructor() {
    // Short: dockerd's and containerd's sockets and fifos live under it.
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runa-dk-'));
    this.sock = path.join(this.dir, 'docker.sock');
    this.ctrdSock = path.join(this.dir, 'c.sock');
    this.netns = path.join(this.dir, 'netns');
    // dockerd 20.10 gives every runtime the same root: exec-root/runtime-runc.
    this.runtimeRoot = path.join(this.dir, 'exec', 'runtime-runc', DOCKER_NAMESPACE);
    this.env = { DOCKER_HOST: `unix://${this.sock}`, DOCKER_CONFIG: path.join(this.dir, 'client') };
  }

  /** dockerd's command line (its daemon.json only moves its trust key). */
  dockerdArgs(): string[] {
    const d = this.dir;
    return [
      '--config-file', path.join(d, 'daemon.json'),
      '--data-root', path.join(d, 'data'),
      '--exec-root', path.join(d, 'exec'),
      '--pidfile', path.join(d, 'docker.pid'),
      '-H', `unix://${this.sock}`,
      '--containerd', this.ctrdSock,
      '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-masq=false', '--userland-proxy=false',
      '--storage-driver', 'vfs',
      '--exec-opt', 'native.cgroupdriver=cgroupfs',
      '--cgroup-parent', DOCKER_CGROUP_PARENT,
      // Lowering its own oom_score_adj (the default -500) needs CAP_SYS_RESOURCE, which this host withholds.
      '--oom-score-adjust', '0',
      '--add-runtime', `runa=${RUNTIME}`,
      '--default-runtime', 'runa',
    ];
  }

  async start(): Promise<void> {
    const d = this.dir;
    this.shimSocketsBefore = new Set(this.shimSockets());
    fs.writeFileSync(this.netns, '');
    const r = spawnSync('unshare', [`--net=${this.netns}`, 'ip', 'link', 'set', 'lo', 'up'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`unshare --net: ${r.stderr}`);
    fs.writeFileSync(path.join(d, 'containerd.toml'), [
      ...containerdConfigHead(`${d}/ctrd-root`, `${d}/ctrd-state`, this.ctrdSock, { cri: false }),
      '',
    ].join('\n'));
    // Else dockerd writes its trust key to /etc/docker/key.json (daemon.json only: no flag).
    fs.writeFileSync(path.join(d, 'daemon.json'), `${JSON.stringify({ 'deprecated-key-path': path.join(d, 'key.json') })}\n`);
    fs.mkdirSync(path.join(d, 'client'));
    const spawnLogged = (name: string, args: string[]): ChildProcess => {
      const log = fs.openSync(path.join(d, `${name}.log`), 'w');
      const p = spawn('nsenter', [`--net=${this.netns}`, ...args], { stdio: ['ignore', log, log], detached: true });
      fs.closeSync(log);
      this.exited.push(new Promise((resolve) => p.on('exit', () => resolve())));
      return p;
    };
    this.ctrd = spawnLogged('containerd', ['containerd', '--config', path.join(d, 'containerd.toml')]);
    await until(() => fs.existsSync(this.ctrdSock), 'containerd to serve', 20_000);
    this.dockerd = spawnLogged('dockerd', ['dockerd', ...this.dockerdArgs()]);
    await until(async () => {
      if (this.dockerd!.exitCode !== null) throw new Error(`dockerd exited ${this.dockerd!.exitCode}`);
      return fs.existsSync(this.sock) && (await this.docker(['version'], { timeoutMs: 10_000 })).code === 0;
    }, 'dockerd to serve', 60_000)
      .catch((e) => { throw new Error(`${e.message}: ${fs.readFileSync(path.join(d, 'dockerd.log'), 'utf8').slice(-2000)}`); });
  }

  docker(args: string[], opts: CmdOpts = {}): Promise<CmdResult> {
    return command(this.client, args, { ...opts, env: { ...this.env, ...opts.env } });
  }

  /** The docker command line, for running under a pty. */
  argv(args: string[]): [string, string[]] {
    return ['env', [...Object.entries(this.env).map(([k, v]) => `${k}=${v}`), this.client, ...args]];
  }

  private shimSockets(): string[] {
    return readdir('/run/containerd/s');
  }

  leftovers(): Leftovers {
    return {
      processes: processes((cmd) => cmd.includes(this.dir)),
      // Not counted: our namespace's pin, and libnetwork's pin of dockerd's own namespace, which
      // dockerd leaves mounted whatever the runtime (teardown unmounts both).
      mounts: mountsMentioning(this.dir).filter((l) => ![this.netns, path.join(this.dir, 'exec', 'netns', 'default')].includes(l.split(' ')[4])),
      cgroups: cgroupChildren(DOCKER_CGROUP_PARENT),
      state: stateDirs(this.runtimeRoot),
      files: this.shimSockets().filter((s) => !this.shimSocketsBefore.has(s)).map((s) => `/run/containerd/s/${s}`),
    };
  }

  /**
   * Remove every container, stop the runtime's daemon, dockerd and containerd, and report what
   * was left (dockerd unmounts its data root as it stops); then remove it all regardless.
   */
  async teardown(): Promise<Leftovers> {
    if (this.dockerd && this.dockerd.exitCode === null) {
      const ps = await this.docker(['ps', '-aq'], { timeoutMs: 30_000 });
      const ids = ps.stdout.split('\n').filter(Boolean);
      if (ids.length) await this.docker(['rm', '-f', ...ids], { timeoutMs: 60_000 });
      await this.docker(['volume', 'prune', '-f'], { timeoutMs: 30_000 });
      await until(() => processes((cmd) => cmd.includes('containerd-shim') && cmd.includes(this.ctrdSock)).length === 0, 'shims to exit', 15_000).catch(() => {});
    }
    await stopRunaDaemon(this.runtimeRoot).catch(() => {});
    for (const p of [this.dockerd, this.ctrd]) {
      if (!p || p.exitCode !== null || p.signalCode !== null) continue;
      p.kill('SIGTERM');
      await Promise.race([new Promise((r) => p.on('exit', r)), sleep(15_000)]);
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
    await until(() => processes((cmd) => cmd.includes(this.dir)).length === 0, 'processes to exit', 5000).catch(() => {});
    const left = this.leftovers();
    for (const p of processes((cmd) => cmd.includes(this.dir))) { try { process.kill(Number(p.split(':')[0]), 'SIGKILL'); } catch { /* gone */ } }
    await sleep(100);
    unmountAll(mountsMentioning(this.dir));
    const cgroups = cgroupChildren(DOCKER_CGROUP_PARENT);
    if (!this.cgroupParentExisted) cgroups.push(...cgroupDirs(DOCKER_CGROUP_PARENT));
    left.cgroups.push(...removeCgroups(cgroups).map((s) => `not removed: ${s}`));
    fs.rmSync(this.dir, { recursive: true, force: true });
    for (const f of left.files) fs.rmSync(f, { force: true });
    if (!this.runContainerdExisted) fs.rmSync('/run/containerd', { recursive: true, force: true });
    // What dockerd would write outside its roots if it were not told otherwise.
    const newEtc = readdir('/etc/docker').filter((f) => !this.etcDockerBefore.has(f));
    left.files.push(...newEtc.map((f) => `/etc/docker/${f}`));
    for (const f of newEtc) fs.rmSync(path.join('/etc/docker', f), { recursive: true, force: true });
    if (!this.runDockerExisted && fs.existsSync('/run/docker')) {
      // dockerd makes /run/docker/plugins whatever its exec root: removed, and counted only if not empty.
      left.files.push(...readdir('/run/docker').filter((f) => f !== 'plugins' || readdir('/run/docker/plugins').length).map((f) => `/run/docker/${f}`));
      fs.rmSync('/run/docker', { recursive: true, force: true });
    }
    return left;
  }
}

function readdir(d: string): string[] {
  try { return fs.readdirSync(d); } catch { return []; }
}
