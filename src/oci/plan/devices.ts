// Device nodes in a fresh /dev: linux.devices and the default ones, made with mknod or, where
// a user namespace refuses mknod, bound from the host's nodes. Pure: the host's nodes come
// from HostFacts.
import path from 'node:path';
import { RunaError } from '../../errors.js';
import { MS, type PlanOp } from '../../nsinit/plan.js';
import type { HostFacts } from '../host-facts.js';
import type { Spec } from '../spec.js';
import { inRoot, known, mkdirs } from './common.js';

export const DEFAULT_DEVICES: Array<[string, number, number]> = [
  ['null', 1, 3], ['zero', 1, 5], ['full', 1, 7], ['random', 1, 8], ['urandom', 1, 9], ['tty', 5, 0],
];
const S_IFCHR = 0o020000;

export interface DeviceContext {
  host: HostFacts;
  rootfs: string;
  /** see PlanInput.resolve */
  resolve(containerPath: string): string;
  /** mounts are made under a user namespace's limits (mknod refused) */
  userns: boolean;
  /** /dev is a fresh tmpfs of the spec's, and /dev/pts a mount of its own */
  devIsTmpfs: boolean;
  hasPts: boolean;
}

/**
 * linux.devices first, as runc makes them: a path listed twice, or already there (a /dev that
 * is not a fresh tmpfs), is left as it is (runc takes mknod's EEXIST as done); /dev/ptmx
 * gives way to the pts symlink made below (containerd lists it for a privileged container).
 * Then, in a fresh /dev, the default devices and the /proc/self/fd links.
 */
export function deviceOps(devices: NonNullable<Spec['linux']>['devices'] = [], c: DeviceContext): PlanOp[] {
  const { host, userns, devIsTmpfs } = c;
  const plan: PlanOp[] = [];
  const ptmxLink = devIsTmpfs && c.hasPts;
  const made = new Set<string>();
  for (const d of devices) {
    if (made.has(d.path) || (ptmxLink && path.posix.normalize(d.path) === '/dev/ptmx')) continue;
    made.add(d.path);
    if (d.type !== 'p' && (d.major === undefined || d.minor === undefined)) {
      throw new RunaError('invalid_spec', `config.json: linux.devices: ${d.path}: major and minor are required for type ${d.type}`);
    }
    const hostPath = c.resolve(d.path);
    if (!devIsTmpfs && known(host.present, hostPath, 'lstat')) continue;
    const target = inRoot(c.rootfs, hostPath);
    plan.push(...mkdirs(path.dirname(target)));
    const type = d.type === 'b' ? 0o060000 : d.type === 'p' ? 0o010000 : S_IFCHR;
    const mode = (d.fileMode ?? 0o666) & 0o7777;
    if (userns && d.type !== 'p') plan.push(...bindDevice(hostDevice(host, d.path, d.type === 'b', d.major!, d.minor!), target, mode));
    else {
      plan.push({ op: 'mknod', path: target, mode: type | mode, major: d.major ?? 0, minor: d.minor ?? 0 });
      // Made by root: the owner asked for, if another (a bound host node keeps its own, as in runc).
      if (d.uid || d.gid) plan.push({ op: 'lchown', path: target, uid: d.uid ?? 0, gid: d.gid ?? 0 });
    }
  }
  if (devIsTmpfs) {
    const dev = inRoot(c.rootfs, c.resolve('/dev'));
    // A default device the spec lists again is made as the spec says (runc), not twice.
    for (const [name, major, minor] of DEFAULT_DEVICES.filter(([n]) => !made.has(`/dev/${n}`))) {
      // mknod is refused in a user namespace: bind the host's node onto an empty file.
      if (userns) plan.push(...bindDevice(`/dev/${name}`, path.join(dev, name), 0o666));
      else plan.push({ op: 'mknod', path: path.join(dev, name), mode: S_IFCHR | 0o666, major, minor });
    }
    plan.push(
      { op: 'symlink', target: '/proc/self/fd', linkpath: path.join(dev, 'fd') },
      { op: 'symlink', target: '/proc/self/fd/0', linkpath: path.join(dev, 'stdin') },
      { op: 'symlink', target: '/proc/self/fd/1', linkpath: path.join(dev, 'stdout') },
      { op: 'symlink', target: '/proc/self/fd/2', linkpath: path.join(dev, 'stderr') },
    );
    if (ptmxLink) plan.push({ op: 'symlink', target: 'pts/ptmx', linkpath: path.join(dev, 'ptmx') });
  }
  return plan;
}

/** The host device node to bind for a linux.devices entry: its own path if it matches, else one found under /dev. */
function hostDevice(host: HostFacts, devPath: string, block: boolean, major: number, minor: number): string {
  const kind = block ? 'blk' : 'chr';
  const own = known(host.stats, devPath, 'stat');
  if (own && own.kind === kind && own.major === major && own.minor === minor) return devPath;
  if (!host.devNodes) throw new Error('host facts: the device nodes under /dev were not read');
  const found = host.devNodes.find((n) => n.kind === kind && n.major === major && n.minor === minor);
  if (found) return found.path;
  throw new RunaError('invalid_spec',
    `config.json: linux.devices: ${devPath}: no ${block ? 'block' : 'character'} device ${major}:${minor} on the host to bind (device nodes cannot be created in a user namespace)`);
}

/** mkfile + bind of a host device node (mknod is refused in a user namespace). */
function bindDevice(source: string, target: string, mode: number): PlanOp[] {
  return [
    { op: 'mkfile', path: target, mode },
    { op: 'mount', source, target, fstype: '', flags: MS.BIND, data: '' },
  ];
}
