// cgroups for runa: apply OCI linux.resources on cgroup v1, v2 and hybrid hosts (cgroupfs
// driver, no systemd), freeze/thaw, stats and OOM counts in runc's formats.
//
// Typical use:
//   const cg = Cgroup.open(detectCgroups(), resolvePath(spec.linux?.cgroupsPath, id));
//   const { created } = cg.create(resources);      // persist cg.createdDirs with the container
//   const { warnings } = cg.apply(resources);      // throws CgroupError naming field and file
//   cg.join(initPid); ... await cg.freeze(); await cg.thaw(); cg.stats(); cg.oomCount();
//   await cg.destroy();                            // after the processes are dead
//
// Hybrid hosts are driven like runc does: resources go to the v1 controllers; the cgroup2 mount
// only gets the directory and the processes (for tracking), and `unified` is refused.
//
// Errors vs. ignored (warnings), following runc:
//  - error: any requested setting whose controller is not mounted/enabled or whose file is
//    missing (swap without swap accounting, realtime without CONFIG_RT_GROUP_SCHED, leaf weights
//    without CFQ, hugetlb/net_cls/net_prio/rdma not mounted on v1...), a write the kernel
//    refuses, `unified` on v1/hybrid, realtime on v2, device rules
//    the eBPF compiler or the kernel refuses on v2 (devices.ts, native/cgroup-bpf.c).
//  - ignored with a warning: memory.kernel/kernelTCP (v1 and v2); on v2 memory.swappiness,
//    memory.disableOOMKiller, blockIO leafWeight, weightDevice without BFQ, network.*.
//  - ignored silently like runc: memory.useHierarchy; cpu.burst where the kernel has no burst
//    knob (v1); v2 memory.swap.max "max"/"0" without swap accounting; hugetlb rsvd limits where
//    the kernel has none.
export { detectCgroups, resolvePath, parseProcCgroup, type CgroupLayout, type CgroupMode } from './detect.js';
export { Cgroup, CANNOT_FREEZE, type CgroupOptions, type FreezerState } from './cgroup.js';
export { removeCgroup, RETRY_FOR_MS, RETRY_EVERY_MS, type Removable, type RemovalOptions, type Removal } from './removal.js';
export {
  LinuxResourcesSchema, LinuxDeviceCgroup, RUNC_DEFAULT_DEVICE_RULES, emptyStats,
  type LinuxResources, type ApplyResult, type CgroupStats, type MemoryEntry, type BlkioEntry,
} from './types.js';
export { CgroupError, MAX_U64, cpuSharesToWeight, blkioWeightToIoWeight, memorySwapToV2 } from './common.js';
export { deviceRuleLines } from './v1.js';
export { neededControllers } from './v2.js';
export { emulateDeviceRules, compileDeviceProgram, deviceProgram, deviceAllowed, ACC, DEV, type DeviceState } from './devices.js';
export { attachDeviceProgram } from './v2.js';
