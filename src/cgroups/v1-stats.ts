// cgroup v1 statistics: runc's `events --stats` data and the OOM count, read from whatever
// files each controller's hierarchy has (runc fs/*.go GetStats).
import fs from 'node:fs';
import path from 'node:path';
import { exists, parseList, parseU64, parseU64List, readKeyValues, readText, readU64, satU64, MAX_U64 } from './common.js';
import { emptyStats, type BlkioEntry, type CgroupStats, type MemoryEntry } from './types.js';

/** controller → this cgroup's directory in that controller's hierarchy (undefined: not mounted). */
export type DirOf = (controller: string) => string | undefined;

const USER_HZ = 100n; // cpuacct.stat is in USER_HZ ticks, 100 on every Linux ABI runc supports
const NS_PER_S = 1_000_000_000n;

function memEntry(dir: string, prefix: string): MemoryEntry {
  const f = (n: string) => readU64(path.join(dir, `${prefix}.${n}`)) ?? 0n;
  return { usage: f('usage_in_bytes'), max: f('max_usage_in_bytes'), failcnt: f('failcnt'), limit: f('limit_in_bytes') };
}

function blkioEntries(file: string): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (readText(file) ?? '').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (!/^\d+:\d+$/.test(f[0]) || (f.length !== 3 && f.length !== 2)) continue;
    const value = parseU64(f[f.length - 1], file);
    if (value === null) continue;
    const [major, minor] = f[0].split(':').map(Number);
    out.push({ major, minor, op: f.length === 3 ? f[1] : '', value });
  }
  return out;
}

export function statsV1(dirOf: DirOf): CgroupStats {
  const st = emptyStats();
  const acct = dirOf('cpuacct');
  if (acct) {
    st.cpu.usage.total = readU64(path.join(acct, 'cpuacct.usage')) ?? 0n;
    const percpu = path.join(acct, 'cpuacct.usage_percpu');
    st.cpu.usage.percpu = parseU64List(readText(percpu), percpu);
    const kv = readKeyValues(path.join(acct, 'cpuacct.stat'));
    st.cpu.usage.user = satU64(((kv.user ?? 0n) * NS_PER_S) / USER_HZ);
    st.cpu.usage.kernel = satU64(((kv.system ?? 0n) * NS_PER_S) / USER_HZ);
    const allFile = path.join(acct, 'cpuacct.usage_all');
    for (const line of (readText(allFile) ?? '').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length !== 3) continue;
      st.cpu.usage.percpu_user.push(parseU64(f[1], allFile) ?? 0n);
      st.cpu.usage.percpu_kernel.push(parseU64(f[2], allFile) ?? 0n);
    }
  }
  const cpu = dirOf('cpu');
  if (cpu) {
    const kv = readKeyValues(path.join(cpu, 'cpu.stat'));
    st.cpu.throttling = { periods: kv.nr_periods ?? 0n, throttledPeriods: kv.nr_throttled ?? 0n, throttledTime: kv.throttled_time ?? 0n };
  }
  const cs = dirOf('cpuset');
  if (cs) {
    const n = (f: string) => readU64(path.join(cs, `cpuset.${f}`)) ?? 0n;
    st.cpuset = {
      cpus: parseList(readText(path.join(cs, 'cpuset.cpus'))), cpu_exclusive: n('cpu_exclusive'),
      mems: parseList(readText(path.join(cs, 'cpuset.mems'))), mem_hardwall: n('mem_hardwall'), mem_exclusive: n('mem_exclusive'),
      memory_migrate: n('memory_migrate'), memory_spread_page: n('memory_spread_page'), memory_spread_slab: n('memory_spread_slab'),
      memory_pressure: n('memory_pressure'), sched_load_balance: n('sched_load_balance'),
      sched_relax_domain_level: Number(readText(path.join(cs, 'cpuset.sched_relax_domain_level'))?.trim() ?? 0) || 0,
    };
  }
  const mem = dirOf('memory');
  if (mem) {
    st.memory.usage = memEntry(mem, 'memory');
    st.memory.swap = memEntry(mem, 'memory.memsw');
    st.memory.kernel = memEntry(mem, 'memory.kmem');
    st.memory.kernelTCP = memEntry(mem, 'memory.kmem.tcp');
    st.memory.raw = readKeyValues(path.join(mem, 'memory.stat'));
    st.memory.cache = st.memory.raw.cache ?? 0n;
  }
  const pids = dirOf('pids');
  if (pids) {
    // runc (fs/pids.go): "max" is reported as a 0 limit ("historically, no limit for pids is 0")
    const limit = readU64(path.join(pids, 'pids.max')) ?? 0n;
    st.pids = { current: readU64(path.join(pids, 'pids.current')) ?? 0n, limit: limit === MAX_U64 ? 0n : limit };
  }
  const blk = dirOf('blkio');
  if (blk) {
    // runc: the CFQ files when present, else BFQ's, else the throttle ones
    const prefix = exists(path.join(blk, 'blkio.io_service_bytes_recursive')) ? 'blkio.'
      : exists(path.join(blk, 'blkio.bfq.io_service_bytes_recursive')) ? 'blkio.bfq.' : 'blkio.throttle.';
    const rd = (f: string) => blkioEntries(path.join(blk, prefix + f));
    st.blkio.ioServiceBytesRecursive = rd('io_service_bytes_recursive');
    st.blkio.ioServicedRecursive = rd('io_serviced_recursive');
    if (prefix === 'blkio.') {
      st.blkio.ioQueueRecursive = rd('io_queued_recursive');
      st.blkio.ioServiceTimeRecursive = rd('io_service_time_recursive');
      st.blkio.ioWaitTimeRecursive = rd('io_wait_time_recursive');
      st.blkio.ioMergedRecursive = rd('io_merged_recursive');
      st.blkio.ioTimeRecursive = rd('time_recursive');
      st.blkio.sectorsRecursive = rd('sectors_recursive');
    }
  }
  const huge = dirOf('hugetlb');
  if (huge) {
    for (const f of safeReaddir(huge)) {
      const m = /^hugetlb\.([0-9]+[KMGTP]?B)\.usage_in_bytes$/.exec(f);
      if (!m) continue;
      const n = (k: string) => readU64(path.join(huge, `hugetlb.${m[1]}.${k}`)) ?? 0n;
      st.hugetlb[m[1]] = { usage: n('usage_in_bytes'), max: n('max_usage_in_bytes'), failcnt: n('failcnt') };
    }
  }
  return st;
}

/** OOM kills so far; 0 when unknown or unreadable (it is polled: it never throws). */
export function oomCountV1(dirOf: DirOf): number {
  const mem = dirOf('memory');
  if (!mem) return 0;
  try {
    return Number(readKeyValues(path.join(mem, 'memory.oom_control')).oom_kill ?? 0n);
  } catch {
    return 0;
  }
}

export function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

