// runsc's global --overlay and --overlay2 {mount}:{medium}: which of a new container's mounts get
// a writable in-memory layer (src/oci/plan/overlay.ts). runa's one medium is `memory`: the upper
// layer is a tmpfs in the container's mount namespace. runsc's `self` (a file in the rootfs) and
// `dir=PATH` (a file in a host directory) are refused, never taken for `memory`.
import { RunaError } from '../errors.js';
import { usage } from './flags.js';
import type { FlagSpecs } from './flags.js';

export const OVERLAY_FLAGS: FlagSpecs = {
  overlay: { kind: 'bool', usage: 'wrap the container\'s root file system and its writable bind mounts with a writable in-memory overlay, as --overlay2 all:memory does (runsc): nothing the container writes there reaches the bundle or the host' },
  overlay2: {
    kind: 'string', value: '{mount}:{medium}', default: 'none',
    usage: 'wrap mounts of the containers create and run make with overlayfs (runsc): mount is \'root\' (the root file system) or \'all\' (and every writable bind mount); medium is \'memory\' (the upper layer is a tmpfs in the container\'s mount namespace, gone with it; runsc\'s \'self\' and \'dir=PATH\' are refused). A read-only root gets none. \'none\' turns overlay mode off',
  },
};

const bad = (v: string, why: string) => usage(`invalid value ${JSON.stringify(v)} for flag -overlay2: ${why}`);

/** --overlay2's value, runsc's way: 'none', or {mount}:{medium}. */
function parseOverlay2(v: string): 'root' | 'all' | 'none' {
  if (v === 'none') return 'none';
  const parts = v.split(':');
  if (parts.length !== 2) throw bad(v, `expected format is --overlay2={mount}:{medium}, got ${JSON.stringify(v)}`);
  const [mount, medium] = parts;
  if (mount !== 'root' && mount !== 'all') throw bad(v, `unexpected mount specifier for --overlay2: ${JSON.stringify(mount)}`);
  if (medium === 'self' || medium.startsWith('dir=')) {
    throw new RunaError('unsupported', `--overlay2 ${v}: runa keeps an overlay's upper layer in memory only (medium "memory"): runsc's "${medium === 'self' ? 'self' : 'dir='}" medium (a file backing it on disk) is not supported`);
  }
  if (medium !== 'memory') throw bad(v, `unexpected medium specifier for --overlay2: ${JSON.stringify(medium)}`);
  return mount;
}

/** The global --overlay and --overlay2, checked: undefined when neither is given. */
export function overlayFlags(values: Record<string, unknown>): 'root' | 'all' | 'none' | undefined {
  const v2 = values.overlay2 as string | undefined;
  const mode = v2 === undefined ? undefined : parseOverlay2(v2);
  if (!values.overlay) return mode;
  // runsc: --overlay is --overlay2 all:memory.
  if (mode !== undefined && mode !== 'all') throw usage(`--overlay is --overlay2 all:memory: not with --overlay2 ${v2}`);
  return 'all';
}
