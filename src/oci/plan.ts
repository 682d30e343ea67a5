// From a validated spec to the plan nsinit executes: the planner's parts live in src/oci/plan/
// (pure; the host's facts come from src/oci/host-facts.ts). This module gathers their API.
export { buildPlan } from './plan/create.js';
export { buildExecPlan } from './plan/exec.js';
export { buildRestorePlan, criuRestoreArgs, criuRoot, refuseForRestore, RESTORE_LOG, restoredSpec } from './plan/restore.js';
export type { CgroupDirs, ExecPlanInput, PlanInput, ProcessSpec } from './plan/common.js';
export { parseMountOptions, RECURSIVE_MOUNT_OPTIONS, type MountOptions } from './plan/mount-options.js';
export { homeIn, hostProcessOps, processOps, sessionKeyring, type ProcessOpsOptions } from './plan/process.js';
export { readExecHostFacts, readHostFacts, type ExecHostFacts, type HostFacts } from './host-facts.js';
export { applyNetworkType, parseNetworkType, NETWORK_TYPES, type NetworkType } from './plan/network.js';
