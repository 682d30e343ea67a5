// runsc's --strace, planned: which syscalls nsinit's tracer writes and how it prints their
// arguments (strace-signatures.ts), where the lines go and how much of a string or buffer they
// show. Pure: the result is the ops of the plan nsinit takes with `--strace PLANFILE`.
import { RunaError } from '../../errors.js';
import type { PlanOp } from '../../nsinit/plan.js';
import { SYSCALLS, type SyscallArch } from '../../seccomp/syscalls.js';
import { nativeArch } from '../../seccomp/arch.js';
import { STRACE_SIGNATURES } from './strace-signatures.js';

/** runsc's default for --strace-log-size, and what its 0 means. */
export const STRACE_LOG_SIZE = 1024;
/** The most nsinit prints of one string or buffer. */
export const STRACE_LOG_SIZE_MAX = 1 << 24;

export interface StraceOptions {
  /** the debug log the lines are appended to (absolute) */
  log: string;
  format: 'text' | 'json';
  /** bytes of a string or buffer printed */
  logSize: number;
  /** the syscalls to trace by name; null: all */
  syscalls: readonly string[] | null;
}

/** The arches nsinit's tracer decodes (native/strace.c). */
const TRACED_ARCHES: readonly SyscallArch[] = ['x86_64', 'aarch64'];

function tracedArch(arch: SyscallArch): SyscallArch {
  if (!TRACED_ARCHES.includes(arch)) throw new RunaError('unsupported', `--strace: not supported on ${arch} (only ${TRACED_ARCHES.join(', ')})`);
  return arch;
}

/** Refuse a --strace-syscalls name this arch has not, as runsc does (nothing is made). */
export function checkStraceSyscalls(names: readonly string[], arch: SyscallArch = nativeArch()): void {
  const table = SYSCALLS[tracedArch(arch)];
  for (const n of names) {
    if (!Object.hasOwn(table, n)) throw new RunaError('invalid_argument', `--strace-syscalls: syscall ${JSON.stringify(n)} not found`);
  }
}

/** The ops of a --strace plan: the log, then one `strace-call` per traced syscall. */
export function stracePlan(o: StraceOptions, arch: SyscallArch = nativeArch()): PlanOp[] {
  const table = SYSCALLS[tracedArch(arch)];
  if (o.syscalls) checkStraceSyscalls(o.syscalls, arch);
  const names = o.syscalls ? [...new Set(o.syscalls)] : Object.keys(table);
  const size = o.logSize === 0 ? STRACE_LOG_SIZE : o.logSize;
  const ops: PlanOp[] = [{ op: 'strace', log: o.log, format: o.format, size, all: o.syscalls === null }];
  // One number may carry several names (none on these arches today): the first one names it.
  const seen = new Set<number>();
  for (const name of names) {
    const nr = table[name];
    if (seen.has(nr)) continue;
    seen.add(nr);
    ops.push({ op: 'strace-call', nr, name, kinds: STRACE_SIGNATURES[name] ?? 'x,x,x,x,x,x' });
  }
  return ops;
}
