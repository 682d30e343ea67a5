// process.scheduler, process.ioPriority, process.execCPUAffinity, linux.personality and
// domainname: their schemas, runc's checks (libcontainer/configs/validate), and the plan ops
// that apply them (native/process.c).
import { z } from 'zod';
import { RunaError } from '../errors.js';
import type { PlanOp } from '../nsinit/plan.js';

/** SCHED_* policies (linux/sched.h); SCHED_ISO is reserved and not implemented by Linux. */
export const SCHED_POLICIES = {
  SCHED_OTHER: 0, SCHED_FIFO: 1, SCHED_RR: 2, SCHED_BATCH: 3, SCHED_ISO: 4, SCHED_IDLE: 5, SCHED_DEADLINE: 6,
} as const;
export const SCHED_FLAGS = {
  SCHED_FLAG_RESET_ON_FORK: 0x01, SCHED_FLAG_RECLAIM: 0x02, SCHED_FLAG_DL_OVERRUN: 0x04, SCHED_FLAG_KEEP_POLICY: 0x08,
  SCHED_FLAG_KEEP_PARAMS: 0x10, SCHED_FLAG_UTIL_CLAMP_MIN: 0x20, SCHED_FLAG_UTIL_CLAMP_MAX: 0x40,
} as const;
export const IOPRIO_CLASSES = { IOPRIO_CLASS_RT: 1, IOPRIO_CLASS_BE: 2, IOPRIO_CLASS_IDLE: 3 } as const;
/** Execution domains (linux/personality.h) the spec names. */
export const PERSONALITY_DOMAINS = { LINUX: 0x0000, LINUX32: 0x0008 } as const;
/** personality(2) flags, by their kernel names. */
export const PERSONALITY_FLAGS = {
  UNAME26: 0x0020000, ADDR_NO_RANDOMIZE: 0x0040000, FDPIC_FUNCPTRS: 0x0080000, MMAP_PAGE_ZERO: 0x0100000,
  ADDR_COMPAT_LAYOUT: 0x0200000, READ_IMPLIES_EXEC: 0x0400000, ADDR_LIMIT_32BIT: 0x0800000, SHORT_INODE: 0x1000000,
  WHOLE_SECONDS: 0x2000000, STICKY_TIMEOUTS: 0x4000000, ADDR_LIMIT_3GB: 0x8000000,
} as const;

/** MPOL_* modes and mode flags (linux/mempolicy.h). */
export const MPOL_MODES = {
  MPOL_DEFAULT: 0, MPOL_PREFERRED: 1, MPOL_BIND: 2, MPOL_INTERLEAVE: 3, MPOL_LOCAL: 4, MPOL_PREFERRED_MANY: 5, MPOL_WEIGHTED_INTERLEAVE: 6,
} as const;
export const MPOL_FLAGS = { MPOL_F_NUMA_BALANCING: 1 << 13, MPOL_F_RELATIVE_NODES: 1 << 14, MPOL_F_STATIC_NODES: 1 << 15 } as const;

const keys = <T extends object>(o: T) => Object.keys(o) as [keyof T & string, ...Array<keyof T & string>];
const oneOf = <T extends object>(o: T, what: string) =>
  z.enum(keys(o), {
    error: (i) => (i.input === undefined
      ? `missing (expected a ${what}: one of ${Object.keys(o).join(', ')})`
      : `unknown ${what} ${JSON.stringify(i.input)} (one of ${Object.keys(o).join(', ')})`),
  });
const u64 = z.number().int().min(0);

/** A CPU list as cpuset takes it: "0-3,7". */
export const CpuList = z.string().refine((s) => s === '' || parseCpuList(s) !== null, 'must be a CPU list such as "0-3,7"');

export const SchedulerSchema = z.looseObject({
  policy: oneOf(SCHED_POLICIES, 'scheduling policy'),
  nice: z.number().int().optional(),
  priority: z.number().int().min(0).optional(),
  flags: z.array(oneOf(SCHED_FLAGS, 'scheduler flag')).optional(),
  runtime: u64.optional(),
  deadline: u64.optional(),
  period: u64.optional(),
});
export const IoPrioritySchema = z.looseObject({ class: oneOf(IOPRIO_CLASSES, 'I/O priority class'), priority: z.number().int() });
export const ExecCpuAffinitySchema = z.looseObject({ initial: CpuList.optional(), final: CpuList.optional() });
export const PersonalitySchema = z.looseObject({
  domain: oneOf(PERSONALITY_DOMAINS, 'personality domain'),
  flags: z.array(oneOf(PERSONALITY_FLAGS, 'personality flag')).optional(),
});

export const MemoryPolicySchema = z.looseObject({
  mode: oneOf(MPOL_MODES, 'memory policy mode'),
  nodes: z.string().refine((s) => s === '' || parseCpuList(s) !== null, 'must be a NUMA node list such as "0-1,3"').optional(),
  flags: z.array(oneOf(MPOL_FLAGS, 'memory policy flag')).optional(),
});

type Scheduler = z.infer<typeof SchedulerSchema>;
type IoPriority = z.infer<typeof IoPrioritySchema>;
type Personality = z.infer<typeof PersonalitySchema>;

/** "0-3,7" → [0, 1, 2, 3, 7]; null when malformed (a range backwards, a number too large). */
export function parseCpuList(s: string): number[] | null {
  const out = new Set<number>();
  for (const part of s.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return null;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b >= 8192) return null; // the kernel's CONFIG_NR_CPUS at most
    for (let i = a; i <= b; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}

const refuse = (field: string, msg: string) => new RunaError('invalid_spec', `${field}: ${msg}`);

/** runc's checks of process.scheduler (its words), then the op. */
export function schedulerOp(s: Scheduler, field: string): PlanOp {
  const nice = s.nice ?? 0;
  if (nice < -20 || nice > 19) throw refuse(`${field}.nice`, `invalid scheduler.nice: ${nice}`);
  if (s.policy === 'SCHED_ISO') throw refuse(`${field}.policy`, 'SCHED_ISO is not implemented by Linux');
  const priority = s.priority ?? 0;
  if (priority !== 0 && s.policy !== 'SCHED_FIFO' && s.policy !== 'SCHED_RR') {
    throw refuse(`${field}.priority`, 'scheduler.priority can only be specified for SchedFIFO or SchedRR policy');
  }
  if ((s.policy === 'SCHED_FIFO' || s.policy === 'SCHED_RR') && (priority < 1 || priority > 99)) {
    throw refuse(`${field}.priority`, `must be 1 to 99 for ${s.policy}, not ${priority}`);
  }
  const dl = [s.runtime ?? 0, s.deadline ?? 0, s.period ?? 0];
  if (s.policy !== 'SCHED_DEADLINE' && dl.some((v) => v !== 0)) {
    throw refuse(field, 'scheduler runtime/deadline/period can only be specified for SchedDeadline policy');
  }
  let flags = 0;
  for (const f of s.flags ?? []) flags |= SCHED_FLAGS[f];
  return { op: 'sched', policy: SCHED_POLICIES[s.policy], flags, nice, priority, runtime: dl[0], deadline: dl[1], period: dl[2] };
}

/** runc's check of process.ioPriority (levels 0 to 7), then the op. */
export function ioPriorityOp(p: IoPriority, field: string): PlanOp {
  if (p.priority < 0 || p.priority > 7) throw refuse(`${field}.priority`, `invalid ioPriority.Priority: ${p.priority} (0 to 7)`);
  return { op: 'ioprio', value: (IOPRIO_CLASSES[p.class] << 13) | p.priority };
}

export function personalityOp(p: Personality): PlanOp {
  let value: number = PERSONALITY_DOMAINS[p.domain];
  for (const f of p.flags ?? []) value |= PERSONALITY_FLAGS[f];
  return { op: 'personality', value };
}

/** An affinity op for a CPU list, or none when it is absent or empty (the kernel decides, as the spec says). */
export function affinityOps(list: string | undefined): PlanOp[] {
  const cpus = list ? parseCpuList(list) : null;
  return cpus && cpus.length ? [{ op: 'affinity', cpus }] : [];
}

/**
 * linux.memoryPolicy as set_mempolicy(2) takes it, with runc's rules for the node list: none for
 * MPOL_DEFAULT and MPOL_LOCAL, some for the modes that choose among nodes; nodes the host has
 * not are the kernel's to refuse (EINVAL).
 */
export function memoryPolicyOp(p: z.infer<typeof MemoryPolicySchema>, field: string): PlanOp {
  const nodes = p.nodes ? parseCpuList(p.nodes) ?? [] : [];
  if ((p.mode === 'MPOL_DEFAULT' || p.mode === 'MPOL_LOCAL') && nodes.length) {
    throw refuse(`${field}.nodes`, `must be empty for ${p.mode}`);
  }
  if ((p.mode === 'MPOL_BIND' || p.mode === 'MPOL_INTERLEAVE' || p.mode === 'MPOL_PREFERRED_MANY' || p.mode === 'MPOL_WEIGHTED_INTERLEAVE') && !nodes.length) {
    throw refuse(`${field}.nodes`, `${p.mode} needs at least one node`);
  }
  let mode: number = MPOL_MODES[p.mode];
  for (const f of p.flags ?? []) mode |= MPOL_FLAGS[f];
  return { op: 'mempolicy', mode, nodes };
}
