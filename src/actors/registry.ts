// The registry: containers as separate root actors, keyed by id, and the bus handlers
// that route every request to the right one.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { InspectionEvent } from 'xstate';
import type { Bus } from '../bus/bus.js';
import { ContainerActor, cgroupDirs, type ContainerRecord } from './container-actor.js';
import { checkSpecialDirs, hostCgroups, loadBundle, secureJoin } from './gofer.js';
import { buildPlan } from '../oci/plan.js';
import { seccompLoad, stringifySpec } from '../oci/spec.js';
import { encodePlan } from '../nsinit/plan.js';
import { alreadyExists, notExist, RunaError, validateId } from '../errors.js';
import { containerDir, planFile } from '../paths.js';
import { listIds, readExit, readState } from '../state.js';
import { Inspection } from './inspection.js';
import type { Request } from '../bus/messages.js';
import { Cgroup, LinuxResourcesSchema, resolvePath, RUNC_DEFAULT_DEVICE_RULES, type LinuxResources } from '../cgroups/index.js';
import { describeIssues } from '../bus/messages.js';

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

export class Registry {
  private readonly containers = new Map<string, ContainerActor>();
  readonly inspection: Inspection;
  private readonly inspect: (ev: InspectionEvent) => void;

  constructor(private readonly root: string, private readonly bus: Bus, private readonly onChange: () => void) {
    this.inspection = new Inspection(bus, () => [...this.containers.values()].flatMap((c) => c.inspectables()));
    this.inspect = (ev) => this.inspection.forward(ev);
    this.routes();
  }

  get size(): number { return this.containers.size; }

  private get(id: string): ContainerActor {
    const c = this.containers.get(id);
    if (!c) throw notExist();
    return c;
  }

  private add(record: ContainerRecord, extra: Partial<ConstructorParameters<typeof ContainerActor>[1]> = {}): ContainerActor {
    const actor = new ContainerActor(record, {
      inspect: this.inspect,
      onGone: (id) => { this.containers.delete(id); this.onChange(); },
      ...extra,
    });
    this.containers.set(record.id, actor);
    this.onChange();
    return actor;
  }

  private routes(): void {
    const bus = this.bus;
    bus.handle('container.create', (req) => this.create(req));
    bus.handle('container.created', async (req) => {
      const c = this.get(req.id);
      await c.created(req.monitorPid, req.initPid);
      if (req.start) await c.start(); // run: created and start in one round trip
    });
    bus.handle('container.createFailed', (req) => {
      const c = this.get(req.id);
      return c.enqueue(async () => { if (c.status === 'creating') await c.teardown(); });
    });
    bus.handle('container.start', (req) => this.get(req.id).start());
    bus.handle('container.hooks', (req) => this.get(req.id).createHooks(req.kind, req.childPid));
    bus.handle('container.exec', (req) => this.get(req.id).exec(req.process, req.consoleSocket, req.supervised, req.ignorePaused, req.cgroups));
    bus.handle('exec.started', (req) => this.get(req.id).execStarted(req.execId, req.monitorPid));
    bus.handle('exec.failed', (req) => this.get(req.id).execFailed(req.execId));
    bus.handle('container.kill', (req) => this.get(req.id).kill(req.signal, req.all));
    bus.handle('container.delete', (req) => this.get(req.id).delete(req.force));
    bus.handle('container.pause', (req) => this.get(req.id).pause());
    bus.handle('container.checkpoint', (req) => this.get(req.id).checkpoint(req.options));
    bus.handle('container.resume', (req) => this.get(req.id).resume());
    bus.handle('container.update', (req) => {
      const r = LinuxResourcesSchema.safeParse(req.resources);
      if (!r.success) throw new RunaError('invalid_argument', `resources: ${describeIssues(r.error)}`);
      return this.get(req.id).update(r.data);
    });
    bus.handle('container.stats', (req) => ({ type: 'stats', id: req.id, data: this.get(req.id).stats() }));
    bus.handle('container.events', (req, env) => {
      if (!env.session) throw new RunaError('unsupported', 'events need a socket session');
      this.get(req.id);
      env.session.subscribe(`events:${req.id}`);
      this.watchEvents(req.id, req.interval);
      return {};
    });
    bus.handle('container.wait', async (req) => ({ id: req.id, exitStatus: await this.get(req.id).wait() }));
    bus.handle('container.state', (req) => this.get(req.id).state());
    bus.handle('container.list', () => [...this.containers.values()].map((c) => c.state()).sort((a, b) => a.id.localeCompare(b.id)));
    bus.handle('inspect.subscribe', (_req, env) => {
      if (!env.session) throw new RunaError('unsupported', 'inspection needs a socket session');
      env.session.subscribe('inspect');
      return this.inspection.replay();
    });
    bus.handle('inspect.unsubscribe', (_req, env) => env.session?.unsubscribe('inspect'));
  }

  /** Validate everything, then lay out the state dir and the plan; the CLI spawns nsinit. */
  private create(req: Extract<Request, { type: 'container.create' }>) {
    const { id, annotations } = req;
    const overlay = req.overlay ?? false;
    validateId(id);
    const dir = containerDir(this.root, id);
    if (this.containers.has(id) || fs.existsSync(dir)) throw alreadyExists(id);
    const { bundle, spec, rootfs } = loadBundle(req.bundle);
    checkSpecialDirs(rootfs, spec);
    const console = consoleMode(Boolean(spec.process.terminal), req.consoleSocket, req.foreground ?? false);
    try {
      fs.mkdirSync(dir, { mode: 0o711 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw alreadyExists(id);
      throw e;
    }
    let cgroup: Cgroup | null = null;
    try {
      cgroup = setUpCgroup(id, spec.linux?.cgroupsPath, spec.linux?.resources);
      const allAnnotations = { ...spec.annotations, ...annotations };
      const seccomp = seccompLoad(spec, { id, status: 'creating', bundle, annotations: allAnnotations });
      const plan = buildPlan({
        spec, stateDir: dir, rootfs, overlay, resolve: (p) => secureJoin(rootfs, p), hostCgroups: hostCgroups().mounts,
        console, consoleSocket: req.consoleSocket, cgroupDirs: cgroupDirs(cgroup),
        seccomp, supervised: req.supervised,
      });
      if (overlay) fs.mkdirSync(path.join(dir, 'overlay'), { mode: 0o700 });
      fs.writeFileSync(planFile(dir), encodePlan(plan), { mode: 0o600 });
      fs.writeFileSync(path.join(dir, 'config.json'), stringifySpec(spec), { mode: 0o600 });
      const record: ContainerRecord = {
        id, stateDir: dir, ociVersion: spec.ociVersion, bundle, rootfs, created: new Date().toISOString(),
        owner: os.userInfo().username, annotations: allAnnotations,
        cgroup: { path: cgroup.path, createdDirs: cgroup.createdDirs }, supervised: req.supervised,
      };
      const actor = this.add(record);
      actor.persist();
      // Settled by the CLI's created/createFailed; the deadline covers a CLI that vanished.
      const deadline = setTimeout(() => void this.settleCreating(actor), CREATING_DEADLINE_MS);
      deadline.unref();
      actor.onLeaveCreating(() => clearTimeout(deadline));
      // runc and crun skip syscall names libseccomp does not know, saying so at debug level.
      const warnings = (seccomp?.filter.unknown ?? []).map((name) => `unknown seccomp syscall ${JSON.stringify(name)} ignored`);
      // runc says so at warning level: the container shares its cgroup with processes already there.
      const others = cgroup.preExisting ? cgroup.pids().length : 0;
      const notices = others ? [`container's cgroup ${cgroup.path} is not empty: ${others} process(es) found`] : [];
      return { id, stateDir: dir, plan: planFile(dir), warnings, notices };
    } catch (e) {
      fs.rmSync(dir, { recursive: true, force: true });
      this.containers.delete(id);
      return cgroup ? cgroup.destroy().then(() => { throw e; }, () => { throw e; }) : Promise.reject(e);
    }
  }

  private readonly watchers = new Map<string, NodeJS.Timeout>();

  /**
   * `events`: stats every interval and an `oom` event as soon as the OOM killer strikes
   * (polled: cgroup v1's eventfd notification needs native code), while anyone listens.
   */
  private watchEvents(id: string, intervalMs: number): void {
    if (this.watchers.has(id)) return;
    const topic = `events:${id}`;
    let ooms = this.containers.get(id)?.oomCount() ?? 0;
    let last = 0;
    const tick = () => {
      const c = this.containers.get(id);
      if (!c || !this.bus.hasListeners(topic)) {
        if (!c) this.bus.publish(topic, { type: 'end', id });
        clearInterval(timer);
        this.watchers.delete(id);
        return;
      }
      const now = c.oomCount();
      if (now > ooms) this.bus.publish(topic, { type: 'oom', id });
      ooms = now;
      if (Date.now() - last >= intervalMs) {
        last = Date.now();
        try { this.bus.publish(topic, { type: 'stats', id, data: c.stats() }); } catch { /* not running: no stats */ }
      }
    };
    const timer = setInterval(tick, Math.min(250, intervalMs));
    this.watchers.set(id, timer);
    setImmediate(tick);
  }

  /** A create whose CLI vanished: keep it if its monitor is there and waiting, else roll back. */
  private settleCreating(actor: ContainerActor): Promise<void> {
    return actor.enqueue(async () => {
      if (actor.status !== 'creating') return;
      try {
        const state = await actor.attach(null);
        actor.container.send({ type: 'container.created' });
        if (state === 'running') actor.container.send({ type: 'container.start' });
        actor.persist();
      } catch {
        await actor.teardown();
      }
    });
  }

  /** Re-adopt every container from disk and from its monitor (a restarted daemon loses nothing). */
  async adopt(): Promise<void> {
    for (const id of listIds(this.root)) {
      const dir = containerDir(this.root, id);
      const saved = readState(dir);
      if (!saved || this.containers.has(id)) continue;
      const record: ContainerRecord = {
        id, stateDir: dir, ociVersion: saved.ociVersion, bundle: saved.bundle, rootfs: saved.rootfs,
        created: saved.created, owner: saved.owner, annotations: saved.annotations, cgroup: saved.cgroup,
        supervised: saved.supervised,
      };
      const actor = this.add(record, {
        snapshot: saved.snapshot,
        monitor: { pid: saved.monitorPid, startTime: saved.monitorStartTime, initPid: saved.initPid, initStartTime: saved.initStartTime ?? null },
      });
      if (saved.status === 'creating') { await this.settleCreating(actor); continue; }
      if (saved.status === 'stopped') continue;
      const exit = readExit(dir);
      if (exit) { actor.exited(exit.exitStatus); continue; }
      try {
        const state = await actor.attach(saved.monitorPid);
        // The monitor is the truth: a start that happened just before the daemon died.
        if (state === 'running' && actor.status === 'created') { actor.container.send({ type: 'container.start' }); actor.persist(); }
      } catch {
        const late = readExit(dir);
        if (late) actor.exited(late.exitStatus);
        else actor.monitorLost();
      }
    }
  }
}

/** The container's cgroup with its limits applied (runc's default device rules follow the spec's). */
function setUpCgroup(id: string, cgroupsPath: string | undefined, resources: LinuxResources | undefined): Cgroup {
  const cg = Cgroup.open(hostCgroups().layout, resolvePath(cgroupsPath, id), { v2Devices: 'ignore' });
  const r: LinuxResources = { ...resources, devices: [...(resources?.devices ?? []), ...RUNC_DEFAULT_DEVICE_RULES] };
  cg.create(r);
  try {
    // A pre-existing frozen cgroup would freeze the container mid-create: refuse it (runc).
    const frozen = cg.preExisting ? cg.freezerState() : null;
    if (frozen === 'FROZEN' || frozen === 'FREEZING') throw new RunaError('cgroup_frozen', `container's cgroup ${cg.path} is unexpectedly frozen`);
    cg.apply(r);
  } catch (e) {
    void cg.destroy();
    throw e;
  }
  return cg;
}
