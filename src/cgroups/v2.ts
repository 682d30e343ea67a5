// cgroup v2: one unified directory. Semantics, conversions and write orders follow runc's
// libcontainer/cgroups/fs2 (opencontainers/cgroups fs2/*.go).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import {
  pidsMax, CgroupError, MAX_U64, blkioWeightToIoWeight, cannotApply, cpuSharesToWeight, errnoText, exists, memorySwapToV2,
  parseU64, readKeyValues, readText, readU64, readUint, satU64, tryWrite, writeKnob,
} from './common.js';
import { checkUsage, rdmaLine } from './v1.js';
import { safeReaddir } from './v1-stats.js';
import { emptyStats, type BlkioEntry, type CgroupStats, type LinuxDeviceCgroup, type LinuxResources } from './types.js';
import { deviceProgram } from './devices.js';
import { cgroupBpfPath } from '../paths.js';

const R = 'linux.resources';

/** The v2 controllers a resources object needs enabled in the parents' cgroup.subtree_control. */
export function neededControllers(r: LinuxResources): string[] {
  return [...new Set(controllerFields(r).map(([c]) => c))];
}

/** [controller, the first OCI field that needs it] for each v2 controller `r` needs, in the order their subtree_control writes go. */
export function controllerFields(r: LinuxResources): [string, string][] {
  const need = new Map<string, string>();
  const add = (c: string, field: string) => { if (!need.has(c)) need.set(c, field); };
  const m = r.memory;
  if (m && (m.limit || m.swap || m.reservation)) add('memory', `${R}.memory.${m.limit ? 'limit' : m.swap ? 'swap' : 'reservation'}`);
  const c = r.cpu;
  if (c) {
    const f = (['shares', 'quota', 'period', 'burst', 'idle'] as const).find((k) => (k === 'burst' || k === 'idle' ? c[k] !== undefined : c[k]));
    if (f) add('cpu', `${R}.cpu.${f}`);
    if (c.cpus || c.mems) add('cpuset', `${R}.cpu.${c.cpus ? 'cpus' : 'mems'}`);
  }
  if (r.pids?.limit !== undefined) add('pids', `${R}.pids.limit`);
  const b = r.blockIO;
  if (b) {
    const f = (['weight', 'weightDevice', 'throttleReadBpsDevice', 'throttleWriteBpsDevice', 'throttleReadIOPSDevice', 'throttleWriteIOPSDevice'] as const)
      .find((k) => (k === 'weight' ? b.weight : b[k]?.length));
    if (f) add('io', `${R}.blockIO.${f}`);
  }
  if (r.hugepageLimits?.length) add('hugetlb', `${R}.hugepageLimits`);
  if (r.rdma && Object.keys(r.rdma).length) add('rdma', `${R}.rdma`);
  for (const k of Object.keys(r.unified ?? {})) {
    const ctrl = k.split('.')[0];
    if (ctrl && ctrl !== 'cgroup' && k.includes('.')) add(ctrl, `${R}.unified[${JSON.stringify(k)}]`);
  }
  return [...need];
}

/**
 * Before anything is made: a controller the v2 hierarchy's root does not have (not built into
 * the kernel, or disabled with cgroup_disable=) can never be enabled below it. runc finds out
 * later, once the cgroup exists, in these words ("controller ... not available").
 */
export function checkAvailable(mount: string, r: LinuxResources): void {
  const rootFile = path.join(mount, 'cgroup.controllers');
  const avail = readText(rootFile);
  if (avail === null) return; // not readable: apply says what is missing
  const have = avail.split(/\s+/);
  for (const [ctrl, field] of controllerFields(r)) {
    if (have.includes(ctrl)) continue;
    const what = field.startsWith(`${R}.unified[`) ? `unified resource ${field.slice(`${R}.unified[`.length, -1)} can't be set` : 'cannot apply';
    throw new CgroupError(`${field}: ${what}: controller "${ctrl}" not available (not in ${rootFile}: the kernel has no ${ctrl} controller, or it is disabled)`);
  }
}

/**
 * cpu.rt_runtime_us and cpu.rt_period_us are v1's: cgroup v2 has no realtime group scheduling.
 * runc 1.1 ignores them there without a word; runa refuses a realtime budget it cannot give.
 */
export function noRealtime(key: 'realtimeRuntime' | 'realtimePeriod'): CgroupError {
  return cannotApply(`${R}.cpu.${key}`, `cpu.${key === 'realtimeRuntime' ? 'rt_runtime_us' : 'rt_period_us'} is cgroup v1's: cgroup v2 has no realtime group scheduling`);
}

/** Why a knob of `controller` is missing from `dir`, for the error message. */
export function missingHint(dir: string, controller: string): string {
  const avail = readText(path.join(dir, 'cgroup.controllers'));
  if (avail === null) return `controller "${controller}" not available`;
  if (!avail.split(/\s+/).includes(controller)) return `controller "${controller}" is not enabled for this cgroup: not in ${path.join(dir, 'cgroup.controllers')}`;
  return `controller "${controller}" is enabled but the kernel has no such file`;
}

/** runc's numToStr: 0 = leave alone (""), -1 = "max". */
function numToStr(n: number): string {
  if (n === 0) return '';
  if (n === -1) return 'max';
  return String(n);
}

export function applyV2(dir: string, r: LinuxResources, warnings: string[]): void {
  const knob = (file: string, value: string, field: string, controller: string, hint?: string) =>
    writeKnob(dir, file, value, field, exists(path.join(dir, file)) ? undefined : hint ?? missingHint(dir, controller));

  // pids
  if (r.pids?.limit !== undefined) knob('pids.max', pidsMax(r.pids.limit), `${R}.pids.limit`, 'pids');

  // memory
  const m = r.memory;
  if (m) {
    const F = `${R}.memory`;
    if (m.kernel) warnings.push(`${F}.kernel: ignored (no kernel memory limit on cgroup v2; runc ignores it too)`);
    if (m.kernelTCP) warnings.push(`${F}.kernelTCP: ignored (no kernel TCP memory limit on cgroup v2; runc ignores it too)`);
    if (m.swappiness !== undefined && m.swappiness !== -1) warnings.push(`${F}.swappiness: ignored (cgroup v2 has no per-cgroup swappiness; runc ignores it too)`);
    if (m.disableOOMKiller) warnings.push(`${F}.disableOOMKiller: ignored (cgroup v2 cannot disable the OOM killer; runc ignores it too)`);
    const limit = m.limit ?? 0;
    const swapIn = m.swap ?? 0;
    if (limit || swapIn || m.reservation) {
      if (m.checkBeforeUpdate) checkUsage(F, readUint(path.join(dir, 'memory.current')), limit, swapIn);
      let swap: number;
      try {
        swap = memorySwapToV2(swapIn, limit);
      } catch (e) {
        throw cannotApply(`${F}.swap`, (e as Error).message);
      }
      let swapStr = numToStr(swap);
      if (swapStr === '' && swap === 0 && swapIn > 0) swapStr = '0'; // memory == memory+swap: no swap at all
      if (swapStr !== '') {
        // without swap accounting, "max" and "0" are what the host does anyway (runc ignores them)
        if (exists(path.join(dir, 'memory.swap.max')) || (swapStr !== 'max' && swapStr !== '0')) {
          knob('memory.swap.max', swapStr, `${F}.swap`, 'memory', 'swap accounting disabled?');
        }
      }
      const max = numToStr(limit);
      if (max) knob('memory.max', max, `${F}.limit`, 'memory');
      const low = numToStr(m.reservation ?? 0);
      if (low) knob('memory.low', low, `${F}.reservation`, 'memory');
    }
  }

  // io
  const b = r.blockIO;
  if (b) {
    const F = `${R}.blockIO`;
    // BFQ takes blkio-range weights as they are; otherwise io.weight with runc's conversion
    const bfq = exists(path.join(dir, 'io.bfq.weight'));
    if (b.weight) {
      if (bfq) knob('io.bfq.weight', String(b.weight), `${F}.weight`, 'io');
      else knob('io.weight', String(blkioWeightToIoWeight(b.weight)), `${F}.weight`, 'io');
    }
    if (b.leafWeight) warnings.push(`${F}.leafWeight: ignored (no leaf weights on cgroup v2; runc ignores it too)`);
    for (const [i, wd] of (b.weightDevice ?? []).entries()) {
      if (wd.leafWeight) warnings.push(`${F}.weightDevice[${i}].leafWeight: ignored (no leaf weights on cgroup v2)`);
      if (!wd.weight) continue;
      if (bfq) knob('io.bfq.weight', `${wd.major}:${wd.minor} ${wd.weight}`, `${F}.weightDevice[${i}]`, 'io');
      else warnings.push(`${F}.weightDevice[${i}]: ignored (per-device weights need the BFQ scheduler: no ${path.join(dir, 'io.bfq.weight')}; runc ignores it too)`);
    }
    const throttles: [keyof typeof b, string][] = [
      ['throttleReadBpsDevice', 'rbps'], ['throttleWriteBpsDevice', 'wbps'],
      ['throttleReadIOPSDevice', 'riops'], ['throttleWriteIOPSDevice', 'wiops'],
    ];
    for (const [key, name] of throttles) {
      const list = (b[key] ?? []) as { major: number; minor: number; rate: number }[];
      for (const [i, t] of list.entries()) knob('io.max', `${t.major}:${t.minor} ${name}=${t.rate}`, `${F}.${key}[${i}]`, 'io');
    }
  }

  // cpu
  const c = r.cpu;
  if (c) {
    const F = `${R}.cpu`;
    if (c.realtimePeriod || c.realtimeRuntime) throw noRealtime(c.realtimeRuntime ? 'realtimeRuntime' : 'realtimePeriod');
    if (c.shares) knob('cpu.weight', String(cpuSharesToWeight(c.shares)), `${F}.shares`, 'cpu');
    if (c.idle !== undefined) knob('cpu.idle', String(c.idle), `${F}.idle`, 'cpu');
    let burst = '';
    if (c.burst !== undefined) {
      burst = String(c.burst);
      const file = path.join(dir, 'cpu.max.burst');
      if (!exists(file)) throw cannotApply(`${F}.burst`, `${file} does not exist (${missingHint(dir, 'cpu')})`);
      const err = tryWrite(file, burst);
      if (!err) burst = '';
      else if (err.code !== 'EINVAL' || !c.quota) throw cannotApply(`${F}.burst`, `writing "${burst}" to ${file}: ${errnoText(err)}`);
    }
    if (c.quota || c.period) {
      let quota = c.quota && c.quota > 0 ? String(c.quota) : 'max';
      if (!c.quota) {
        // only the period changes: keep the current quota (runc would reset it to "max")
        const cur = readText(path.join(dir, 'cpu.max'))?.trim().split(/\s+/)[0];
        if (cur && /^(\d+|max)$/.test(cur)) quota = cur;
      }
      knob('cpu.max', c.period ? `${quota} ${c.period}` : quota, c.quota ? `${F}.quota` : `${F}.period`, 'cpu');
      if (burst) knob('cpu.max.burst', burst, `${F}.burst`, 'cpu');
    }
    if (c.cpus) knob('cpuset.cpus', c.cpus, `${F}.cpus`, 'cpuset');
    if (c.mems) knob('cpuset.mems', c.mems, `${F}.mems`, 'cpuset');
  }

  // devices: an eBPF program is the only device control v2 has (none attached = no rules)
  if (r.devices !== undefined) attachDeviceProgram(dir, r.devices);

  // hugetlb
  for (const [i, h] of (r.hugepageLimits ?? []).entries()) {
    const field = `${R}.hugepageLimits[${i}]`;
    const file = `hugetlb.${h.pageSize}.max`;
    const enabled = (readText(path.join(dir, 'cgroup.controllers')) ?? '').split(/\s+/).includes('hugetlb');
    knob(file, String(h.limit), field, 'hugetlb', enabled ? `no ${h.pageSize} huge pages on this host?` : undefined);
    const rsvd = `hugetlb.${h.pageSize}.rsvd.max`;
    if (exists(path.join(dir, rsvd))) knob(rsvd, String(h.limit), field, 'hugetlb');
  }

  // rdma
  for (const [dev, l] of Object.entries(r.rdma ?? {})) knob('rdma.max', rdmaLine(dev, l), `${R}.rdma[${JSON.stringify(dev)}]`, 'rdma');

  // network: net_cls/net_prio do not exist on v2 (runc's fs2 ignores them)
  if (r.network?.classID !== undefined) warnings.push(`${R}.network.classID: ignored (no net_cls controller on cgroup v2)`);
  if (r.network?.priorities?.length) warnings.push(`${R}.network.priorities: ignored (no net_prio controller on cgroup v2)`);

  // unified: last, so it overrides the above (runc's order)
  for (const [k, v] of Object.entries(r.unified ?? {})) {
    const field = `${R}.unified[${JSON.stringify(k)}]`;
    if (k.includes('/') || k === '.' || k === '..' || k === '') throw cannotApply(field, 'must be a file name (no slashes)');
    const dot = k.indexOf('.');
    if (dot <= 0) throw cannotApply(field, 'must be in the form CONTROLLER.PARAMETER');
    const ctrl = k.slice(0, dot);
    if (!exists(path.join(dir, k))) {
      const hint = ctrl === 'cgroup' ? 'no such cgroup core file' : missingHint(dir, ctrl);
      throw cannotApply(field, `${path.join(dir, k)} does not exist (${hint})`);
    }
    // runc's WriteFileByLine: a multi-line value is several writes
    for (const line of v.split('\n')) if (line !== '') knob(k, line, field, ctrl);
  }
}

/**
 * Compile the rules (runc's semantics, see devices.ts) and make the program the cgroup's only
 * device program (native/cgroup-bpf: attached beside the old one, then the old one detached, so
 * an update never leaves the cgroup without rules). Any refusal, the compiler's or the
 * kernel's, is an error: never a cgroup without the device rules asked for.
 */
export function attachDeviceProgram(dir: string, rules: readonly LinuxDeviceCgroup[]): void {
  const F = `${R}.devices`;
  let program: Buffer;
  try {
    program = deviceProgram(rules, F);
  } catch (e) {
    throw new CgroupError((e as Error).message);
  }
  const r = spawnSync(cgroupBpfPath, ['attach', dir], { input: program, encoding: 'utf8' });
  // EPIPE: it refused before reading the program (its stderr says why).
  if (r.error && ((r.error as NodeJS.ErrnoException).code !== 'EPIPE' || r.status === null)) {
    throw cannotApply(F, `running ${cgroupBpfPath}: ${errnoText(r.error)}`);
  }
  if (r.status !== 0) {
    const why = r.stderr.trim().replace(/^cgroup-bpf: /, '') || `${cgroupBpfPath} exited with ${r.status ?? r.signal}`;
    throw cannotApply(F, why);
  }
}

// --- freezer ---

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function frozenEvent(dir: string): string | null {
  const t = readText(path.join(dir, 'cgroup.events'));
  const m = t === null ? null : /^frozen (\d)/m.exec(t);
  return m ? m[1] : null;
}

/** Write 1 to cgroup.freeze, then poll cgroup.events until "frozen 1" (runc: 1000 tries); thaw again on failure. */
export async function freezeV2(dir: string): Promise<void> {
  const file = path.join(dir, 'cgroup.freeze');
  if (!exists(file)) throw new CgroupError(`cgroups: cannot freeze: ${file} does not exist (freezer not supported: kernel older than 5.2?)`);
  const err = tryWrite(file, '1');
  if (err) throw new CgroupError(`cgroups: cannot freeze: writing "1" to ${file}: ${errnoText(err)}`);
  for (let i = 0; i < 1100; i++) {
    const ev = frozenEvent(dir);
    if (ev === '1') return;
    if (ev === null) {
      tryWrite(file, '0');
      throw new CgroupError(`cgroups: cannot freeze: no "frozen" line in ${path.join(dir, 'cgroup.events')}`);
    }
    await (i < 100 ? tick() : pause(10));
  }
  tryWrite(file, '0');
  throw new CgroupError(`cgroups: timed out waiting for ${dir} to freeze (thawed it again)`);
}

export async function thawV2(dir: string): Promise<void> {
  const file = path.join(dir, 'cgroup.freeze');
  if (!exists(file)) return; // runc: nothing to thaw without a freezer
  const err = tryWrite(file, '0');
  if (err) throw new CgroupError(`cgroups: cannot thaw: writing "0" to ${file}: ${errnoText(err)}`);
  const back = readText(file)?.trim();
  if (back !== '0') throw new CgroupError(`cgroups: expected ${file} to read 0 after thawing, got ${JSON.stringify(back)}`);
  await tick();
}

export function freezerStateV2(dir: string | null): 'FROZEN' | 'THAWED' | 'FREEZING' | null {
  if (dir === null) return null;
  const want = readText(path.join(dir, 'cgroup.freeze'))?.trim();
  if (want === undefined) return null;
  if (want === '0') return 'THAWED';
  return frozenEvent(dir) === '1' ? 'FROZEN' : 'FREEZING';
}

// --- stats (runc fs2 Stats) ---

export function statsV2(dir: string): CgroupStats {
  const st = emptyStats();
  const cpu = readKeyValues(path.join(dir, 'cpu.stat'));
  const ns = (usec: bigint | undefined) => satU64((usec ?? 0n) * 1000n);
  st.cpu.usage.total = ns(cpu.usage_usec);
  st.cpu.usage.user = ns(cpu.user_usec);
  st.cpu.usage.kernel = ns(cpu.system_usec);
  st.cpu.throttling = { periods: cpu.nr_periods ?? 0n, throttledPeriods: cpu.nr_throttled ?? 0n, throttledTime: ns(cpu.throttled_usec) };

  st.memory.raw = readKeyValues(path.join(dir, 'memory.stat'));
  st.memory.cache = st.memory.raw.file ?? 0n;
  const usage = readU64(path.join(dir, 'memory.current'));
  if (usage !== null) {
    // "max" is MAX_U64 (runc's GetCgroupParamUint): memory.max "max" → 18446744073709551615
    const limit = readU64(path.join(dir, 'memory.max')) ?? 0n;
    st.memory.usage = { usage, limit, max: readU64(path.join(dir, 'memory.peak')) ?? 0n, failcnt: 0n };
    // v1 compatibility (runc): "swap" is memory+swap; an unlimited swap stays MAX_U64, and a sum
    // past it (a swap limit under an unlimited memory.max, which Go wraps) is MAX_U64 too
    const swapUsage = readU64(path.join(dir, 'memory.swap.current'));
    const swapLimit = readU64(path.join(dir, 'memory.swap.max'));
    st.memory.swap = {
      usage: satU64((swapUsage ?? 0n) + usage),
      limit: swapLimit === null ? 0n : swapLimit === MAX_U64 ? MAX_U64 : satU64(swapLimit + limit),
      max: 0n,
      failcnt: 0n,
    };
  }

  // runc (fs2/pids.go): pids.max "max" is reported as a 0 limit
  const pidsCur = readU64(path.join(dir, 'pids.current'));
  if (pidsCur !== null) {
    const limit = readU64(path.join(dir, 'pids.max')) ?? 0n;
    st.pids = { current: pidsCur, limit: limit === MAX_U64 ? 0n : limit };
  }

  const ioFile = path.join(dir, 'io.stat');
  const ops: Record<string, [BlkioEntry[], string]> = {
    rbytes: [st.blkio.ioServiceBytesRecursive, 'Read'], wbytes: [st.blkio.ioServiceBytesRecursive, 'Write'],
    rios: [st.blkio.ioServicedRecursive, 'Read'], wios: [st.blkio.ioServicedRecursive, 'Write'],
  };
  for (const line of (readText(ioFile) ?? '').split('\n')) {
    const [dev, ...kvs] = line.trim().split(/\s+/);
    if (!dev || !/^\d+:\d+$/.test(dev)) continue;
    const [major, minor] = dev.split(':').map(Number);
    for (const kv of kvs) {
      const [k, v] = kv.split('=');
      const target = ops[k];
      const value = target && v !== undefined ? parseU64(v, ioFile) : null;
      if (target && value !== null) target[0].push({ major, minor, op: target[1], value });
    }
  }

  for (const f of safeReaddir(dir)) {
    const m = /^hugetlb\.([0-9]+[KMGTP]?B)\.current$/.exec(f);
    if (!m) continue;
    st.hugetlb[m[1]] = {
      usage: readU64(path.join(dir, f)) ?? 0n,
      max: 0n,
      failcnt: readKeyValues(path.join(dir, `hugetlb.${m[1]}.events`)).max ?? 0n,
    };
  }
  return st;
}

/** OOM kills so far; 0 when unknown or unreadable (it is polled: it never throws). */
export function oomCountV2(dir: string): number {
  try {
    return Number(readKeyValues(path.join(dir, 'memory.events')).oom_kill ?? 0n);
  } catch {
    return 0;
  }
}
