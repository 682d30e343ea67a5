// The plan of `runa restore`: no process is set up by nsinit; the monitor runs `criu restore`
// (runc's Restore, libcontainer/criu_linux.go: its options, the root bound where CRIU wants it,
// the external bind mounts mapped, CRIU in the container's cgroup) and follows what CRIU
// restored. Pure: the caller's facts come in RestoreOptions, the cgroup mounts in PlanInput.
import path from 'node:path';
import { RunaError } from '../../errors.js';
import { criuSharedFlags } from '../criu-flags.js';
import { MS, type PlanOp } from '../../nsinit/plan.js';
import type { HostCgroupMount } from '../../cgroups/host.js';
import type { RestoreOptions } from '../../bus/messages.js';
import type { Spec } from '../spec.js';
import { inRoot, mkdirs, type PlanInput } from './common.js';
import { isBindMount } from './mount-options.js';
import { isFileBind } from './mounts.js';
import { joinCgroup, joinRdt } from './process.js';
import type { HostFacts } from '../host-facts.js';

/** Where the rootfs is bound for CRIU (a mount point whose parent is not overmounted, as CRIU requires; runc's `criu-root`). */
export const criuRoot = (stateDir: string) => path.join(stateDir, 'criu-root');
/** Where CRIU writes the restored init's pid. */
export const criuPidFile = (stateDir: string) => path.join(stateDir, 'restore.pid');
/** CRIU's log in the work dir. */
export const RESTORE_LOG = 'restore.log';

/** CRIU's names for the namespaces it can join by path (--join-ns); the others a restore cannot take by path. */
const JOINABLE: Record<string, string> = { ipc: 'ipc', uts: 'uts' };

/** What of a config a restore through CRIU's command line cannot do: refused in words that say why. */
export function refuseForRestore(spec: Spec, unprivileged: boolean): void {
  const no = (what: string) => new RunaError('unsupported', `restore: ${what}`);
  if (unprivileged) throw no('runa restores as root only (criu restore needs the host\'s root)');
  // runc passes CRIU's orphan-pts-master over its RPC socket to --console-socket; runa runs CRIU's command line, which cannot.
  if (spec.process.terminal) throw no('a container with a terminal (process.terminal) cannot be restored by runa: CRIU hands its pty master over only in its RPC mode');
  // runc runs these at CRIU's setup-namespaces notification, which only CRIU's RPC mode sends.
  for (const kind of ['prestart', 'createRuntime'] as const) {
    if ((spec.hooks as Record<string, unknown[] | undefined> | undefined)?.[kind]?.length) throw no(`the config's ${kind} hooks cannot run: runa runs CRIU's command line, which has no place for them`);
  }
  // runc doesn't manage network devices: CRIU makes the network namespace empty, and nothing moves them in.
  if (Object.keys(spec.linux?.netDevices ?? {}).length) throw no('linux.netDevices cannot be moved into a restored container (CRIU makes its network namespace empty)');
  for (const ns of spec.linux?.namespaces ?? []) {
    if (!ns.path) continue;
    // runc's words for the cgroup namespace; net and pid need CRIU's RPC inherit-fd of an external namespace, which checkpoint would have had to mark.
    if (ns.type === 'cgroup') throw new RunaError('unsupported', 'Do not know how to handle namespace NEWCGROUP');
    if (!JOINABLE[ns.type]) throw no(`joining the existing ${ns.type} namespace ${ns.path} is not supported by runa`);
  }
}

/**
 * The config a restored container keeps: CRIU restores the tree into a time namespace of its
 * own where the kernel has them, so exec must join it (runc adds it to the config likewise).
 */
export function restoredSpec(spec: Spec, timeNamespaces: boolean): Spec {
  const namespaces = spec.linux?.namespaces ?? [];
  if (!timeNamespaces || namespaces.some((n) => n.type === 'time')) return spec;
  return { ...spec, linux: { ...spec.linux, namespaces: [...namespaces, { type: 'time' }] } };
}

/** A cgroup dir as /proc/PID/cgroup shows it: its path below the mount of its hierarchy. */
function cgroupPath(dir: string, mounts: HostCgroupMount[]): string | null {
  // A mount's dir is its mount point's path below /sys/fs/cgroup ('' for a unified /sys/fs/cgroup).
  const points = mounts.map((x) => path.posix.join('/sys/fs/cgroup', x.dir)).filter((p) => dir === p || dir.startsWith(p + '/'));
  const point = points.sort((a, b) => b.length - a.length)[0];
  return point === undefined ? null : path.posix.join('/', path.posix.relative(point, dir));
}

/** The arguments of `criu restore` (runc's request, as CRIU's command line). */
export function criuRestoreArgs(o: RestoreOptions, input: Pick<PlanInput, 'spec' | 'stateDir' | 'supervised' | 'cgroupDirs' | 'hostCgroups'>): string[] {
  const args = ['restore', '--images-dir', o.imagePath, '--work-dir', o.workPath, '--log-file', RESTORE_LOG, '-v4',
    '--root', criuRoot(input.stateDir), '--pidfile', criuPidFile(input.stateDir),
    // Detached: CRIU leaves once the tree runs. Self-supervised, the restored init is CRIU's
    // sibling, the monitor's child; supervised, CRIU's child, reparented to the caller's subreaper.
    '--restore-detached', ...(input.supervised ? [] : ['--restore-sibling']),
    `--manage-cgroups=${o.manageCgroupsMode ?? 'soft'}`, '--evasive-devices',
    // runc doesn't manage network devices and their configuration: the network namespace is always made empty.
    '--empty-ns', 'net'];
  // CRIU puts the tree where runa made the container's cgroup (runc's criuApplyCgroups: CgRoot from /proc/<criu>/cgroup).
  const dirs = [...(input.cgroupDirs?.monitor ?? []), ...(input.cgroupDirs?.child ?? [])];
  const roots = new Set(dirs.map((d) => cgroupPath(d, input.hostCgroups)));
  if (roots.has(null)) throw new RunaError('invalid_state', `restore: the container's cgroup ${dirs.join(', ')} lies in no cgroup mount this host shows`);
  if (roots.size > 1) throw new RunaError('unsupported', `restore: the container's cgroup has different paths in different hierarchies (${[...roots].join(', ')})`);
  for (const root of roots) args.push('--cgroup-root', root!);
  args.push(...criuSharedFlags(o));
  // Bind mounts were external at checkpoint (mnt[DEST]:DEST): each is bound again from its source.
  for (const m of input.spec.mounts ?? []) {
    if (isBindMount(m)) args.push('--ext-mount-map', `${path.posix.resolve('/', m.destination)}:${m.source}`);
  }
  for (const ns of input.spec.linux?.namespaces ?? []) if (ns.path) args.push('--join-ns', `${JOINABLE[ns.type]}:${ns.path}`);
  // The checkpointed init's stdio that were pipes: the caller's own fd (runc's descriptors.json).
  for (const f of o.inheritFds ?? []) args.push('--inherit-fd', `fd[${f.fd}]:${f.key}`);
  return args;
}

/**
 * The monitor binds its socket, forks CRIU and follows the process CRIU restores. The child
 * first joins the container's cgroup (CRIU then puts the tree there), makes a mount namespace
 * of its own (nothing it mounts reaches the host, and nothing is left to unmount), binds the
 * rootfs at criu-root and makes the mount points the config's mounts need on it (runc's
 * prepareCriuRestoreMounts; those under a tmpfs or a bind of the config are CRIU's or exist).
 */
export function buildRestorePlan(input: PlanInput, host: HostFacts): PlanOp[] {
  const o = input.restore!;
  const { spec, stateDir } = input;
  refuseForRestore(spec, Boolean(input.unprivileged));
  const root = criuRoot(stateDir);
  const plan: PlanOp[] = [
    { op: 'statedir', path: stateDir },
    { op: 'criu-restore', pidFile: criuPidFile(stateDir), sibling: !input.supervised },
    // CRIU's restored tasks are its children: they inherit its cgroups and its resctrl group (linux.intelRdt).
    ...joinCgroup([...(input.cgroupDirs?.monitor ?? []), ...(input.cgroupDirs?.child ?? [])]),
    ...joinRdt(input.rdtDir),
    { op: 'unshare', namespaces: ['mnt'] },
    { op: 'mount', source: '', target: '/', fstype: '', flags: MS.REC | MS.SLAVE, data: '' },
    { op: 'mount', source: input.rootfs, target: root, fstype: '', flags: MS.BIND | MS.REC, data: '' },
    { op: 'rootfs', path: root },
  ];
  const mounts = spec.mounts ?? [];
  const covered = (dest: string) => mounts.some((m) => (m.type === 'tmpfs' || isBindMount(m)) && dest.startsWith(path.posix.resolve('/', m.destination) + '/'));
  for (const m of mounts) {
    const dest = path.posix.resolve('/', m.destination);
    if (m.type === 'cgroup' || dest === '/' || covered(dest)) continue;
    const target = inRoot(input.rootfs, input.resolve(dest));
    // A bind of a file needs a file to be bound on; every other mount a directory.
    const file = isBindMount(m) && isFileBind(host, m);
    plan.push(...mkdirs(file ? path.posix.dirname(target) : target));
    if (file) plan.push({ op: 'mkfile', path: target, mode: 0o644 });
  }
  plan.push({ op: 'env', entry: `PATH=${o.path}` }, ...[o.criu, ...criuRestoreArgs(o, input)].map((value) => ({ op: 'arg', value }) as PlanOp), { op: 'exec' });
  return plan;
}
