// Create: validate everything (by the container's gofer), make its cgroup, lay out its state
// dir and plan; the CLI then spawns nsinit, and the container actor settles the rest.
import fs from 'node:fs';
import os from 'node:os';
import type { ContainerRecord } from './container-record.js';
import { cgroupDirs } from './container-cgroups.js';
import { hostCgroups } from '../cgroups/host.js';
import { GoferActor, goferAddress } from './gofer-actor.js';
import { seccompLoad } from '../oci/spec.js';
import { alreadyExists, RunaError, validateId } from '../errors.js';
import { containerDir } from '../paths.js';
import { claimStateDir, clearIntent, writeIntent } from '../state.js';
import { History } from './history.js';
import { userLog } from './user-log.js';
import { containerAddress, sandboxAddress } from './sandbox-actor.js';
import { joinSandbox, sandboxToJoin } from '../oci/sandbox.js';
import { refuseForRestore, restoredSpec, sessionKeyring } from '../oci/plan.js';
import { prepareRdt, removeRdt, type RdtGroup } from '../cgroups/resctrl.js';
import type { Request } from '../bus/messages.js';
import { rootlessEuid, runningInUserNs, unprivileged } from '../rootless.js';
import { Cgroup, resolvePath, RUNC_DEFAULT_DEVICE_RULES, type LinuxResources } from '../cgroups/index.js';
import { killPoint } from '../faults.js';
import type { RegistryHost } from './registry-host.js';

/** The daemon's user, as `list` shows it: looked up once (getpwuid reads /etc/passwd). */
let owner: string | null = null;
const ownerName = (): string => (owner ??= os.userInfo().username);

/** runc's rules for process.terminal and --console-socket. */
function consoleMode(terminal: boolean, socket: string | undefined, foreground: boolean): 'socket' | 'proxy' | null {
  if (!terminal) {
    if (socket) throw new RunaError('invalid_argument', 'cannot use console socket if runa will not detach or allocate tty');
    return null;
  }
  if (socket) return 'socket';
  if (foreground) return 'proxy';
  throw new RunaError('invalid_argument', 'cannot allocate tty if runa will detach without setting console socket');
}

/** How long a container may stay `creating` before the daemon settles it on its own. */
const CREATING_DEADLINE_MS = 30_000;

/** Validate everything, then lay out the state dir and the plan; the CLI spawns nsinit. */
export async function create(r: RegistryHost, req: Extract<Request, { type: 'container.create' }>) {
  const { id, annotations } = req;
  const overlay = req.overlay ?? false;
  validateId(id);
  const dir = containerDir(r.root, id);
  if (r.containers.has(id) || fs.existsSync(dir)) throw alreadyExists(id);
  const toUserLog = req.userLog === undefined ? null : userLog(req.userLog);
  // The state dir is the container's claim on its id, made first and atomically, already
  // marked as a create in progress (intent.json, until its state is written): one a daemon
  // died in is undone by the next (rollBackOrphans), with what the intent recorded by then.
  claimStateDir(dir, () => alreadyExists(id));
  killPoint('create:claimed');
  const from = containerAddress(id);
  const to = goferAddress(id);
  const gofer = new GoferActor(id, dir, null, { bus: r.actors, watch: r.watch });
  const history = new History();
  history.listener = toUserLog;
  r.creating.set(id, { gofer, history });
  let cgroup: Cgroup | null = null;
  let rdt: RdtGroup | undefined;
  try {
    const loaded = await r.actors.request({ type: 'gofer.validate', from, to, bundle: req.bundle });
    const { bundle, rootfs } = loaded;
    const allAnnotations = { ...loaded.spec.annotations, ...annotations };
    // A pod's member joins its sandbox's namespaces, and its cgroup nests in the sandbox's.
    const sandboxId = sandboxToJoin(allAnnotations);
    let spec = loaded.spec;
    let defaultCgroup: string | undefined;
    if (sandboxId !== null) {
      const sandbox = r.sandboxes.get(sandboxId);
      if (!sandbox) throw new RunaError('not_exist', `sandbox "${sandboxId}" does not exist`);
      sandbox.refuseJoin(id);
      const root = r.get(sandboxId);
      spec = joinSandbox(spec, root.state().pid);
      if (root.record.cgroup) defaultCgroup = `${root.record.cgroup.path}/${id}`;
    } else if (r.sandboxes.has(id)) {
      throw new RunaError('already_exists', `sandbox "${id}" still has containers (${r.sandboxes.get(id)!.members.join(', ')}): delete them first`);
    }
    if (req.restore) {
      refuseForRestore(spec, Boolean(req.rootless) || rootlessEuid());
      spec = restoredSpec(spec, fs.existsSync('/proc/self/ns/time'));
    }
    const console = consoleMode(Boolean(spec.process.terminal), req.consoleSocket, req.foreground ?? false);
    // Rootless (runc): permission errors leave hierarchies out, unless cgroupsPath names the cgroup.
    const rootlessCgroups = Boolean(req.rootless) && !spec.linux?.cgroupsPath;
    // Rootless, the default cgroup is runa/<id> below the daemon's own cgroup (beside it on pure v2, as runc's fs2), where one delegated to the user takes it.
    const cgPath = spec.linux?.cgroupsPath || defaultCgroup || (rootlessCgroups ? `runa/${id}` : undefined);
    let ignored: string[];
    ({ cgroup, ignored } = setUpCgroup(id, cgPath, spec.linux?.resources, (fresh) => { if (fresh.length) writeIntent(dir, { op: 'create', cgroupDirs: fresh }); }, rootlessCgroups));
    const inUse = cgroup.unused ? null : cgroup;
    // linux.intelRdt: its class of service, made (or checked) like its cgroups, before the process exists.
    rdt = spec.linux?.intelRdt ? prepareRdt(spec.linux.intelRdt, id) : undefined;
    killPoint('create:cgroups');
    const seccomp = seccompLoad(spec, { id, status: 'creating', bundle, annotations: allAnnotations });
    const plan = await r.actors.request({
      type: 'gofer.prepare', from, to,
      input: {
        spec, overlay, hostCgroups: hostCgroups().mounts, console, consoleSocket: req.consoleSocket, cgroupDirs: inUse ? cgroupDirs(inUse) : undefined,
        seccomp, supervised: req.supervised, keyring: req.noNewKeyring ? null : sessionKeyring(id), pidfdSocket: req.pidfdSocket, rdtDir: rdt?.dir, restore: req.restore, ...(rootlessEuid() ? { unprivileged: unprivileged() } : runningInUserNs() ? { inUserNs: true } : {}),
      },
    });
    const record: ContainerRecord = {
      id, stateDir: dir, ociVersion: spec.ociVersion, bundle, rootfs, created: new Date().toISOString(),
      owner: ownerName(), annotations: allAnnotations,
      ...(inUse ? { cgroup: { path: inUse.path, createdDirs: inUse.createdDirs, ...(inUse.usedDirs ? { usedDirs: inUse.usedDirs } : {}) } } : {}),
      supervised: req.supervised,
      ...(req.noNewKeyring ? { noNewKeyring: true } : {}),
      ...(rdt ? { rdt } : {}),
      ...(sandboxId !== null ? { sandbox: sandboxId } : {}),
    };
    killPoint('create:prepared');
    const actor = r.add(record, { gofer, history, spec });
    r.creating.delete(id);
    actor.persist();
    clearIntent(dir);
    if (sandboxId === null) r.newSandbox(id);
    else r.actors.tell({ type: 'member.joined', from, to: sandboxAddress(sandboxId), id });
    // Settled by the CLI's created/createFailed; the deadline covers a CLI that vanished.
    const deadline = setTimeout(() => void actor.settleCreating(), CREATING_DEADLINE_MS);
    deadline.unref();
    actor.onLeaveCreating(() => clearTimeout(deadline));
    // runc and crun skip syscall names libseccomp does not know, saying so at debug level.
    const warnings = (seccomp?.filter.unknown ?? []).map((name) => `unknown seccomp syscall ${JSON.stringify(name)} ignored`);
    // runc says so at warning level: the container shares its cgroup with processes already there.
    const others = cgroup.preExisting ? cgroup.pids().length : 0;
    const notices = [...ignored, ...(others ? [`container's cgroup is not empty: ${others} process(es) found (${cgroup.path})`] : [])];
    return { id, stateDir: dir, plan, warnings, notices };
  } catch (e) {
    await r.actors.request({ type: 'gofer.undo', from, to }).catch(() => undefined);
    gofer.stop();
    r.creating.delete(id);
    r.containers.get(id)?.discard();
    r.containers.delete(id);
    if (cgroup) await cgroup.destroy().catch(() => undefined);
    removeRdt(rdt);
    throw e;
  }
}


/** The container's cgroup with its limits applied (runc's default device rules follow the spec's). */
function setUpCgroup(id: string, cgroupsPath: string | undefined, resources: LinuxResources | undefined, intend: (fresh: string[]) => void, rootless = false): { cgroup: Cgroup; ignored: string[] } {
  const cg = Cgroup.open(hostCgroups().layout, resolvePath(cgroupsPath, id), { rootless });
  // The directories this create will make, recorded before it makes them.
  intend(cg.leafDirs().filter((d) => !fs.existsSync(d)));
  const r: LinuxResources = { ...resources, devices: [...(resources?.devices ?? []), ...RUNC_DEFAULT_DEVICE_RULES] };
  cg.create(r);
  try {
    // A pre-existing frozen cgroup would freeze the container mid-create: refuse it (runc).
    const frozen = cg.preExisting ? cg.freezerState() : null;
    if (frozen === 'FROZEN' || frozen === 'FREEZING') throw new RunaError('cgroup_frozen', `container's cgroup unexpectedly frozen (${cg.path})`);
    // What the host ignores (kernel memory, v2's swappiness…) is said at warning level, as runc does.
    return { cgroup: cg, ignored: cg.apply(r).warnings };
  } catch (e) {
    void cg.destroy();
    throw e;
  }
}
