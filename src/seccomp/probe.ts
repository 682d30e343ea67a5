// What this kernel's seccomp supports, asked once of nsinit (`--probe-seccomp`).
import { spawnSync } from 'node:child_process';
import { nsinitPath } from '../paths.js';
import { FLAGS, type FlagName } from './profile.js';

export interface KernelSeccomp {
  /** filter flag names as nsinit reports them: tsync log spec_allow new_listener tsync_esrch wait_killable_recv */
  flags: string[];
  /** available actions: kill_process kill_thread trap errno user_notif trace log allow */
  actions: string[];
}

let cached: KernelSeccomp | null = null;

export function kernelSeccomp(): KernelSeccomp {
  if (cached) return cached;
  const r = spawnSync(nsinitPath, ['--probe-seccomp'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${nsinitPath} --probe-seccomp: ${r.error?.message ?? r.stderr.trim()}`);
  const line = (key: string) => (r.stdout.split('\n').find((l) => l.startsWith(key + ' ')) ?? key).split(' ').slice(1);
  cached = { flags: line('flags'), actions: line('actions') };
  return cached;
}

/** The OCI flag names this kernel knows (runc's `supportedFlags`). */
export function supportedFlagNames(k = kernelSeccomp()): FlagName[] {
  return (Object.keys(FLAGS) as FlagName[]).filter((f) => k.flags.includes(f.replace('SECCOMP_FILTER_FLAG_', '').toLowerCase()));
}

/** The same as seccomp(2) flag bits, for compileSeccomp's flagsSupported. */
export function supportedFlagBits(k = kernelSeccomp()): number {
  return supportedFlagNames(k).reduce((m, f) => m | FLAGS[f], 0);
}
