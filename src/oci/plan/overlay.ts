// runsc's --overlay / --overlay2 {root|all}:memory: a writable in-memory layer over the rootfs
// ('root'), and over each writable bind mount too ('all'). The upper layers live on one tmpfs
// mounted in the container's own mount namespace (on <state dir>/overlay, a host path only that
// namespace sees mounted): nothing the container writes there reaches the bundle's rootfs or a
// bind's source, and the tmpfs goes with the namespace. Pure: the host comes in as HostFacts.
import path from 'node:path';
import { RunaError } from '../../errors.js';
import { MS, type PlanOp } from '../../nsinit/plan.js';
import type { HostFacts } from '../host-facts.js';
import type { Mount } from '../spec.js';
import { known, overlayDir, type OverlayLayout, type PlanInput } from './common.js';
import { isBindMount, parseMountOptions } from './mount-options.js';
import { lockedFlags, mountOf } from './mounts.js';

export const NO_OVERLAY: OverlayLayout = { root: false, newRoot: null, base: null, sources: new Map(), flags: new Map(), ops: [] };

/** Flags of a source's host mount an overlay over it keeps: it must not lift nosuid, nodev or noexec. */
const KEPT = MS.NOSUID | MS.NODEV | MS.NOEXEC;

/**
 * A bind mount the 'all' mode overlays: writable (no ro, no rro), from an absolute path that is
 * a directory or a regular file. A device, a socket or a FIFO stays a bind (writing to one
 * stores nothing in the file system).
 */
function overlaidBind(m: Mount, host: HostFacts): boolean {
  if (!isBindMount(m) || !m.source?.startsWith('/')) return false;
  const o = parseMountOptions(m.options);
  if (o.flags & MS.RDONLY || (o.recursive && o.recursive.set & 1 /* MOUNT_ATTR_RDONLY */)) return false;
  const st = known(host.stats, m.source, 'stat');
  return st !== null && (st.kind === 'dir' || st.kind === 'file');
}

/** overlayfs's mount data splits on ',' and ':' and unescapes '\\': a path with one cannot be a layer. */
function layerPath(p: string, what: string): string {
  if (/[,:\\]/.test(p)) throw new RunaError('invalid_spec', `overlay: ${what} ${p} contains ',', ':' or '\\', which overlayfs cannot take as a layer`);
  return p;
}

/** What gets a layer: the root (unless read-only, as runsc), and with 'all' the writable binds (refused where it cannot be). */
export function overlaid(input: PlanInput, host: HostFacts): { root: boolean; binds: number[] } {
  const mode = input.overlay;
  if (!mode) return { root: false, binds: [] };
  const { spec } = input;
  const types = new Set((spec.linux?.namespaces ?? []).map((n) => n.type));
  const joined = (spec.linux?.namespaces ?? []).find((n) => n.type === 'mount' && n.path);
  // Without a mount namespace of its own the overlay would be the host's, and outlive the container.
  if (!types.has('mount')) throw new RunaError('invalid_spec', `--overlay2 ${mode}:memory: the container has no mount namespace (config.json linux.namespaces): its overlay would be mounted on the host`);
  if (joined) throw new RunaError('invalid_spec', `--overlay2 ${mode}:memory: the container joins the mount namespace ${joined.path}: its overlay would outlive the container there`);
  // runsc: a read-only root gets no upper layer; it stays read-only.
  return { root: !spec.root.readonly, binds: mode === 'all' ? (spec.mounts ?? []).flatMap((m, i) => (overlaidBind(m, host) ? [i] : [])) : [] };
}

/**
 * Which layers a container gets, and the ops that make them. `rootHold`: the index of the
 * rootfs's `hold` when the container has a user namespace of its own (made by a runtime with
 * host root): its root cannot reach the state dir, so the tmpfs is mounted on the rootfs's path
 * (in the container's mount namespace only) and the rootfs, held from before, attached inside.
 */
export function overlayLayout(input: PlanInput, host: HostFacts, held: Map<number, number>, rootHold?: number): OverlayLayout {
  const { root, binds } = overlaid(input, host);
  if (!root && !binds.length) return NO_OVERLAY;
  const { spec } = input;
  const viaHolds = rootHold !== undefined;
  const base = viaHolds ? input.rootfs : overlayDir(input.stateDir);
  const ops: PlanOp[] = [
    { op: 'mount', source: 'tmpfs', target: base, fstype: 'tmpfs', flags: MS.NOSUID | MS.NODEV, data: 'mode=0700' },
    // The new root's parent: never shared (pivot_root refuses it, and nothing may propagate out).
    { op: 'mount', source: '', target: base, fstype: '', flags: MS.PRIVATE, data: '' },
  ];
  // The merged root of an overlay shows its upper directory's owner and mode: the upper layer
  // of a directory takes its lower's (mkdir-like); a file's directory's is never seen.
  const layer = (dir: string, lower: string, flags: number, like: boolean): PlanOp[] => [
    like ? { op: 'mkdir-like', path: `${dir}/upper`, ref: lower } : { op: 'mkdir', path: `${dir}/upper`, mode: 0o700 },
    { op: 'mkdir', path: `${dir}/work`, mode: 0o700 }, { op: 'mkdir', path: `${dir}/merged`, mode: 0o700 },
    { op: 'mount', source: 'overlay', target: `${dir}/merged`, fstype: 'overlay', flags, data: `lowerdir=${lower},upperdir=${dir}/upper,workdir=${dir}/work` },
  ];
  /** A held mount attached in the tmpfs, to be a layer (or the root itself). */
  const attach = (index: number, dir: string, source: string): PlanOp[] => [{ op: 'mkdir', path: dir, mode: 0o700 }, { op: 'mount-held', index, target: dir, source }];

  let newRoot: string | null = null;
  const rootFlags = lockedFlags(host, input.rootfs) & KEPT;
  if (viaHolds) {
    const lower = `${layerPath(base, 'the root')}/lower`;
    if (root) ops.push(...attach(rootHold, lower, input.rootfs), ...layer(base, lower, rootFlags, true));
    else ops.push(...attach(rootHold, `${base}/root`, input.rootfs));
    newRoot = root ? `${base}/merged` : `${base}/root`;
  } else if (root) {
    ops.push(...layer(base, layerPath(input.rootfs, 'the root'), rootFlags, true));
    newRoot = `${base}/merged`;
  }
  const sources = new Map<number, string>();
  const flags = new Map<number, number>();
  if (binds.length) ops.push({ op: 'mkdir', path: `${base}/mounts`, mode: 0o700 });
  for (const i of binds) {
    const m = spec.mounts![i];
    const real = known(host.realpaths, m.source!, 'the real path') ?? m.source!;
    // A file's overlay is its directory's: its merged view holds the file, bound in its place.
    const file = known(host.stats, m.source!, 'stat')!.kind === 'file';
    if (file && (held.has(i) || mountOf(host, m.source!)?.point === real)) {
      const why = held.has(i) ? 'is taken from before the container\'s user namespace (or idmapped)' : 'is mounted over';
      throw new RunaError('unsupported', `--overlay2 all:memory: the source of the mount on ${m.destination}, the file ${real}, ${why}: overlayfs cannot take its directory as a layer; use --overlay2 root:memory, or make that mount read-only`);
    }
    const dir = `${base}/mounts/${i}`;
    const f = lockedFlags(host, m.source!) & KEPT;
    ops.push({ op: 'mkdir', path: dir, mode: 0o700 });
    let lower: string;
    if (held.has(i)) {
      // Held from before a user namespace (its root may not reach the source), or idmapped: attached as the lower layer.
      lower = `${dir}/lower`;
      ops.push(...attach(held.get(i)!, lower, m.source!));
    } else {
      lower = layerPath(file ? path.dirname(real) : real, `the source of the mount on ${m.destination}`);
    }
    ops.push(...layer(dir, lower, f, !file));
    sources.set(i, file ? `${dir}/merged/${path.basename(real)}` : `${dir}/merged`);
    flags.set(i, f);
  }
  return { root, newRoot, base, sources, flags, ops };
}
