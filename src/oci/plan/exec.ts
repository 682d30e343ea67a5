// The plan of a process exec'd into a running container. Pure: the init's user namespace
// and /etc/passwd come from ExecHostFacts (readExecHostFacts).
import { RunaError } from '../../errors.js';
import type { PlanOp } from '../../nsinit/plan.js';
import type { ExecHostFacts } from '../host-facts.js';
import { NS_PROC_NAME } from '../linux.js';
import { affinityOps } from '../process-attrs.js';
import { checkSecurity } from '../security.js';
import { NS_FLAG, type ExecPlanInput } from './common.js';
import {
  cloneInto, deathsigOps, forkOp, homeIn, joinCgroup, joinRdt, listenerOps, pidfdOps, processOps, stdioOps, winsizeOps, hostProcessOps,
} from './process.js';
import { becomeRoot, checkUserMapped } from './userns.js';

/**
 * An exec'd process: join the init's namespaces (pid before the fork, mount in the child).
 * With a user namespace the monitor joins it last (after it, joining a host-owned namespace
 * is refused), and the child becomes its root right after the fork, like the init did.
 */
export function buildExecPlan(input: ExecPlanInput, host: ExecHostFacts): PlanOp[] {
  const ns = (t: string) => `/proc/${input.initPid}/ns/${NS_PROC_NAME[t]}`;
  const userns = input.namespaces.includes('user');
  checkSecurity({ process: input.process }, host.security, 'exec: ');
  const unpriv = Boolean(input.unprivileged);
  if (unpriv && input.process.user.additionalGids?.length) throw new RunaError('invalid_argument', 'cannot set any additional groups in a rootless container');
  if (userns) {
    checkUserMapped(input.process.user, host.maps.uid, host.maps.gid, (f, id) =>
      new RunaError('invalid_argument', `exec: process.user.${f}: ${id} is not mapped in the container's user namespace`));
  }
  // process.execCPUAffinity: the CPUs before the process joins the container's cgroup, and after.
  const initial = affinityOps(input.process.execCPUAffinity?.initial);
  const final = affinityOps(input.process.execCPUAffinity?.final);
  // Born in the cgroup2 directory, unless the initial CPUs must hold until a join after the fork.
  const join = cloneInto(input.cgroupDirs, initial.length > 0);
  const plan: PlanOp[] = [{ op: 'statedir', path: input.execDir }, ...stdioOps(input.console), ...listenerOps(input.seccomp), ...pidfdOps(input.pidfdSocket), ...joinCgroup(input.cgroupDirs?.monitor)];
  // The container's namespaces: before its user namespace (host-owned ones need host root), or
  // rootless after it (they are owned by it, and the monitor has no capabilities outside it).
  // The cgroup namespace is joined by the child once it is in its cgroup: with nsdelegate
  // (cgroup v2), a process in the container's namespace may only move between cgroups below
  // the namespace's root, and it starts in the monitor's. Before a user namespace, in the
  // monitor, only when it was joined by path (it may be owned by the host's user namespace).
  const cgroupInMonitor = userns && !unpriv && Boolean(input.cgroupNsJoined);
  const cgroupNs: PlanOp[] = input.namespaces.includes('cgroup') && !cgroupInMonitor ? [{ op: 'setns', path: ns('cgroup'), nstype: 'cgroup' }] : [];
  const joinOthers = () => {
    for (const t of ['ipc', 'uts', 'network', 'cgroup', 'time', 'pid'] as const) {
      if (t === 'cgroup' && !cgroupInMonitor) continue;
      if (input.namespaces.includes(t)) plan.push({ op: 'setns', path: ns(t), nstype: NS_FLAG[t] as 'ipc' });
    }
  };
  if (!unpriv || !userns) joinOthers();
  if (userns) {
    plan.push(...hostProcessOps(input.process));
    if (input.consoleSocket) plan.push({ op: 'console-connect', socketPath: input.consoleSocket });
    plan.push({ op: 'setns', path: ns('user'), nstype: 'user' });
    if (unpriv) joinOthers();
    plan.push(forkOp(input.supervised, join.cgroup));
    plan.push(...initial, ...joinCgroup(join.writes), ...joinRdt(input.rdtDir), ...final, ...cgroupNs, ...becomeRoot(unpriv && host.setgroupsDenied), ...deathsigOps(input.supervised));
  } else {
    plan.push(forkOp(input.supervised, join.cgroup), ...deathsigOps(input.supervised), ...initial, ...joinCgroup(join.writes), ...joinRdt(input.rdtDir), ...final, ...cgroupNs);
    if (input.consoleSocket) plan.push({ op: 'console-connect', socketPath: input.consoleSocket });
  }
  plan.push({ op: 'setns', path: ns('mount'), nstype: 'mnt' });
  if (input.console === 'socket') plan.push({ op: 'console' });
  if (input.console === 'proxy') plan.push({ op: 'console-proxy' });
  if (input.console) plan.push(...winsizeOps(input.process));
  plan.push(...processOps(input.process, {
    withHostOps: !userns, seccomp: input.seccomp, supervised: input.supervised, unprivileged: unpriv,
    personality: input.personality, memoryPolicy: input.memoryPolicy, exec: true,
    home: () => homeIn(host.passwd, input.process.user.uid), keyring: input.keyring, apparmorExecAttr: host.apparmorExecAttr,
  }));
  return plan;
}
