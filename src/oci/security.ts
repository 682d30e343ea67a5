// process.apparmorProfile, process.selinuxLabel and linux.mountLabel: applied
// where the host has the feature, refused (runc's words where it has them) where it does not.
import fs from 'node:fs';
import { RunaError } from '../errors.js';
import { resctrlMount } from '../cgroups/resctrl.js';
import type { PlanOp } from '../nsinit/plan.js';

export interface HostSecurity { apparmor: boolean; selinux: boolean; resctrl: boolean }

let cached: HostSecurity | undefined;

/** What this host offers (runc's tests: securityfs for AppArmor, selinuxfs for SELinux, a resctrl mount). */
export function hostSecurity(): HostSecurity {
  if (cached) return cached;
  const read = (f: string) => { try { return fs.readFileSync(f, 'utf8'); } catch { return ''; } };
  cached = {
    apparmor: fs.existsSync('/sys/kernel/security/apparmor') && read('/sys/module/apparmor/parameters/enabled').startsWith('Y'),
    selinux: fs.existsSync('/sys/fs/selinux/enforce'),
    resctrl: resctrlMount() !== null,
  };
  return cached;
}

interface Fields { apparmorProfile?: string; selinuxLabel?: string }

/** Refusals that need no process: checked before anything is created. */
export function checkSecurity(spec: { process?: Fields; linux?: { mountLabel?: string } }, host = hostSecurity(), where = 'config.json: '): void {
  const p = spec.process ?? {};
  if (p.apparmorProfile && !host.apparmor) {
    throw new RunaError('invalid_spec', `${where}process.apparmorProfile: apparmor profile ${JSON.stringify(p.apparmorProfile)} is specified in config, but AppArmor is not enabled on this host`);
  }
  if (p.selinuxLabel && !host.selinux) {
    throw new RunaError('invalid_spec', `${where}process.selinuxLabel: selinux label is specified in config, but selinux is disabled or not supported`);
  }
  if (spec.linux?.mountLabel && !host.selinux) {
    throw new RunaError('invalid_spec', `${where}linux.mountLabel: selinux mount label is specified in config, but selinux is disabled or not supported`);
  }
}

/**
 * The process's LSM labels, taking effect at its exec: AppArmor's change_onexec and SELinux's
 * exec context, written to the process's own attr files (runc does the same). `apparmorExecAttr`:
 * the host has /proc/self/attr/apparmor/exec (HostFacts.apparmorExecAttr).
 */
export function labelOps(p: Fields, apparmorExecAttr: boolean): PlanOp[] {
  const ops: PlanOp[] = [];
  if (p.apparmorProfile) {
    const file = apparmorExecAttr ? '/proc/self/attr/apparmor/exec' : '/proc/self/attr/exec';
    ops.push({ op: 'write', path: file, value: `exec ${p.apparmorProfile}` });
  }
  if (p.selinuxLabel) ops.push({ op: 'write', path: '/proc/self/attr/exec', value: p.selinuxLabel });
  return ops;
}

/** A mount's data with the SELinux mount label (runc labels tmpfs and mqueue mounts so). */
export function withMountLabel(data: string, fstype: string, label: string | undefined): string {
  if (!label || (fstype !== 'tmpfs' && fstype !== 'mqueue')) return data;
  const context = `context="${label}"`;
  return data ? `${data},${context}` : context;
}
