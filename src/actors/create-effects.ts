// runa's effects for a create's machine, by key (src/machines/create.ts): each step on the
// host, and the undo of the steps done. The machine decides the order and what to undo; these
// only do. What a step found or made is kept here for the steps after it and for undo.
import fs from 'node:fs';
import os from 'node:os';
import type { CreateEffectKey, CreateStep, UndoInput } from '../machines/create.js';
import type { ContainerRecord } from './container-record.js';
import { cgroupDirs } from './container-cgroups.js';
import { hostCgroups } from '../cgroups/host.js';
import { startAttachGrace } from '../cgroups/attach-grace.js';
import { GoferActor, goferAddress } from './gofer-actor.js';
import { seccompLoad, type Spec } from '../oci/spec.js';
import { alreadyExists, RunaError, validateId } from '../errors.js';
import { containerDir } from '../paths.js';
import { claimStateDir, clearIntent, removeStateDir, writeIntent } from '../state.js';
import type { History } from './history.js';
import { userLog } from './user-log.js';
import { sandboxAddress } from './sandbox-actor.js';
import { joinSandbox, sandboxToJoin } from '../oci/sandbox.js';
import { applyNetworkType, refuseForRestore, restoredSpec, sessionKeyring } from '../oci/plan.js';
import { hostTimeNamespaces } from '../oci/host-facts.js';
import { prepareRdt, removeRdt, type RdtGroup } from '../cgroups/resctrl.js';
import type { CreateRequest } from '../bus/messages.js';
import type { CreateReply } from './actor-messages.js';
import { rootlessEuid, runningInUserNs, unprivileged } from '../rootless.js';
import { Cgroup, resolvePath, RUNC_DEFAULT_DEVICE_RULES, type LinuxResources } from '../cgroups/index.js';
import { killPoint } from '../faults.js';
import type { RegistryHost } from './registry-host.js';
import type { z } from 'zod';

/** What a create's effects do, by key (tests swap some of them). */
export type CreateEffects = { [K in CreateStep]: () => unknown } & { undo(input: UndoInput): unknown };
export type { CreateEffectKey };

/** The create's actor, as its effects see it (src/actors/create.ts). */
export interface CreateHost {
  readonly id: string;
  /** its address on the actors' bus: the gofer's work is asked from there */
  readonly address: string;
  readonly history: History;
  /** its gofer, once its state dir is claimed */
  gofer: GoferActor | null;
}

/** The daemon's user, as `list` shows it: looked up once (getpwuid reads /etc/passwd). */
let owner: string | null = null;
const ownerName = (): string => (owner ??= os.userInfo().username);

/** How long a container may stay `creating` before the daemon settles it on its own. */
const CREATING_DEADLINE_MS = 30_000;

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

/** runa's effects for one create. */
export function createEffects(c: CreateHost, r: RegistryHost, req: CreateRequest): CreateEffects {
  const { id } = req;
  const dir = containerDir(r.root, id);
  const from = c.address;
  const to = goferAddress(id);
  // What the steps found and made.
  let bundle = '';
  let rootfs = '';
  let spec: Spec;
  let annotations: Record<string, string> = {};
  let sandboxId: string | null = null;
  let defaultCgroup: string | undefined;
  let console: 'socket' | 'proxy' | null = null;
  let cgroup: Cgroup | null = null;
  let ignored: string[] = [];
  let rdt: RdtGroup | undefined;
  let seccomp: ReturnType<typeof seccompLoad>;
  let plan = '';
  const inUse = () => (cgroup && !cgroup.unused ? cgroup : null);
  /** The Container actor goes (its gofer stops serving; claim's undo has it undo the files). */
  const forget = () => {
    r.containers.get(id)?.discard();
    r.containers.delete(id);
  };

  return {
    /**
     * The state dir is the container's claim on its id, made first and atomically, already
     * marked as a create in progress (intent.json, until its state is written): one a daemon
     * died in is undone by the next (rollBackOrphans), with what the intent recorded by then.
     */
    claim: () => {
      validateId(id);
      if (r.containers.has(id) || fs.existsSync(dir)) throw alreadyExists(id);
      const toUserLog = req.userLog === undefined ? null : userLog(req.userLog);
      claimStateDir(dir, () => alreadyExists(id));
      try {
        killPoint('create:claimed');
        c.gofer = new GoferActor(id, dir, null, { bus: r.actors, watch: r.watch });
        c.history.listener = toUserLog;
      } catch (e) {
        removeStateDir(dir);
        throw e;
      }
    },
    validate: async () => {
      const loaded = await r.actors.request({ type: 'gofer.validate', from, to, bundle: req.bundle });
      ({ bundle, rootfs, spec } = loaded);
      annotations = { ...loaded.spec.annotations, ...req.annotations };
      // A pod's member joins its sandbox's namespaces, and its cgroup nests in the sandbox's.
      sandboxId = sandboxToJoin(annotations);
      if (sandboxId !== null) {
        const sandbox = r.sandboxes.get(sandboxId);
        if (!sandbox) throw new RunaError('not_exist', `sandbox "${sandboxId}" does not exist`);
        sandbox.refuseJoin(id);
        const root = r.get(sandboxId);
        spec = joinSandbox(spec, root.state().pid);
        if (root.record.cgroup) defaultCgroup = `${root.record.cgroup.path}/${id}`;
      } else if (r.sandboxes.has(id)) {
        throw new RunaError('already_exists', `sandbox "${id}" still has containers (${r.sandboxes.get(id)!.members.join(', ')}): delete them first`);
      } else spec = applyNetworkType(spec, req.network); // --network: the sandbox's, which its members join
      if (req.restore) {
        refuseForRestore(spec, Boolean(req.rootless) || rootlessEuid());
        spec = restoredSpec(spec, hostTimeNamespaces());
      }
      console = consoleMode(Boolean(spec.process.terminal), req.consoleSocket, req.foreground ?? false);
    },
    makeCgroups: async () => {
      // Rootless (runc): permission errors leave hierarchies out, unless cgroupsPath names the cgroup.
      const rootless = Boolean(req.rootless) && !spec.linux?.cgroupsPath;
      // Rootless, the default cgroup is runa/<id> below the daemon's own cgroup (beside it on pure v2, as runc's fs2), where one delegated to the user takes it.
      const cgPath = spec.linux?.cgroupsPath || defaultCgroup || (rootless ? `runa/${id}` : undefined);
      const made = setUpCgroup(id, cgPath, spec.linux?.resources, (fresh) => { if (fresh.length) writeIntent(dir, { op: 'create', cgroupDirs: fresh }); }, rootless);
      // linux.intelRdt: its class of service, made (or checked) like its cgroups, before the process exists.
      try {
        rdt = spec.linux?.intelRdt ? prepareRdt(spec.linux.intelRdt, id) : undefined;
      } catch (e) {
        await made.cgroup.destroy().catch(() => undefined); // this step's own part
        throw e;
      }
      ({ cgroup, ignored } = made);
      // After this step's own cgroup writes, which the head start's lock would hold up.
      startAttachGrace(); // nsinit's cgroup join waits less (src/cgroups/attach-grace.ts)
      killPoint('create:cgroups');
    },
    plan: async () => {
      seccomp = seccompLoad(spec, { id, status: 'creating', bundle, annotations });
      const used = inUse();
      plan = await r.actors.request({
        type: 'gofer.prepare', from, to,
        input: {
          spec, overlay: req.overlay ?? false, hostCgroups: hostCgroups().mounts, console, consoleSocket: req.consoleSocket, cgroupDirs: used ? cgroupDirs(used) : undefined,
          seccomp, supervised: req.supervised, keyring: req.noNewKeyring ? null : sessionKeyring(id), pidfdSocket: req.pidfdSocket, rdtDir: rdt?.dir, netRaw: req.netRaw, restore: req.restore, ...(rootlessEuid() ? { unprivileged: unprivileged() } : runningInUserNs() ? { inUserNs: true } : {}),
        },
      });
    },
    /** The Container actor, in `creating`, and its record: its state written, the intent cleared, its sandbox told. */
    register: (): z.infer<typeof CreateReply> => {
      const used = inUse();
      const record: ContainerRecord = {
        id, stateDir: dir, ociVersion: spec.ociVersion, bundle, rootfs, created: new Date().toISOString(),
        owner: ownerName(), annotations,
        ...(used ? { cgroup: { path: used.path, createdDirs: used.createdDirs, ...(used.usedDirs ? { usedDirs: used.usedDirs } : {}) } } : {}),
        supervised: req.supervised,
        ...(req.noNewKeyring ? { noNewKeyring: true } : {}),
        ...(rdt ? { rdt } : {}),
        ...(sandboxId !== null ? { sandbox: sandboxId } : {}),
      };
      killPoint('create:prepared');
      const a = r.add(record, { gofer: c.gofer!, history: c.history, spec });
      // run: nsinit opens the gate itself, right after `created` (`nsinit --start`), when nothing
      // must happen between: no startContainer or poststart hook, no caller reaping the init, no pod.
      const hooks = spec.hooks ?? {};
      a.startsAtOnce = Boolean(req.start) && !req.supervised && sandboxId === null && !hooks.startContainer?.length && !hooks.poststart?.length;
      try {
        a.persist();
        clearIntent(dir);
        if (sandboxId === null) r.newSandbox(id);
        else r.actors.tell({ type: 'member.joined', from: a.address, to: sandboxAddress(sandboxId), id });
      } catch (e) {
        forget(); // this step's own part
        throw e;
      }
      // Settled by the CLI's created/createFailed; the deadline covers a CLI that vanished.
      const deadline = setTimeout(() => void a.settleCreating(), CREATING_DEADLINE_MS);
      deadline.unref();
      a.onLeaveCreating(() => clearTimeout(deadline));
      // runc and crun skip syscall names libseccomp does not know, saying so at debug level.
      const warnings = (seccomp?.filter.unknown ?? []).map((name) => `unknown seccomp syscall ${JSON.stringify(name)} ignored`);
      // runc says so at warning level: the container shares its cgroup with processes already there.
      const others = cgroup!.preExisting ? cgroup!.pids().length : 0;
      const notices = [...ignored, ...(others ? [`container's cgroup is not empty: ${others} process(es) found (${cgroup!.path})`] : [])];
      return { id, stateDir: dir, plan, warnings, notices, startAtOnce: a.startsAtOnce };
    },
    /** Exactly the steps done, the last first: the cgroups before the state dir, which is what tells a next daemon they were there. */
    undo: async ({ steps }) => {
      for (const step of steps) {
        if (step === 'register') {
          forget();
        } else if (step === 'makeCgroups') {
          removeRdt(rdt);
          await cgroup?.destroy().catch(() => undefined);
        } else if (step === 'claim') {
          // The gofer undoes the state dir (plan, config, overlay); should it not answer, the dir goes anyway.
          await r.actors.request({ type: 'gofer.undo', from, to }).catch(() => removeStateDir(dir));
          c.gofer?.stop();
        }
        // validate, plan: nothing of their own (the plan's files are in the state dir)
      }
    },
  };
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
