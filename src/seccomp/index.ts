// linux.seccomp → a loadable filter: validated, compiled once per profile and kernel (cached,
// as crun does), with what nsinit needs to load it and hand a listener over.
import { createHash } from 'node:crypto';
import { BPF_MAXINSNS, encode } from './bpf.js';
import { compileRules } from './compile.js';
import { SeccompError, parseProfile, profileRules, type SeccompProfile } from './profile.js';
import type { SyscallArch } from './syscalls.js';

export { SeccompError, ACTIONS, OPERATORS, FLAGS, SeccompSchema, type SeccompProfile } from './profile.js';
export { OCI_ARCHES } from './arch.js';

export interface CompiledFilter {
  /** sock_filter array as the kernel reads it */
  program: Buffer;
  /** instructions */
  length: number;
  /** seccomp(2) flags */
  flags: number;
  /** SCMP_ACT_NOTIFY is used: the listener fd goes to `listenerPath` */
  notify: boolean;
  listenerPath?: string;
  listenerMetadata?: string;
  /** syscall names no table knows, skipped */
  unknown: string[];
}

/** A compiled filter for the process, and the state its listener gets (with SCMP_ACT_NOTIFY). */
export interface SeccompLoad { filter: CompiledFilter; listenerState?: string }

export interface CompileOptions { native?: SyscallArch; flagsSupported?: number }

const cache = new Map<string, CompiledFilter>();
const CACHE_MAX = 64;

const keyOf = (raw: unknown, o: CompileOptions) => createHash('sha256')
  .update(JSON.stringify([raw, o.native ?? '', o.flagsSupported ?? -1], (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)))
  .digest('base64');

/** Compile (or take from the cache) the filter for a `linux.seccomp` value; throws SeccompError. */
export function compileSeccomp(raw: unknown, opts: CompileOptions = {}): CompiledFilter {
  const key = keyOf(raw, opts);
  const hit = cache.get(key);
  if (hit) return hit;
  const profile: SeccompProfile = parseProfile(raw);
  const rules = profileRules(profile, opts);
  const insns = compileRules(rules);
  if (insns.length > BPF_MAXINSNS) throw new SeccompError(`linux.seccomp: the filter needs ${insns.length} instructions, more than the kernel's limit of ${BPF_MAXINSNS}`);
  const filter: CompiledFilter = {
    program: encode(insns), length: insns.length, flags: rules.flags, notify: rules.notify,
    listenerPath: profile.listenerPath, listenerMetadata: profile.listenerMetadata, unknown: rules.unknown,
  };
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(key, filter);
  return filter;
}

/**
 * The state that goes with a listener fd (runc's ContainerProcessState): `@PID@` stands for the
 * process's pid, which only the monitor learns; every other `@` is escaped so it cannot clash.
 */
export function listenerState(s: { ociVersion: string; id: string; status: string; bundle: string; annotations?: Record<string, string>; metadata?: string }): string {
  const q = (v: unknown) => JSON.stringify(v).replace(/@/g, '\\u0040');
  const meta = s.metadata !== undefined && s.metadata !== '' ? `,"metadata":${q(s.metadata)}` : '';
  const annotations = s.annotations && Object.keys(s.annotations).length ? `,"annotations":${q(s.annotations)}` : '';
  return `{"ociVersion":${q(s.ociVersion)},"fds":["seccompFd"],"pid":@PID@${meta},"state":{"ociVersion":${q(s.ociVersion)},` +
    `"id":${q(s.id)},"status":${q(s.status)},"pid":@PID@,"bundle":${q(s.bundle)}${annotations}}}`;
}
