// OCI `linux.resources` (runtime-spec config-linux.md) and runc's `events --stats` data shape.
// The zod schema is here for whoever wires resources into config.json validation (src/oci/spec.ts).
import { z } from 'zod';

const int = z.number().int();
const uint = int.min(0);
const deviceNumber = int.min(-1).nullable().optional(); // null/-1/absent mean "all" (*)

export const LinuxDeviceCgroup = z.looseObject({
  allow: z.boolean(),
  type: z.enum(['a', 'c', 'b'], 'device type must be a, c or b').optional(),
  major: deviceNumber,
  minor: deviceNumber,
  access: z.string().regex(/^[rwm]*$/, 'access must be a combination of r, w and m').optional(),
});
const weightDevice = z.looseObject({ major: uint, minor: uint, weight: uint.optional(), leafWeight: uint.optional() });
const throttleDevice = z.looseObject({ major: uint, minor: uint, rate: uint });

export const LinuxResourcesSchema = z.looseObject({
  devices: z.array(LinuxDeviceCgroup).optional(),
  memory: z.looseObject({
    limit: int.optional(),
    reservation: int.optional(),
    swap: int.optional(),
    kernel: int.optional(),
    kernelTCP: int.optional(),
    swappiness: uint.optional(),
    disableOOMKiller: z.boolean().optional(),
    useHierarchy: z.boolean().optional(),
    checkBeforeUpdate: z.boolean().optional(),
  }).optional(),
  cpu: z.looseObject({
    shares: uint.optional(),
    quota: int.optional(),
    burst: uint.optional(),
    period: uint.optional(),
    realtimeRuntime: int.optional(),
    realtimePeriod: uint.optional(),
    cpus: z.string().regex(/^[0-9,\s-]*$/, 'must be a cpu list like 0-3,5').optional(),
    mems: z.string().regex(/^[0-9,\s-]*$/, 'must be a node list like 0-1').optional(),
    idle: int.optional(),
  }).optional(),
  pids: z.looseObject({ limit: int.optional() }).optional(),
  blockIO: z.looseObject({
    weight: uint.optional(),
    leafWeight: uint.optional(),
    weightDevice: z.array(weightDevice).optional(),
    throttleReadBpsDevice: z.array(throttleDevice).optional(),
    throttleWriteBpsDevice: z.array(throttleDevice).optional(),
    throttleReadIOPSDevice: z.array(throttleDevice).optional(),
    throttleWriteIOPSDevice: z.array(throttleDevice).optional(),
  }).optional(),
  hugepageLimits: z.array(z.looseObject({
    pageSize: z.string().regex(/^[0-9]+[KMGTP]?B$/, 'must be a page size like 2MB or 1GB'),
    limit: uint,
  })).optional(),
  network: z.looseObject({
    classID: uint.max(0xffffffff).optional(),
    priorities: z.array(z.looseObject({ name: z.string().regex(/^[^\s/]+$/, 'must be an interface name'), priority: uint })).optional(),
  }).optional(),
  rdma: z.record(z.string().regex(/^[^\s/]+$/, 'must be an RDMA device name'), z.looseObject({ hcaHandles: uint.optional(), hcaObjects: uint.optional() })).optional(),
  unified: z.record(z.string(), z.string()).optional(),
});

export type LinuxDeviceCgroup = z.infer<typeof LinuxDeviceCgroup>;
export type LinuxResources = z.infer<typeof LinuxResourcesSchema>;

/** What `apply`/`update` report besides errors: settings the host (or runc) ignores. */
export interface ApplyResult {
  warnings: string[];
}

// --- stats: runc's types.Stats (runc/types/events.go), the `data` of `runc events --stats` ---
// Every uint64 of runc's is a bigint here (exact past 2^53, never above 2^64−1); small
// things runc types as uint16/int (cpu and node numbers, device numbers) stay numbers.

export interface MemoryEntry { limit: bigint; usage: bigint; max: bigint; failcnt: bigint }
export interface BlkioEntry { major: number; minor: number; op: string; value: bigint }
export interface CgroupStats {
  cpu: {
    usage: { total: bigint; percpu: bigint[]; percpu_kernel: bigint[]; percpu_user: bigint[]; kernel: bigint; user: bigint };
    throttling: { periods: bigint; throttledPeriods: bigint; throttledTime: bigint };
  };
  cpuset: {
    cpus: number[]; cpu_exclusive: bigint; mems: number[]; mem_hardwall: bigint; mem_exclusive: bigint;
    memory_migrate: bigint; memory_spread_page: bigint; memory_spread_slab: bigint; memory_pressure: bigint;
    sched_load_balance: bigint; sched_relax_domain_level: number;
  };
  memory: { cache: bigint; usage: MemoryEntry; swap: MemoryEntry; kernel: MemoryEntry; kernelTCP: MemoryEntry; raw: Record<string, bigint> };
  pids: { current: bigint; limit: bigint };
  blkio: {
    ioServiceBytesRecursive: BlkioEntry[]; ioServicedRecursive: BlkioEntry[]; ioQueueRecursive: BlkioEntry[];
    ioServiceTimeRecursive: BlkioEntry[]; ioWaitTimeRecursive: BlkioEntry[]; ioMergedRecursive: BlkioEntry[];
    ioTimeRecursive: BlkioEntry[]; sectorsRecursive: BlkioEntry[];
  };
  hugetlb: Record<string, { usage: bigint; max: bigint; failcnt: bigint }>;
}

export function emptyStats(): CgroupStats {
  const mem = (): MemoryEntry => ({ limit: 0n, usage: 0n, max: 0n, failcnt: 0n });
  return {
    cpu: {
      usage: { total: 0n, percpu: [], percpu_kernel: [], percpu_user: [], kernel: 0n, user: 0n },
      throttling: { periods: 0n, throttledPeriods: 0n, throttledTime: 0n },
    },
    cpuset: {
      cpus: [], cpu_exclusive: 0n, mems: [], mem_hardwall: 0n, mem_exclusive: 0n, memory_migrate: 0n,
      memory_spread_page: 0n, memory_spread_slab: 0n, memory_pressure: 0n, sched_load_balance: 0n, sched_relax_domain_level: 0,
    },
    memory: { cache: 0n, usage: mem(), swap: mem(), kernel: mem(), kernelTCP: mem(), raw: {} },
    pids: { current: 0n, limit: 0n },
    blkio: {
      ioServiceBytesRecursive: [], ioServicedRecursive: [], ioQueueRecursive: [], ioServiceTimeRecursive: [],
      ioWaitTimeRecursive: [], ioMergedRecursive: [], ioTimeRecursive: [], sectorsRecursive: [],
    },
    hugetlb: {},
  };
}

/**
 * runc's default device rules (libcontainer/specconv AllowedDevices, runc ≥ 1.2): runc appends
 * these after the spec's `linux.resources.devices`. Exported for the caller that builds the
 * rule list; `Cgroup.apply` writes exactly the rules it is given.
 */
export const RUNC_DEFAULT_DEVICE_RULES: readonly LinuxDeviceCgroup[] = [
  { allow: true, type: 'c', major: -1, minor: -1, access: 'm' },
  { allow: true, type: 'b', major: -1, minor: -1, access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // /dev/null
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // /dev/random
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // /dev/full
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // /dev/tty
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // /dev/zero
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // /dev/urandom
  { allow: true, type: 'c', major: 136, minor: -1, access: 'rwm' }, // /dev/pts/*
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // /dev/ptmx
];
