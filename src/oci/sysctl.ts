// linux.sysctl: only keys that a namespace of the container's own covers are written, as runc's
// validator allows them (libcontainer/configs/validate sysctl); anything else would reach the
// host's kernel and is refused before anything is created.
import { RunaError } from '../errors.js';
import type { NsFile } from './host-facts.js';

/** IPC-namespaced keys besides fs.mqueue.* (ipc/ipc_sysctl.c). */
const IPC_KEYS = new Set([
  'kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem',
  'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced',
]);

/**
 * A key in sysctl(8)'s dotted form. Slashes are accepted as separators when the first separator
 * is one: then "." and "/" swap, so that an interface name with a dot survives
 * ("net/ipv4/conf/eth0.100/rp_filter" → "net.ipv4.conf.eth0/100.rp_filter").
 */
export function dottedSysctl(key: string): string {
  const first = key.search(/[./]/);
  if (first < 0 || key[first] === '.') return key;
  return key.replace(/[./]/g, (c) => (c === '.' ? '/' : '.'));
}

/** The file under /proc/sys for a key (dotted or slashed). */
export function sysctlFile(key: string): string {
  return `/proc/sys/${dottedSysctl(key).replace(/[./]/g, (c) => (c === '.' ? '/' : '.'))}`;
}

export interface SysctlNamespaces {
  /** namespace types the config lists (made or joined) */
  types: Set<string>;
  /** type → path, for the namespaces joined by path */
  joined: Map<string, string>;
  /** namespace files as stat(2) saw them (HostFacts.nsFiles): the joined network namespace's and the runtime's own, /proc/self/ns/net */
  nsFiles: Record<string, NsFile>;
}

/** Refuse, in runc's words, every key no namespace of the container's own covers. */
export function checkSysctls(sysctl: Record<string, string> | undefined, ns: SysctlNamespaces): void {
  if (!sysctl) return;
  let hostnet: boolean | undefined;
  for (const raw of Object.keys(sysctl)) {
    const key = dottedSysctl(raw);
    if (IPC_KEYS.has(key) || key.startsWith('fs.mqueue.')) {
      if (ns.types.has('ipc')) continue;
      throw new RunaError('invalid_spec', `config.json: linux.sysctl: sysctl ${JSON.stringify(raw)} is not allowed in the hosts ipc namespace`);
    }
    if (key.startsWith('net.')) {
      hostnet ??= isHostNet(ns);
      if (hostnet) throw new RunaError('invalid_spec', `config.json: linux.sysctl: sysctl ${JSON.stringify(raw)} not allowed in host network namespace`);
      continue;
    }
    if (ns.types.has('uts')) {
      if (key === 'kernel.domainname') continue;
      if (key === 'kernel.hostname') {
        throw new RunaError('invalid_spec', `config.json: linux.sysctl: sysctl ${JSON.stringify(raw)} is not allowed as it conflicts with the OCI "hostname" field`);
      }
    }
    throw new RunaError('invalid_spec', `config.json: linux.sysctl: sysctl ${JSON.stringify(raw)} is not in a separate kernel namespace`);
  }
}

/** The container shares the runtime's network namespace: none of its own, or one joined by a path to that one. */
function isHostNet(ns: SysctlNamespaces): boolean {
  if (!ns.types.has('network')) return true;
  const p = ns.joined.get('network');
  if (p === undefined) return false;
  const fact = (f: string) => {
    if (!Object.hasOwn(ns.nsFiles, f)) throw new Error(`host facts: the namespace file ${JSON.stringify(f)} was not read`);
    return ns.nsFiles[f];
  };
  const theirs = fact(p);
  if ('error' in theirs) throw new RunaError('invalid_spec', `config.json: linux.sysctl: invalid netns path: ${theirs.error}`);
  const ours = fact('/proc/self/ns/net');
  if ('error' in ours) throw new Error(ours.error);
  return theirs.dev === ours.dev && theirs.ino === ours.ino;
}
