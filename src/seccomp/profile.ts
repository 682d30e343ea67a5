// OCI `linux.seccomp` → rules per architecture: validation (each failure names its field),
// syscall names resolved per arch, and runc's reading of actions, errnos and arguments.
import { z } from 'zod';
import { OCI_ARCHES, nativeArch } from './arch.js';
import { SYSCALLS, type SyscallArch } from './syscalls.js';
import { plainMessage } from '../errors.js';

/** SECCOMP_RET_* (linux/seccomp.h). */
export const RET = {
  KILL_PROCESS: 0x80000000, KILL_THREAD: 0x00000000, TRAP: 0x00030000, ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000, TRACE: 0x7ff00000, LOG: 0x7ffc0000, ALLOW: 0x7fff0000,
} as const;

export const ACTIONS = [
  'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY',
] as const;
export const OPERATORS = [
  'SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ',
] as const;
/** seccomp(2) filter flags the OCI spec names, with their bits. */
export const FLAGS = {
  SECCOMP_FILTER_FLAG_TSYNC: 1, SECCOMP_FILTER_FLAG_LOG: 2, SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 32,
} as const;
export const FLAG_NEW_LISTENER = 8;

export type ActionName = (typeof ACTIONS)[number];
export type Operator = (typeof OPERATORS)[number];
export type FlagName = keyof typeof FLAGS;

const EPERM = 1;
export const ENOSYS = 38;

// uint64 values: a JSON number, or a bigint where config.json held more digits than a double keeps.
const u64 = z.union([z.number().int().min(0), z.bigint().min(0n).max(0xffffffffffffffffn)], 'must be an unsigned 64-bit integer');
const errno = z.number().int().min(0).max(0xffff, 'an errno is at most 65535');

const Arg = z.looseObject({
  index: z.number().int().min(0).max(5, 'argument index must be 0 to 5'),
  value: u64,
  valueTwo: u64.optional(),
  op: z.enum(OPERATORS, { error: (i) => (i.input === undefined ? 'missing (expected an operator)' : `unknown operator ${JSON.stringify(i.input)}`) }),
});
const action = z.enum(ACTIONS, { error: (i) => (i.input === undefined ? 'missing (expected an action)' : `unknown action ${JSON.stringify(i.input)}`) });
const Syscall = z.looseObject({
  names: z.array(z.string()).min(1, 'a rule must name at least one syscall'),
  action,
  errnoRet: errno.optional(),
  args: z.array(Arg).optional(),
});

export const SeccompSchema = z.looseObject({
  defaultAction: action,
  defaultErrnoRet: errno.optional(),
  architectures: z.array(z.string().refine((a) => a in OCI_ARCHES, { error: (i) => `unknown architecture ${JSON.stringify(i.input)}` })).optional(),
  flags: z.array(z.string().refine((f) => f in FLAGS, { error: (i) => `unknown flag ${JSON.stringify(i.input)}` })).optional(),
  listenerPath: z.string().optional(),
  listenerMetadata: z.string().optional(),
  syscalls: z.array(Syscall).optional(),
});
export type SeccompProfile = z.infer<typeof SeccompSchema>;

/** One argument comparison, values already as the full 64 bits. */
export interface Condition { index: number; op: Operator; value: bigint; valueTwo: bigint }
/** Matches when every condition holds (none: always). */
export interface Rule { action: number; conditions: Condition[] }

/** A profile made ready for the compiler: per arch, the rules of each syscall number. */
export interface Rules {
  defaultAction: number;
  /** arches in the filter, the native one first */
  arches: SyscallArch[];
  syscalls: Partial<Record<SyscallArch, Map<number, Rule[]>>>;
  /** per arch, syscalls numbered above this get ENOSYS (runc's stub for newer syscalls); absent: no stub */
  enosysAbove: Partial<Record<SyscallArch, number>>;
  /** seccomp(2) flags (SECCOMP_FILTER_FLAG_NEW_LISTENER when an action is NOTIFY) */
  flags: number;
  /** syscall names no table of the filter's arches knows (runc and crun skip them too) */
  unknown: string[];
  notify: boolean;
}

export class SeccompError extends Error {}

const tables = new Map<SyscallArch, Map<string, number>>();
/** name → number for one arch, as a Map (lookups in the big table literals are slow). */
function table(a: SyscallArch): Map<string, number> {
  let t = tables.get(a);
  if (!t) tables.set(a, (t = new Map(Object.entries(SYSCALLS[a]))));
  return t;
}

const fail = (field: string, message: string): never => { throw new SeccompError(`linux.seccomp.${field}: ${message}`); };

/** The kernel's value for an action (errnoRet only for ERRNO and TRACE, EPERM when absent). */
export function actionValue(name: ActionName, errnoRet: number | undefined, field: string): number {
  if (errnoRet !== undefined && name !== 'SCMP_ACT_ERRNO' && name !== 'SCMP_ACT_TRACE') {
    fail(field, `errno return code only applies to SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not ${name}`);
  }
  switch (name) {
    case 'SCMP_ACT_KILL': case 'SCMP_ACT_KILL_THREAD': return RET.KILL_THREAD;
    case 'SCMP_ACT_KILL_PROCESS': return RET.KILL_PROCESS;
    case 'SCMP_ACT_TRAP': return RET.TRAP;
    case 'SCMP_ACT_ERRNO': return (RET.ERRNO | (errnoRet ?? EPERM)) >>> 0;
    case 'SCMP_ACT_TRACE': return (RET.TRACE | (errnoRet ?? EPERM)) >>> 0;
    case 'SCMP_ACT_ALLOW': return RET.ALLOW;
    case 'SCMP_ACT_LOG': return RET.LOG;
    case 'SCMP_ACT_NOTIFY': return RET.USER_NOTIF;
  }
}

/** The kernel's precedence among actions (seccomp(2)): a lower rank wins. */
export function actionRank(ret: number): number {
  const a = (ret >>> 0) & 0xffff0000;
  const order = [RET.KILL_PROCESS, RET.KILL_THREAD, RET.TRAP, RET.ERRNO, RET.USER_NOTIF, RET.TRACE, RET.LOG, RET.ALLOW];
  const i = order.indexOf(a as (typeof order)[number]);
  return i < 0 ? order.length : i;
}

/** Parse and check `linux.seccomp`; a failure names the field (config.json's wording). */
export function parseProfile(raw: unknown): SeccompProfile {
  const r = SeccompSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new SeccompError(`linux.seccomp${i.path.length ? '.' + i.path.join('.') : ''}: ${plainMessage(i.message)}`);
  }
  return r.data;
}

/**
 * Profile → rules. `flagsSupported` is the kernel's set of filter flags (see probe.ts): a flag
 * it lacks fails here, naming the flag. `native` is the arch this host runs.
 */
export function profileRules(p: SeccompProfile, opts: { native?: SyscallArch; flagsSupported?: number } = {}): Rules {
  const native = opts.native ?? nativeArch();
  const defaultAction = actionValue(p.defaultAction, p.defaultErrnoRet, 'defaultErrnoRet');
  if (p.defaultAction === 'SCMP_ACT_NOTIFY') fail('defaultAction', 'SCMP_ACT_NOTIFY cannot be used as the default action');
  if (p.listenerMetadata !== undefined && p.listenerPath === undefined) fail('listenerMetadata', 'needs listenerPath');
  if (p.listenerPath !== undefined && !p.listenerPath.startsWith('/')) fail('listenerPath', 'must be an absolute path');

  const arches: SyscallArch[] = [native];
  for (const a of p.architectures ?? []) {
    const arch = OCI_ARCHES[a];
    if (arch && !arches.includes(arch)) arches.push(arch);
  }

  let flags = 0;
  // runc and crun ask for SPEC_ALLOW when the profile says nothing about flags.
  const flagNames: string[] = p.flags ?? (opts.flagsSupported === undefined || opts.flagsSupported & FLAGS.SECCOMP_FILTER_FLAG_SPEC_ALLOW ? ['SECCOMP_FILTER_FLAG_SPEC_ALLOW'] : []);
  flagNames.forEach((f, i) => {
    const bit = FLAGS[f as FlagName];
    if (opts.flagsSupported !== undefined && !(opts.flagsSupported & bit)) fail(`flags.${i}`, `${f} is not supported by this kernel`);
    // TSYNC: a filter is loaded by a single-threaded process, so every thread has it anyway.
    if (bit !== FLAGS.SECCOMP_FILTER_FLAG_TSYNC) flags |= bit;
  });

  const syscalls: Rules['syscalls'] = {};
  const highest: Partial<Record<SyscallArch, number>> = {};
  for (const a of arches) syscalls[a] = new Map();
  const known = new Set<string>();
  let notify = false;

  (p.syscalls ?? []).forEach((s, i) => {
    const act = actionValue(s.action, s.errnoRet, `syscalls.${i}.errnoRet`);
    if (s.action === 'SCMP_ACT_NOTIFY') {
      if (s.names.includes('write')) fail(`syscalls.${i}.names`, 'SCMP_ACT_NOTIFY cannot be used for the write syscall');
      if (p.listenerPath === undefined) fail(`syscalls.${i}.action`, 'SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath');
      notify = true;
    }
    const conditions = (s.args ?? []).map((a): Condition => {
      const value = BigInt(a.value);
      const valueTwo = BigInt(a.valueTwo ?? 0);
      return { index: a.index, op: a.op, value, valueTwo };
    });
    // runc: when two conditions test the same argument, each becomes a rule of its own (ORed).
    const sameIndex = new Set(conditions.map((c) => c.index)).size < conditions.length;
    const rules: Rule[] = sameIndex ? conditions.map((c) => ({ action: act, conditions: [c] })) : [{ action: act, conditions }];
    s.names.forEach((name, k) => {
      if (name === '') fail(`syscalls.${i}.names.${k}`, 'empty syscall name');
      for (const a of arches) {
        const nr = table(a).get(name);
        if (nr === undefined) continue;
        known.add(name);
        highest[a] = Math.max(highest[a] ?? -1, nr);
        if (act === defaultAction) continue; // what the default does anyway (runc skips it too)
        const list = syscalls[a]!.get(nr) ?? [];
        list.push(...rules);
        syscalls[a]!.set(nr, list);
      }
    });
  });
  // The strictest matching rule wins, as between stacked filters; an unconditional rule ends the list.
  for (const a of arches) {
    for (const [nr, list] of syscalls[a]!) {
      list.sort((x, y) => actionRank(x.action) - actionRank(y.action));
      const always = list.findIndex((r) => r.conditions.length === 0);
      if (always >= 0) list.length = always + 1;
      syscalls[a]!.set(nr, list);
    }
  }
  if (notify) flags |= FLAG_NEW_LISTENER;
  // The kernel refuses WAIT_KILLABLE_RECV without a listener; it only means something with one.
  if (!notify) flags &= ~FLAGS.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;

  const stub = defaultAction !== RET.ALLOW && defaultAction !== RET.LOG && (defaultAction & 0xffff0000) >>> 0 !== RET.TRACE;
  const enosysAbove: Rules['enosysAbove'] = {};
  if (stub) for (const a of arches) if (highest[a] !== undefined) enosysAbove[a] = highest[a];
  const unknown = [...new Set((p.syscalls ?? []).flatMap((s) => s.names))].filter((n) => !known.has(n));
  return { defaultAction, arches, syscalls, enosysAbove, flags, unknown, notify };
}

