// seccomp figures: compile time of the callers' default profiles, filter length, and BPF
// instructions executed per syscall, for runa's filter and (dumped from a live runc
// container with PTRACE_SECCOMP_GET_FILTER) the one libseccomp builds for runc.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { encode, run, type Insn } from '../src/seccomp/bpf.js';
import { compileRules } from '../src/seccomp/compile.js';
import { parseProfile, profileRules } from '../src/seccomp/profile.js';
import { ARCHES } from '../src/seccomp/arch.js';
import { SYSCALLS } from '../src/seccomp/syscalls.js';
import { packageRoot } from '../src/paths.js';

export const DUMP = path.join(packageRoot, 'native', 'test', 'seccomp-dump');
/** Syscalls whose cost is reported: the hot ones, and one each profile denies. */
export const HOT = ['read', 'write', 'futex', 'openat'];

export function decode(b: Buffer): Insn[] {
  return Array.from({ length: b.length / 8 }, (_, i) => ({ code: b.readUInt16LE(i * 8), jt: b[i * 8 + 2], jf: b[i * 8 + 3], k: b.readUInt32LE(i * 8 + 4) }));
}

/** Compile without the cache: the first (cold) time and the median of `n` more. */
export function compileTimes(raw: unknown, n = 200): { firstMs: number; medianMs: number; program: Insn[] } {
  const once = () => {
    const t0 = performance.now();
    const insns = compileRules(profileRules(parseProfile(raw)));
    encode(insns);
    return { ms: performance.now() - t0, insns };
  };
  const first = once();
  const times = Array.from({ length: n }, () => once().ms).sort((a, b) => a - b);
  return { firstMs: first.ms, medianMs: times[n >> 1], program: first.insns };
}

/** Instructions the kernel runs for each syscall (x86_64, all-zero arguments). */
export function steps(prog: Insn[], names: string[]): Record<string, number> {
  return Object.fromEntries(names.map((n) => [n, run(prog, { arch: ARCHES.x86_64.audit, nr: SYSCALLS.x86_64[n], args: [] }).steps]));
}

/** The filter process `pid` runs under, as the kernel holds it; null if it cannot be read. */
export function dumpFilter(pid: number): Insn[] | null {
  if (!fs.existsSync(DUMP)) return null;
  const r = spawnSync(DUMP, [String(pid)]);
  return r.status === 0 && r.stdout.length ? decode(r.stdout) : null;
}
