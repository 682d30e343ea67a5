// cgroup v1: one hierarchy per controller (or co-mounted group). Semantics and write orders
// follow runc's libcontainer/cgroups/fs (opencontainers/cgroups fs/*.go). Its stats are v1-stats.ts's.
import path from 'node:path';
import { emulateDeviceRules } from './devices.js';
import { pidsMax, CgroupError, cannotApply, devNum, errnoText, exists, readText, readUint, tryWrite, writeKnob } from './common.js';
import type { LinuxDeviceCgroup, LinuxResources } from './types.js';
import type { DirOf } from './v1-stats.js';

const R = 'linux.resources';

function need(dirOf: DirOf, controller: string, field: string, file: string): string {
  const dir = dirOf(controller);
  if (dir === undefined) throw cannotApply(field, `${file}: the ${controller} cgroup controller is not mounted (no cgroup v1 hierarchy for it in /proc/self/mountinfo)`);
  return dir;
}

/** runc's ErrV1NoUnified ("invalid configuration: cannot use unified on cgroup v1"), hybrid included. */
export function noUnified(): CgroupError {
  return cannotApply(`${R}.unified`, 'invalid configuration: cannot use unified on cgroup v1 (unified (cgroup v2) resources need a cgroup v2 host; this host uses cgroup v1 controllers)');
}

/** Apply in runc's subsystem order: cpuset, devices, memory, cpu, pids, blkio, hugetlb, net_cls, net_prio, rdma. */
export function applyV1(dirOf: DirOf, r: LinuxResources, warnings: string[]): void {
  if (r.unified && Object.keys(r.unified).length > 0) throw noUnified();
  if (r.cpu?.cpus || r.cpu?.mems) cpusetV1(dirOf, r.cpu);
  if (r.devices !== undefined) devicesV1(need(dirOf, 'devices', `${R}.devices`, 'devices.allow'), r.devices);
  if (r.memory) memoryV1(dirOf, r.memory, warnings);
  if (r.cpu) cpuV1(dirOf, r.cpu);
  if (r.pids?.limit !== undefined) {
    // 0 and negative mean "no limit" (runc writes "max" for PidsLimit < 0; runtime-spec: 0 or -1 unlimited)
    const dir = need(dirOf, 'pids', `${R}.pids.limit`, 'pids.max');
    writeKnob(dir, 'pids.max', pidsMax(r.pids.limit), `${R}.pids.limit`);
  }
  if (r.blockIO) blkioV1(dirOf, r.blockIO);
  for (const [i, h] of (r.hugepageLimits ?? []).entries()) {
    const field = `${R}.hugepageLimits[${i}]`;
    const file = `hugetlb.${h.pageSize}.limit_in_bytes`;
    const dir = need(dirOf, 'hugetlb', field, file);
    writeKnob(dir, file, String(h.limit), field, `no ${h.pageSize} huge pages on this host?`);
    const rsvd = `hugetlb.${h.pageSize}.rsvd.limit_in_bytes`; // runc also sets the reservation limit when the kernel has it
    if (exists(path.join(dir, rsvd))) writeKnob(dir, rsvd, String(h.limit), field);
  }
  if (r.network?.classID !== undefined) {
    const dir = need(dirOf, 'net_cls', `${R}.network.classID`, 'net_cls.classid');
    writeKnob(dir, 'net_cls.classid', String(r.network.classID), `${R}.network.classID`);
  }
  for (const [i, p] of (r.network?.priorities ?? []).entries()) {
    const field = `${R}.network.priorities[${i}]`;
    const dir = need(dirOf, 'net_prio', field, 'net_prio.ifpriomap');
    writeKnob(dir, 'net_prio.ifpriomap', `${p.name} ${p.priority}`, field);
  }
  for (const [dev, l] of Object.entries(r.rdma ?? {})) {
    const field = `${R}.rdma[${JSON.stringify(dev)}]`;
    const dir = need(dirOf, 'rdma', field, 'rdma.max');
    writeKnob(dir, 'rdma.max', rdmaLine(dev, l), field);
  }
}

export function rdmaLine(dev: string, l: { hcaHandles?: number; hcaObjects?: number }): string {
  let s = dev;
  if (l.hcaHandles !== undefined) s += ` hca_handle=${l.hcaHandles}`;
  if (l.hcaObjects !== undefined) s += ` hca_object=${l.hcaObjects}`;
  return s;
}

function cpusetV1(dirOf: DirOf, cpu: NonNullable<LinuxResources['cpu']>): void {
  if (cpu.cpus) writeKnob(need(dirOf, 'cpuset', `${R}.cpu.cpus`, 'cpuset.cpus'), 'cpuset.cpus', cpu.cpus, `${R}.cpu.cpus`);
  if (cpu.mems) writeKnob(need(dirOf, 'cpuset', `${R}.cpu.mems`, 'cpuset.mems'), 'cpuset.mems', cpu.mems, `${R}.cpu.mems`);
}

/**
 * A new v1 cpuset cgroup starts with empty cpus/mems (unless cgroup.clone_children), and joining
 * it then fails with ENOSPC: like runc's ensureParent, fill every empty level from its parent.
 */
export function initCpuset(mount: string, dir: string): void {
  const rel = path.relative(mount, dir);
  if (rel.startsWith('..')) return;
  let cur = mount;
  for (const seg of rel.split('/').filter(Boolean)) {
    const parent = cur;
    cur = path.join(cur, seg);
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      const mine = readText(path.join(cur, f));
      if (mine === null || mine.trim() !== '') continue;
      const theirs = readText(path.join(parent, f))?.trim();
      if (theirs) writeKnob(cur, f, theirs, `cgroups: initializing ${f}`);
    }
  }
}

/** Kernel strings for one OCI device rule (type "a" with specific numbers or access means both b and c). */
export function deviceRuleLines(d: LinuxDeviceCgroup): string[] {
  const access = d.access ?? 'rwm';
  if (access === '') return []; // no access: the rule changes nothing (runc accepts it)
  const type = d.type ?? 'a';
  const maj = devNum(d.major);
  const min = devNum(d.minor);
  if (type === 'a') {
    const full = maj === '*' && min === '*' && ['r', 'w', 'm'].every((c) => access.includes(c));
    if (full) return ['a'];
    return [`c ${maj}:${min} ${access}`, `b ${maj}:${min} ${access}`];
  }
  return [`${type} ${maj}:${min} ${access}`];
}

/**
 * runc semantics: the rule list is applied, in order, to a default-deny state with no exceptions
 * (runc's emulator starts from an empty Emulator). The kernel does exactly that if we first write
 * "a" to devices.deny. Caveats: on a live cgroup (update) the processes briefly see deny-all, and
 * the kernel refuses the "a" reset (EINVAL) while the cgroup has child cgroups.
 */
function devicesV1(dir: string, rules: LinuxDeviceCgroup[]): void {
  // The same rules as on v2, so the same refusals (a hole punched in a wildcard rule).
  try {
    emulateDeviceRules(rules, `${R}.devices`);
  } catch (e) {
    throw new CgroupError((e as Error).message);
  }
  writeKnob(dir, 'devices.deny', 'a', `${R}.devices`);
  for (const [i, d] of rules.entries()) {
    for (const line of deviceRuleLines(d)) writeKnob(dir, d.allow ? 'devices.allow' : 'devices.deny', line, `${R}.devices[${i}]`);
  }
}

function memoryV1(dirOf: DirOf, m: NonNullable<LinuxResources['memory']>, warnings: string[]): void {
  const F = `${R}.memory`;
  const any = m.limit !== undefined || m.swap !== undefined || m.reservation !== undefined || m.disableOOMKiller || (m.swappiness !== undefined && m.swappiness !== -1);
  if (m.kernel) warnings.push(`${F}.kernel: ignored (kernel memory limits are deprecated; runc ignores them too)`);
  if (m.kernelTCP) warnings.push(`${F}.kernelTCP: ignored (runc ignores it too)`);
  // useHierarchy: ignored like runc (the kernel has forced hierarchical accounting since 5.x)
  if (!any) return;
  const dir = need(dirOf, 'memory', F, 'memory.limit_in_bytes');
  const limitFile = path.join(dir, 'memory.limit_in_bytes');
  const swFile = 'memory.memsw.limit_in_bytes';
  let limit = m.limit ?? 0;
  let swap = m.swap ?? 0;
  if (m.checkBeforeUpdate) checkUsage(F, readUint(path.join(dir, 'memory.usage_in_bytes')), limit, swap);
  // unlimited memory with swap unset: unlimited swap too, when swap accounting exists
  if (limit === -1 && swap === 0 && exists(path.join(dir, swFile))) swap = -1;
  const setMem = () => {
    if (limit === 0) return;
    if (!exists(limitFile)) throw cannotApply(`${F}.limit`, `${limitFile} does not exist`);
    const err = tryWrite(limitFile, String(limit));
    if (!err) return;
    if (err.code === 'EBUSY') {
      const usage = readUint(path.join(dir, 'memory.usage_in_bytes'));
      const peak = readUint(path.join(dir, 'memory.max_usage_in_bytes'));
      throw cannotApply(`${F}.limit`, `unable to set memory limit to ${limit} (current usage: ${usage}, peak usage: ${peak})`);
    }
    throw cannotApply(`${F}.limit`, `writing "${limit}" to ${limitFile}: ${errnoText(err)}`);
  };
  const setSwap = () => {
    if (swap === 0) return;
    writeKnob(dir, swFile, String(swap), `${F}.swap`, 'swap accounting disabled?');
  };
  // memsw must stay >= memory at every step: raise swap first when it grows (runc's order)
  const cur = readUint(limitFile) ?? 0;
  if (limit !== 0 && swap !== 0 && (swap === -1 || cur < swap)) {
    setSwap();
    setMem();
  } else {
    setMem();
    setSwap();
  }
  if (m.reservation !== undefined && m.reservation !== 0) writeKnob(dir, 'memory.soft_limit_in_bytes', String(m.reservation), `${F}.reservation`);
  if (m.disableOOMKiller) writeKnob(dir, 'memory.oom_control', '1', `${F}.disableOOMKiller`);
  if (m.swappiness !== undefined && m.swappiness !== -1) {
    if (m.swappiness > 100) throw cannotApply(`${F}.swappiness`, `invalid memory swappiness value: ${m.swappiness} (valid range is 0-100)`);
    writeKnob(dir, 'memory.swappiness', String(m.swappiness), `${F}.swappiness`);
  }
}

export function checkUsage(field: string, usage: number | null, limit: number, swap: number): void {
  if (usage === null) return; // best effort, like runc
  if (swap > 0 && swap <= usage) throw cannotApply(`${field}.swap`, `rejecting memory+swap limit ${swap} <= usage ${usage} (checkBeforeUpdate)`);
  if (limit > 0 && limit <= usage) throw cannotApply(`${field}.limit`, `rejecting memory limit ${limit} <= usage ${usage} (checkBeforeUpdate)`);
}

function cpuV1(dirOf: DirOf, c: NonNullable<LinuxResources['cpu']>): void {
  const F = `${R}.cpu`;
  const touches = c.shares || c.quota || c.period || c.burst !== undefined || c.idle !== undefined || c.realtimePeriod || c.realtimeRuntime;
  if (!touches) return;
  const dir = need(dirOf, 'cpu', F, 'cpu.shares');
  if (c.shares) {
    writeKnob(dir, 'cpu.shares', String(c.shares), `${F}.shares`);
    const got = readUint(path.join(dir, 'cpu.shares'));
    if (got !== null && c.shares > got) throw cannotApply(`${F}.shares`, `the maximum allowed cpu-shares is ${got}`);
    if (got !== null && c.shares < got) throw cannotApply(`${F}.shares`, `the minimum allowed cpu-shares is ${got}`);
  }
  // A smaller period can be refused (EINVAL) before the quota is lowered: retry after the quota.
  let period = '';
  if (c.period) {
    period = String(c.period);
    if (!exists(path.join(dir, 'cpu.cfs_period_us'))) throw cannotApply(`${F}.period`, `${path.join(dir, 'cpu.cfs_period_us')} does not exist (kernel without CONFIG_CFS_BANDWIDTH?)`);
    const err = tryWrite(path.join(dir, 'cpu.cfs_period_us'), period);
    if (!err) period = '';
    else if (err.code !== 'EINVAL' || !c.quota) throw cannotApply(`${F}.period`, `writing "${period}" to ${path.join(dir, 'cpu.cfs_period_us')}: ${errnoText(err)}`);
  }
  let burst = '';
  if (c.burst !== undefined) {
    // runc: ignored when the kernel has no cpu.cfs_burst_us
    const file = path.join(dir, 'cpu.cfs_burst_us');
    if (exists(file)) {
      burst = String(c.burst);
      const err = tryWrite(file, burst);
      if (!err) burst = '';
      else if (err.code !== 'EINVAL' || !c.quota) throw cannotApply(`${F}.burst`, `writing "${burst}" to ${file}: ${errnoText(err)}`);
    }
  }
  if (c.quota) {
    writeKnob(dir, 'cpu.cfs_quota_us', String(c.quota), `${F}.quota`, 'kernel without CONFIG_CFS_BANDWIDTH?');
    if (period) writeKnob(dir, 'cpu.cfs_period_us', period, `${F}.period`);
    if (burst) writeKnob(dir, 'cpu.cfs_burst_us', burst, `${F}.burst`);
  }
  if (c.idle !== undefined) writeKnob(dir, 'cpu.idle', String(c.idle), `${F}.idle`, 'kernel without SCHED_IDLE cgroups?');
  setRtSched(dir, c);
}

/** cpu.rt_period_us and cpu.rt_runtime_us depend on each other: runc's retry order. */
function setRtSched(dir: string, c: NonNullable<LinuxResources['cpu']>): void {
  const F = `${R}.cpu`;
  const hint = 'kernel without CONFIG_RT_GROUP_SCHED?';
  let period = '';
  if (c.realtimePeriod) {
    period = String(c.realtimePeriod);
    const file = path.join(dir, 'cpu.rt_period_us');
    if (!exists(file)) throw cannotApply(`${F}.realtimePeriod`, `${file} does not exist (${hint})`);
    const err = tryWrite(file, period);
    if (!err) period = '';
    else if (err.code !== 'EINVAL' || !c.realtimeRuntime) throw cannotApply(`${F}.realtimePeriod`, `writing "${period}" to ${file}: ${errnoText(err)}`);
  }
  if (c.realtimeRuntime) {
    writeKnob(dir, 'cpu.rt_runtime_us', String(c.realtimeRuntime), `${F}.realtimeRuntime`, hint);
    if (period) writeKnob(dir, 'cpu.rt_period_us', period, `${F}.realtimePeriod`, hint);
  }
}

function blkioV1(dirOf: DirOf, b: NonNullable<LinuxResources['blockIO']>): void {
  const F = `${R}.blockIO`;
  const touches = b.weight || b.leafWeight || b.weightDevice?.length || b.throttleReadBpsDevice?.length || b.throttleWriteBpsDevice?.length
    || b.throttleReadIOPSDevice?.length || b.throttleWriteIOPSDevice?.length;
  if (!touches) return;
  const dir = need(dirOf, 'blkio', F, 'blkio.weight');
  // CFQ has blkio.weight; BFQ (the only proportional scheduler since 5.0) has blkio.bfq.weight.
  const cfq = exists(path.join(dir, 'blkio.weight'));
  const weightFile = cfq ? 'blkio.weight' : 'blkio.bfq.weight';
  const weightDeviceFile = cfq ? 'blkio.weight_device' : 'blkio.bfq.weight_device';
  const hint = 'no CFQ or BFQ I/O scheduler?';
  if (b.weight) writeKnob(dir, weightFile, String(b.weight), `${F}.weight`, hint);
  if (b.leafWeight) writeKnob(dir, 'blkio.leaf_weight', String(b.leafWeight), `${F}.leafWeight`, 'only the CFQ scheduler (removed in Linux 5.0) has leaf weights');
  for (const [i, wd] of (b.weightDevice ?? []).entries()) {
    if (wd.weight) writeKnob(dir, weightDeviceFile, `${wd.major}:${wd.minor} ${wd.weight}`, `${F}.weightDevice[${i}].weight`, hint);
    if (wd.leafWeight) writeKnob(dir, 'blkio.leaf_weight_device', `${wd.major}:${wd.minor} ${wd.leafWeight}`, `${F}.weightDevice[${i}].leafWeight`, 'only the CFQ scheduler (removed in Linux 5.0) has leaf weights');
  }
  const throttles: [keyof typeof b, string][] = [
    ['throttleReadBpsDevice', 'blkio.throttle.read_bps_device'],
    ['throttleWriteBpsDevice', 'blkio.throttle.write_bps_device'],
    ['throttleReadIOPSDevice', 'blkio.throttle.read_iops_device'],
    ['throttleWriteIOPSDevice', 'blkio.throttle.write_iops_device'],
  ];
  for (const [key, file] of throttles) {
    const list = (b[key] ?? []) as { major: number; minor: number; rate: number }[];
    for (const [i, t] of list.entries()) writeKnob(dir, file, `${t.major}:${t.minor} ${t.rate}`, `${F}.${key}[${i}]`, 'kernel without CONFIG_BLK_DEV_THROTTLING?');
  }
}

// --- freezer ---

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * runc's v1 freeze loop: write FROZEN and read back until the state is FROZEN (not FREEZING),
 * yielding between tries; every 50th try thaws and waits 10ms (new processes appearing during a
 * freeze can keep a v1 cgroup FREEZING forever). Gives up after 1000 tries and thaws.
 */
export async function freezeV1(dir: string): Promise<void> {
  const file = path.join(dir, 'freezer.state');
  if (!exists(file)) throw new CgroupError(`cgroups: cannot freeze: ${file} does not exist`);
  for (let i = 0; i < 1000; i++) {
    if (i % 50 === 49) {
      tryWrite(file, 'THAWED');
      await pause(10);
    }
    const err = tryWrite(file, 'FROZEN');
    if (err) throw new CgroupError(`cgroups: cannot freeze: writing "FROZEN" to ${file}: ${errnoText(err)}`);
    if (i % 25 === 24) await pause(1);
    const state = readText(file)?.trim();
    if (state === 'FROZEN') return;
    if (state !== 'FREEZING') {
      tryWrite(file, 'THAWED');
      throw new CgroupError(`cgroups: unexpected freezer state ${JSON.stringify(state)} in ${file} while freezing`);
    }
    await tick();
  }
  tryWrite(file, 'THAWED');
  throw new CgroupError(`cgroups: unable to freeze ${dir}: still FREEZING after 1000 tries (thawed it again)`);
}

export async function thawV1(dir: string): Promise<void> {
  const file = path.join(dir, 'freezer.state');
  if (!exists(file)) return; // nothing can be frozen without a freezer (runc ignores a thaw too)
  for (let i = 0; i < 1000; i++) {
    const err = tryWrite(file, 'THAWED');
    if (err) throw new CgroupError(`cgroups: cannot thaw: writing "THAWED" to ${file}: ${errnoText(err)}`);
    if (readText(file)?.trim() === 'THAWED') return;
    await (i < 100 ? tick() : pause(10));
  }
  throw new CgroupError(`cgroups: unable to thaw ${dir}: freezer.state never read THAWED`);
}

export function freezerStateV1(dir: string | undefined): 'FROZEN' | 'THAWED' | 'FREEZING' | null {
  if (dir === undefined) return null;
  const s = readText(path.join(dir, 'freezer.state'))?.trim();
  return s === 'FROZEN' || s === 'THAWED' || s === 'FREEZING' ? s : null;
}
