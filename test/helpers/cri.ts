// containerd's CRI plugin (the API kubelet speaks) with the runtime under test as a runtime
// handler, driven by crictl. Everything is private: containerd's root, state, sockets and
// config, the runtime's state root and the CNI configuration and IPAM store live under one
// temporary directory, and containerd (with crictl, whose streaming connections go to
// containerd's stream server on loopback) runs in a network namespace made for the test, so
// the CNI bridge, its veths and portmap's iptables rules live only there.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  RUNTIME, cgroupChildren, cgroupDirs, command, containerdConfigHead, mountsMentioning, ownShimSockets, processes, removeCgroups, stateDirs, stopRunaDaemon, unmountAll, which,
  type CmdOpts, type CmdResult, type Leftovers,
} from './callers.js';
import { repo, sleep, until } from './runa.js';

/** crictl from PATH, else the cri-tools build beside the repository (../shared/bin/crictl). */
export function crictlPath(): string | null {
  const onPath = which('crictl');
  if (onPath) return onPath;
  const shared = path.resolve(repo, '../shared/bin/crictl');
  try {
    fs.accessSync(shared, fs.constants.X_OK);
    return shared;
  } catch {
    return null;
  }
}

export const CNI_BIN = '/usr/lib/cni';
export const CNI_PLUGINS = ['bridge', 'host-local', 'loopback', 'portmap'];

/** Why the CRI suite cannot run here, or null. */
export function criMissing(): string | null {
  for (const p of ['containerd', 'ctr', 'containerd-shim-runc-v2']) if (!which(p)) return `${p} not installed: apt-get install containerd`;
  if (!which('nsenter') || !which('unshare')) return 'nsenter/unshare not installed: apt-get install util-linux';
  if (!crictlPath()) return 'crictl not found (on PATH or ../shared/bin/crictl): install cri-tools';
  return null;
}

/** Why the networking cases cannot run here, or null. */
export function cniMissing(): string | null {
  for (const p of CNI_PLUGINS) if (!fs.existsSync(path.join(CNI_BIN, p))) return `CNI plugin ${p} missing: apt-get install containernetworking-plugins`;
  if (!which('iptables')) return 'iptables (for portmap) not installed: apt-get install iptables';
  return null;
}

export const CRI_NAMESPACE = 'k8s.io';
/** The cgroup every pod of the suite goes under (its cgroup_parent). */
export const CGROUP_PARENT = '/runa-cri-e2e';
/** The pod subnet; it exists only inside the test's network namespace. */
export const POD_SUBNET = '10.244.77.0/24';
export const POD_GATEWAY = '10.244.77.1';
const NETNS_DIR = '/run/netns';

export class CriContainerd {
  readonly dir: string;
  readonly sock: string;
  /** The test's network namespace, pinned by a bind mount on this file. */
  readonly netns: string;
  /** The runtime's state root as the shim passes it (options.Root plus the namespace). */
  readonly runtimeRoot: string;
  readonly crictlBin = crictlPath()!;
  readonly withCni: boolean;
  private proc: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private shimSocketsBefore = new Set<string>();
  private netnsBefore = new Set<string>();
  private readonly netnsDirExisted = fs.existsSync(NETNS_DIR);
  private readonly varLibCniExisted = fs.existsSync('/var/lib/cni');
  private readonly runContainerdExisted = fs.existsSync('/run/containerd');
  private readonly cgroupParentExisted: boolean;
  /** The cgroup its pods go under (their cgroup_parent's parent): the leftovers are looked for there. */
  readonly cgroupParent: string;

  /** `cgroupParent`: one of its own (a soak running beside the CRI suite of another checkout: each removes what is left under its parent). */
  constructor(opts: { cni: boolean; cgroupParent?: string }) {
    this.withCni = opts.cni;
    this.cgroupParent = opts.cgroupParent ?? CGROUP_PARENT;
    this.cgroupParentExisted = cgroupDirs(this.cgroupParent).length > 0;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runa-cri-'));
    this.sock = path.join(this.dir, 'c.sock');
    this.netns = path.join(this.dir, 'netns');
    this.runtimeRoot = path.join(this.dir, 'rt', CRI_NAMESPACE);
  }

  /** containerd's PID (nsenter execs it). */
  get containerdPid(): number {
    return this.proc?.pid ?? 0;
  }

  config(sandboxImage: string): string {
    const d = this.dir;
    const cri = 'plugins."io.containerd.grpc.v1.cri"';
    return [
      ...containerdConfigHead(`${d}/root`, `${d}/state`, this.sock, { cri: true }),
      `[${cri}]`,
      `  sandbox_image = "${sandboxImage}"`,
      // This host withholds CAP_SYS_RESOURCE: the pause container's -998 would be refused.
      '  restrict_oom_score_adj = true',
      '  enable_selinux = false',
      '  stream_server_address = "127.0.0.1"',
      '  stream_server_port = "0"',
      '  enable_tls_streaming = false',
      `[${cri}.containerd]`,
      '  snapshotter = "native"',
      '  default_runtime_name = "runa"',
      `[${cri}.containerd.runtimes.runa]`,
      '  runtime_type = "io.containerd.runc.v2"',
      `[${cri}.containerd.runtimes.runa.options]`,
      `  BinaryName = "${RUNTIME}"`,
      `  Root = "${d}/rt"`,
      '  SystemdCgroup = false',
      `[${cri}.cni]`,
      `  bin_dir = "${CNI_BIN}"`,
      `  conf_dir = "${d}/cni"`,
      '  max_conf_num = 1',
      '',
    ].join('\n');
  }

  /** The CNI network: a bridge (in the test's network namespace), host-local IPAM kept here, portmap. */
  cniConfig(): string {
    return JSON.stringify({
      cniVersion: '0.4.0',
      name: 'runa-cri-e2e',
      plugins: [
        {
          type: 'bridge', bridge: 'runa-cni0', isGateway: true, ipMasq: false, hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: POD_SUBNET, gateway: POD_GATEWAY }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: path.join(this.dir, 'ipam') },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    }, null, 1);
  }

  async start(sandboxImage: string): Promise<void> {
    const d = this.dir;
    this.shimSocketsBefore = new Set(this.shimSockets());
    this.netnsBefore = new Set(this.netnsNames());
    // The test's network namespace: unshare pins it on a file of ours; loopback up (the stream server listens there).
    fs.writeFileSync(this.netns, '');
    let r = spawnSync('unshare', [`--net=${this.netns}`, 'ip', 'link', 'set', 'lo', 'up'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`unshare --net: ${r.stderr}`);
    fs.mkdirSync(path.join(d, 'cni'));
    if (this.withCni) fs.writeFileSync(path.join(d, 'cni', '10-runa-cri-e2e.conflist'), this.cniConfig());
    fs.writeFileSync(path.join(d, 'config.toml'), this.config(sandboxImage));
    fs.writeFileSync(path.join(d, 'crictl.yaml'), [
      `runtime-endpoint: unix://${this.sock}`,
      `image-endpoint: unix://${this.sock}`,
      'timeout: 30',
      'pull-image-on-create: false',
      'disable-pull-on-run: true',
      '',
    ].join('\n'));
    const log = fs.openSync(path.join(d, 'containerd.log'), 'w');
    this.proc = spawn('nsenter', [`--net=${this.netns}`, 'containerd', '--config', path.join(d, 'config.toml')], { stdio: ['ignore', log, log], detached: true });
    fs.closeSync(log);
    this.exited = new Promise((resolve) => this.proc!.on('exit', () => resolve()));
    await until(async () => fs.existsSync(this.sock) && (await this.crictl(['version'], { timeoutMs: 5000 })).code === 0, 'containerd (CRI) to serve', 30_000);
  }

  /** `ctr -a SOCK -n k8s.io args…` with the native snapshotter. */
  ctr(args: string[], opts: CmdOpts = {}): Promise<CmdResult> {
    return command('ctr', ['-a', this.sock, '-n', CRI_NAMESPACE, ...args], { ...opts, env: { CONTAINERD_SNAPSHOTTER: 'native', ...opts.env } });
  }

  /** The crictl command line (inside the test's network namespace, where the stream server is). */
  argv(args: string[]): [string, string[]] {
    return ['nsenter', [`--net=${this.netns}`, this.crictlBin, '--config', path.join(this.dir, 'crictl.yaml'), ...args]];
  }

  crictl(args: string[], opts: CmdOpts = {}): Promise<CmdResult> {
    const [cmd, argv] = this.argv(args);
    return command(cmd, argv, opts);
  }

  /** A command in the test's network namespace (as the node would run it). */
  inNetns(cmd: string, args: string[], opts: CmdOpts = {}): Promise<CmdResult> {
    return command('nsenter', [`--net=${this.netns}`, cmd, ...args], opts);
  }

  /** Write a JSON config file (a pod's or a container's) and return its path. */
  writeConfig(name: string, config: unknown): string {
    const file = path.join(this.dir, 'configs', `${name}.json`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(config, null, 1));
    return file;
  }

  /** Stop and remove every pod (and so every container). */
  async removeAll(): Promise<void> {
    const ps = await this.crictl(['ps', '-aq'], { timeoutMs: 30_000 });
    for (const id of ps.stdout.split('\n').filter(Boolean)) await this.crictl(['rm', '-f', id], { timeoutMs: 30_000 });
    const pods = await this.crictl(['pods', '-q'], { timeoutMs: 30_000 });
    for (const id of pods.stdout.split('\n').filter(Boolean)) {
      await this.crictl(['stopp', id], { timeoutMs: 30_000 });
      await this.crictl(['rmp', '-f', id], { timeoutMs: 30_000 });
    }
  }

  netnsNames(): string[] {
    try { return fs.readdirSync(NETNS_DIR); } catch { return []; }
  }

  private shimSockets(): string[] {
    try { return fs.readdirSync('/run/containerd/s'); } catch { return []; }
  }

  /** What is left of this containerd's pods now (call after an orderly teardown). */
  leftovers(): Leftovers {
    // Only this containerd's shims: another suite's may come and go in the same directory.
    const own = ownShimSockets(path.join(this.dir, 'containerd.log'), this.sock);
    return {
      processes: processes((cmd) => cmd.includes(this.dir)),
      mounts: [...mountsMentioning(this.dir).filter((l) => l.split(' ')[4] !== this.netns), ...this.netnsNames().filter((n) => !this.netnsBefore.has(n)).flatMap((n) => mountsMentioning(`${NETNS_DIR}/${n}`))],
      // The containers' cgroups (named by their IDs); the pods' parents are kubelet's to make and remove.
      cgroups: cgroupChildren(this.cgroupParent).filter((d) => /\/[0-9a-f]{64}$/.test(d)),
      state: stateDirs(this.runtimeRoot),
      files: [
        ...this.shimSockets().filter((s) => !this.shimSocketsBefore.has(s) && own.has(s)).map((s) => `/run/containerd/s/${s}`),
        ...this.netnsNames().filter((n) => !this.netnsBefore.has(n)).map((n) => `${NETNS_DIR}/${n}`),
        ...(fs.existsSync(path.join(this.dir, 'ipam', 'runa-cri-e2e')) ? fs.readdirSync(path.join(this.dir, 'ipam', 'runa-cri-e2e')).filter((f) => /^\d/.test(f)).map((f) => `ipam lease ${f}`) : []),
      ],
    };
  }

  /** Links in the test's network namespace other than lo and the bridge (pods' veths). */
  async links(): Promise<string[]> {
    const r = await this.inNetns('ip', ['-o', 'link', 'show']);
    return r.stdout.split('\n').filter(Boolean).map((l) => l.split(':')[1].trim().split('@')[0]).filter((n) => n !== 'lo' && n !== 'runa-cni0');
  }

  /**
   * Remove every pod, stop the runtime's daemon and containerd, and report what was left; then
   * remove it all regardless (processes, mounts, cgroups, network namespaces, files).
   */
  async teardown(): Promise<Leftovers> {
    let veths: string[] = [];
    if (this.proc && this.proc.exitCode === null) {
      await this.removeAll();
      await until(() => processes((cmd) => cmd.includes('containerd-shim') && cmd.includes(this.sock)).length === 0, 'shims to exit', 15_000).catch(() => {});
      veths = await this.links();
      await stopRunaDaemon(path.join(this.dir, 'rt', CRI_NAMESPACE)).catch(() => {});
      this.proc.kill('SIGTERM');
      await Promise.race([this.exited, sleep(10_000)]);
      if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
    }
    await until(() => processes((cmd) => cmd.includes(this.dir)).length === 0, 'processes to exit', 3000).catch(() => {});
    const left = this.leftovers();
    left.files.push(...veths.map((v) => `veth ${v}`));
    for (const p of processes((cmd) => cmd.includes(this.dir))) { try { process.kill(Number(p.split(':')[0]), 'SIGKILL'); } catch { /* gone */ } }
    await sleep(100);
    for (const n of this.netnsNames().filter((x) => !this.netnsBefore.has(x))) {
      spawnSync('umount', ['-l', `${NETNS_DIR}/${n}`]);
      fs.rmSync(`${NETNS_DIR}/${n}`, { force: true });
    }
    unmountAll(mountsMentioning(this.dir));
    const cgroups = cgroupChildren(this.cgroupParent);
    if (!this.cgroupParentExisted) cgroups.push(...cgroupDirs(this.cgroupParent));
    left.cgroups.push(...removeCgroups(cgroups).map((s) => `not removed: ${s}`));
    fs.rmSync(this.dir, { recursive: true, force: true });
    for (const f of left.files.filter((x) => x.startsWith('/run/containerd/s/'))) fs.rmSync(f, { force: true });
    if (!this.runContainerdExisted) fs.rmSync('/run/containerd', { recursive: true, force: true });
    if (!this.netnsDirExisted) { try { fs.rmdirSync(NETNS_DIR); } catch { /* not empty, or gone */ } }
    // libcni's result cache (containerd 1.6 gives it no directory of ours); empty once every pod is gone.
    if (!this.varLibCniExisted) fs.rmSync('/var/lib/cni', { recursive: true, force: true });
    return left;
  }
}
