// The registry: containers as separate root actors, keyed by id, and the bus handlers
// that route every request to the right one.
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import type { AnyActor } from 'xstate';
import type { Bus } from '../bus/bus.js';
import { ContainerActor, cgroupDirs, type ContainerRecord } from './container-actor.js';
import { hostCgroups } from '../cgroups/host.js';
import { GoferActor, goferAddress } from './gofer-actor.js';
import { seccompLoad } from '../oci/spec.js';
import { alreadyExists, notExist, RunaError, validateId } from '../errors.js';
import { containerDir, monitorSocket, stateFile } from '../paths.js';
import { claimStateDir, clearIntent, isMarked, listIds, readExit, readIntent, readState, removeStateDir, sweepTrash, isTrash, writeIntent } from '../state.js';
import { Inspection, type Watch, type Watched } from './inspection.js';
import { History, brief } from './history.js';
import { SandboxActor, containerAddress, sandboxAddress } from './sandbox-actor.js';
import { ActorBus } from './actor-bus.js';
import { joinSandbox, sandboxToJoin } from '../oci/sandbox.js';
import { sessionKeyring } from '../oci/plan.js';
import { prepareRdt, removeRdt, type RdtGroup } from '../cgroups/resctrl.js';
import type { Request } from '../bus/messages.js';
import { rootlessEuid, runningInUserNs, unprivileged } from '../rootless.js';
import { Cgroup, CgroupError, LinuxResourcesSchema, resolvePath, RUNC_DEFAULT_DEVICE_RULES, type LinuxResources } from '../cgroups/index.js';
import { describeIssues } from '../bus/messages.js';
import { statsEvent } from '../cgroups/stats-json.js';
import { killPoint } from '../faults.js';

import { containerMachine, goferMachine, processMachine, sandboxMachine } from '../machines/index.js';
import { containerEffectsMachine } from '../machines/container-effects.js';

const MACHINES = [sandboxMachine, containerMachine, containerEffectsMachine, goferMachine, processMachine];

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

/** The daemon's user, as `list` shows it: looked up once (getpwuid reads /etc/passwd). */
let owner: string | null = null;
const ownerName = (): string => (owner ??= os.userInfo().username);

export class Registry {
  private readonly containers = new Map<string, ContainerActor>();
  private readonly sandboxes = new Map<string, SandboxActor>();
  /** The actors' own bus: sandboxes and containers talk over it. */
  readonly actors = new ActorBus();
  readonly inspection: Inspection;
  private readonly watch: Watch;

  constructor(private readonly root: string, private readonly bus: Bus, private readonly onChange: () => void) {
    this.inspection = new Inspection(bus, () => this.liveActors());
    this.watch = (ref, address, parent) => this.inspection.attach({ ref, address, parent });
    // Every message between actors is an event from one to the other, for whoever watches.
    this.actors.watch((ev) => {
      const m = ev.msg;
      if (ev.kind === 'request' || ev.kind === 'tell') {
        if (this.inspection.watching) this.inspection.message(this.refOf(m.from), this.refOf(m.to), m);
        this.remember(m.type, m.from, m.to);
      } else if (this.inspection.watching) {
        this.inspection.busEvent(ev);
      }
    });
    this.routes();
    bus.tap((body, ms, error) => this.inspection.request(body.type, 'id' in body ? body.id : undefined, Math.round(ms * 10) / 10, error?.message ?? null));
  }

  /** A message goes into the history of each container it concerns (a sandbox's: its root's). */
  private remember(type: string, from: string, to: string): void {
    const ids = new Set([from, to].map((a) => a.slice(a.indexOf(':') + 1).split('/')[0]));
    for (const id of ids) (this.containers.get(id)?.history ?? this.creating.get(id)?.history)?.push({ actor: to, kind: 'message', type, from, to });
  }

  /** The machine behind an actor's address, for the inspector. */
  private refOf(address: string) {
    const [kind, ...rest] = address.split(':');
    const id = rest.join(':');
    if (kind === 'sandbox') return this.sandboxes.get(id)?.actor;
    if (kind === 'container') return this.containers.get(id)?.container;
    if (kind === 'gofer') return (this.containers.get(id)?.gofer ?? this.creating.get(id)?.gofer)?.actor;
    if (kind === 'process') {
      const [container, name] = id.split('/');
      return this.containers.get(container)?.processRef(name);
    }
    return undefined;
  }

  /**
   * Every live actor at once, for a viewer that just connected: its address, parent, machine,
   * state and context, and each machine's definition once (instead of a replay of old frames).
   */
  private snapshotAll() {
    // Every machine runa runs, so that a viewer can draw an actor that comes later.
    const definitions: Record<string, unknown> = Object.fromEntries(MACHINES.map((m) => [m.id, m.toJSON()]));
    const actors = this.liveActors().map(({ ref, address, parent }) => {
      const s = ref.getSnapshot() as { value: unknown; context: unknown; status: string };
      const logic = (ref as AnyActor).logic as { id?: string; toJSON?: () => unknown };
      const machine = logic.id ?? 'unknown';
      if (!(machine in definitions) && logic.toJSON) definitions[machine] = logic.toJSON();
      return { address, parent, sessionId: ref.sessionId, machine, value: s.value, context: s.context, status: s.status };
    });
    return { at: Date.now(), actors, definitions };
  }

  /**
   * The daemon's async activity for a container, as `runa debug --stacks` prints it: the
   * client requests being served for it, the actors' messages awaiting an answer, the
   * effects in flight and the child actors still running.
   */
  private activity(c: ContainerActor) {
    const concerns = (address: string) => address.slice(address.indexOf(':') + 1).split('/')[0] === c.id;
    return {
      requests: this.bus.inFlight().filter((r) => r.id === c.id && r.type !== 'container.debug'),
      mailboxes: this.actors.mailboxes(concerns),
      messages: this.actors.awaiting().filter((m) => concerns(m.from) || concerns(m.to)),
      ...c.activity(),
    };
  }

  /** Every live actor with its address and its parent's: sandboxes, then each container's. */
  private liveActors(): Watched[] {
    const out: Watched[] = [...this.sandboxes.values()].map((s) => ({ ref: s.actor, address: sandboxAddress(s.id), parent: null }));
    for (const c of this.containers.values()) {
      const me = containerAddress(c.id);
      out.push({ ref: c.container, address: me, parent: sandboxAddress(c.sandboxId) });
      out.push({ ref: c.gofer.actor, address: goferAddress(c.id), parent: me });
      out.push({ ref: c.effectsActor, address: `effects:${c.id}`, parent: me });
      for (const p of c.debugInfo().processes) {
        const ref = c.processRef(p.address.split('/')[1]);
        if (ref) out.push({ ref, address: p.address, parent: me });
      }
    }
    for (const [id, { gofer }] of this.creating) out.push({ ref: gofer.actor, address: goferAddress(id), parent: containerAddress(id) });
    return out;
  }

  /** Gofers of containers being created (the container actor comes once the gofer has prepared). */
  private readonly creating = new Map<string, { gofer: GoferActor; history: History }>();

  private newSandbox(id: string, opts: { members?: string[]; rootPresent?: boolean } = {}): SandboxActor {
    const sandbox = new SandboxActor(id, {
      bus: this.actors, watch: this.watch, ...opts,
      onRemoved: (sid) => { if (this.sandboxes.get(sid) === sandbox) this.sandboxes.delete(sid); },
    });
    this.sandboxes.set(id, sandbox);
    // The sandbox's changes go into its root's history (a root is added before its sandbox).
    this.containers.get(id)?.track(sandbox.actor, sandboxAddress(id));
    return sandbox;
  }

  /** The containers of a sandbox, root first (or of a lone container, given its id). */
  private podOf(id: string): ContainerActor[] {
    const sandbox = this.sandboxes.get(id);
    if (!sandbox) return [this.get(id)];
    return [id, ...sandbox.members].flatMap((m) => this.containers.get(m) ?? []);
  }

  get size(): number { return this.containers.size; }

  /** What the daemon holds beyond its containers: sandboxes, and mailboxes on the actors' bus (a leak shows here). */
  counts(): { sandboxes: number; mailboxes: number } {
    return { sandboxes: this.sandboxes.size, mailboxes: this.actors.size };
  }

  private get(id: string): ContainerActor {
    const c = this.containers.get(id);
    if (!c) throw notExist();
    return c;
  }

  private add(record: ContainerRecord, extra: Partial<ConstructorParameters<typeof ContainerActor>[1]> = {}): ContainerActor {
    const actor = new ContainerActor(record, {
      bus: this.actors,
      watch: this.watch,
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
      killPoint('create:spawned'); // nsinit is up on the caller's side; the daemon has not heard it yet
      const c = this.get(req.id);
      await c.created(req.monitorPid, req.initPid, req.start);
      if (!req.start) return;
      // run: created and start in one round trip, and one state write (the start's).
      try {
        await c.start();
      } catch (e) {
        if (c.status === 'created') c.persist();
        throw e;
      }
    });
    bus.handle('container.createFailed', (req) => {
      const c = this.get(req.id);
      return c.enqueue(async () => { if (c.status === 'creating') await c.teardown(); });
    });
    bus.handle('container.start', (req) => this.get(req.id).start());
    bus.handle('container.hooks', (req) => this.get(req.id).createHooks(req.kind, req.childPid));
    bus.handle('container.exec', (req) => this.get(req.id).exec(req.process, req.consoleSocket, req.supervised, req.ignorePaused, req.cgroups, req.pidfdSocket));
    bus.handle('exec.started', (req) => this.get(req.id).execStarted(req.execId, req.monitorPid));
    bus.handle('exec.failed', (req) => this.get(req.id).execFailed(req.execId));
    bus.handle('container.kill', (req) => this.get(req.id).kill(req.signal, req.all, req.pid));
    bus.handle('container.delete', (req) => this.get(req.id).delete(req.force));
    bus.handle('container.pause', (req) => this.get(req.id).pause());
    bus.handle('container.checkpoint', (req) => this.get(req.id).checkpoint(req.options));
    bus.handle('container.resume', (req) => this.get(req.id).resume());
    bus.handle('container.update', (req) => {
      const r = LinuxResourcesSchema.safeParse(req.resources);
      if (!r.success) throw new RunaError('invalid_argument', `resources: ${describeIssues(r.error)}`);
      return this.get(req.id).update(r.data);
    });
    bus.handle('container.stats', (req) => statsEvent(req.id, this.get(req.id).stats()));
    bus.handle('container.events', (req, env) => {
      if (!env.session) throw new RunaError('unsupported', 'events need a socket session');
      if (req.sandbox && !this.sandboxes.has(req.id)) throw new RunaError('not_exist', `sandbox "${req.id}" does not exist`);
      if (!req.sandbox) this.get(req.id);
      const topic = req.sandbox ? `events:sandbox:${req.id}` : `events:${req.id}`;
      env.session.subscribe(topic);
      this.watchEvents(req.id, req.interval, req.sandbox ?? false);
      return { topic };
    });
    bus.handle('container.wait', async (req) => ({ id: req.id, exitStatus: await this.get(req.id).wait() }));
    bus.handle('container.state', (req) => this.get(req.id).state());
    bus.handle('container.file', (req) => this.get(req.id).file(req.request));
    bus.handle('container.debug', (req) => {
      const c = this.get(req.id);
      const sandbox = this.sandboxes.get(c.sandboxId);
      return {
        id: c.id,
        sandbox: sandbox ? { id: sandbox.id, value: String(sandbox.actor.getSnapshot().value), status: sandbox.status, members: sandbox.members } : null,
        ...c.debugInfo(),
        events: c.history.last(req.events ?? 0).map(brief),
        ...(req.stacks ? { activity: this.activity(c) } : {}),
      };
    });
    bus.handle('container.history', (req) => ({ id: req.id, events: this.get(req.id).history.last() }));
    bus.handle('inspect.snapshot', () => this.snapshotAll());
    bus.handle('container.list', () => [...this.containers.values()].map((c) => c.state()).sort((a, b) => a.id.localeCompare(b.id)));
    bus.handle('inspect.subscribe', (_req, env) => {
      if (!env.session) throw new RunaError('unsupported', 'inspection needs a socket session');
      env.session.subscribe('inspect');
      return this.inspection.replay();
    });
    bus.handle('inspect.unsubscribe', (_req, env) => env.session?.unsubscribe('inspect'));
  }

  /** Validate everything, then lay out the state dir and the plan; the CLI spawns nsinit. */
  private async create(req: Extract<Request, { type: 'container.create' }>) {
    const { id, annotations } = req;
    const overlay = req.overlay ?? false;
    validateId(id);
    const dir = containerDir(this.root, id);
    if (this.containers.has(id) || fs.existsSync(dir)) throw alreadyExists(id);
    // The state dir is the container's claim on its id, made first and atomically, already
    // marked as a create in progress (intent.json, until its state is written): one a daemon
    // died in is undone by the next (rollBackOrphans), with what the intent recorded by then.
    claimStateDir(dir, () => alreadyExists(id));
    killPoint('create:claimed');
    const from = containerAddress(id);
    const to = goferAddress(id);
    const gofer = new GoferActor(id, dir, null, { bus: this.actors, watch: this.watch });
    const history = new History();
    this.creating.set(id, { gofer, history });
    let cgroup: Cgroup | null = null;
    let rdt: RdtGroup | undefined;
    try {
      const loaded = await this.actors.request({ type: 'gofer.validate', from, to, bundle: req.bundle });
      const { bundle, rootfs } = loaded;
      const allAnnotations = { ...loaded.spec.annotations, ...annotations };
      // A pod's member joins its sandbox's namespaces, and its cgroup nests in the sandbox's.
      const sandboxId = sandboxToJoin(allAnnotations);
      let spec = loaded.spec;
      let defaultCgroup: string | undefined;
      if (sandboxId !== null) {
        const sandbox = this.sandboxes.get(sandboxId);
        if (!sandbox) throw new RunaError('not_exist', `sandbox "${sandboxId}" does not exist`);
        sandbox.refuseJoin(id);
        const root = this.get(sandboxId);
        spec = joinSandbox(spec, root.state().pid);
        if (root.record.cgroup) defaultCgroup = `${root.record.cgroup.path}/${id}`;
      } else if (this.sandboxes.has(id)) {
        throw new RunaError('already_exists', `sandbox "${id}" still has containers (${this.sandboxes.get(id)!.members.join(', ')}): delete them first`);
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
      const plan = await this.actors.request({
        type: 'gofer.prepare', from, to,
        input: {
          spec, overlay, hostCgroups: hostCgroups().mounts, console, consoleSocket: req.consoleSocket, cgroupDirs: inUse ? cgroupDirs(inUse) : undefined,
          seccomp, supervised: req.supervised, keyring: req.noNewKeyring ? null : sessionKeyring(id), pidfdSocket: req.pidfdSocket, rdtDir: rdt?.dir, ...(rootlessEuid() ? { unprivileged: unprivileged() } : runningInUserNs() ? { inUserNs: true } : {}),
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
      const actor = this.add(record, { gofer, history, spec });
      this.creating.delete(id);
      actor.persist();
      clearIntent(dir);
      if (sandboxId === null) this.newSandbox(id);
      else this.actors.tell({ type: 'member.joined', from, to: sandboxAddress(sandboxId), id });
      // Settled by the CLI's created/createFailed; the deadline covers a CLI that vanished.
      const deadline = setTimeout(() => void this.settleCreating(actor), CREATING_DEADLINE_MS);
      deadline.unref();
      actor.onLeaveCreating(() => clearTimeout(deadline));
      // runc and crun skip syscall names libseccomp does not know, saying so at debug level.
      const warnings = (seccomp?.filter.unknown ?? []).map((name) => `unknown seccomp syscall ${JSON.stringify(name)} ignored`);
      // runc says so at warning level: the container shares its cgroup with processes already there.
      const others = cgroup.preExisting ? cgroup.pids().length : 0;
      const notices = [...ignored, ...(others ? [`container's cgroup is not empty: ${others} process(es) found (${cgroup.path})`] : [])];
      return { id, stateDir: dir, plan, warnings, notices };
    } catch (e) {
      await this.actors.request({ type: 'gofer.undo', from, to }).catch(() => undefined);
      gofer.stop();
      this.creating.delete(id);
      this.containers.get(id)?.discard();
      this.containers.delete(id);
      if (cgroup) await cgroup.destroy().catch(() => undefined);
      removeRdt(rdt);
      throw e;
    }
  }

  private readonly watchers = new Map<string, NodeJS.Timeout>();

  /**
   * `events`: stats every interval and an `oom` event as soon as the OOM killer strikes
   * (polled: cgroup v1's eventfd notification needs native code), while anyone listens.
   * For a sandbox (`events --sandbox`), the same for every container in it, each event
   * naming its container; it ends when the last one is gone.
   */
  private watchEvents(id: string, intervalMs: number, sandbox: boolean): string {
    const topic = sandbox ? `events:sandbox:${id}` : `events:${id}`;
    if (this.watchers.has(topic)) return topic;
    const members = (): ContainerActor[] => {
      if (!sandbox) return this.containers.has(id) ? [this.containers.get(id)!] : [];
      return this.sandboxes.has(id) ? this.podOf(id) : [];
    };
    const ooms = new Map(members().map((c) => [c.id, c.oomCount()]));
    let last = 0;
    const tick = () => {
      const pod = members();
      if (!pod.length || !this.bus.hasListeners(topic)) {
        if (!pod.length) this.bus.publish(topic, { type: 'end', id });
        clearInterval(timer);
        this.watchers.delete(topic);
        return;
      }
      const due = Date.now() - last >= intervalMs;
      if (due) last = Date.now();
      for (const c of pod) {
        const now = c.oomCount();
        if (now > (ooms.get(c.id) ?? 0)) this.bus.publish(topic, { type: 'oom', id: c.id });
        ooms.set(c.id, now);
        if (due) {
          try {
            this.bus.publish(topic, statsEvent(c.id, c.stats()));
          } catch (e) {
            // not running: no stats; a counter that cannot be read (one past 2^64−1): runc logs
            // the error and goes on, so the CLI prints this on stderr and the stream goes on
            if (e instanceof CgroupError) this.bus.publish(topic, { type: 'error', id: c.id, message: e.message });
          }
        }
      }
    };
    const timer = setInterval(tick, Math.min(250, intervalMs));
    this.watchers.set(topic, timer);
    setImmediate(tick);
    return topic;
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
        process.stderr.write(`runa: rolled back the create of ${JSON.stringify(actor.id)}: its monitor is gone\n`);
      }
    });
  }

  /** Re-adopt every container from disk and from its monitor (a restarted daemon loses nothing). */
  async adopt(): Promise<void> {
    this.rollBackOrphans();
    const live = listeningSockets();
    for (const id of listIds(this.root)) {
      const dir = containerDir(this.root, id);
      const saved = readState(dir);
      if (!saved || this.containers.has(id)) continue;
      killPoint('daemon:adopting'); // with a container read and not yet adopted
      const record: ContainerRecord = {
        id, stateDir: dir, ociVersion: saved.ociVersion, bundle: saved.bundle, rootfs: saved.rootfs,
        created: saved.created, owner: saved.owner, annotations: saved.annotations, cgroup: saved.cgroup,
        supervised: saved.supervised, ...(saved.sandbox !== undefined ? { sandbox: saved.sandbox } : {}),
        ...(saved.noNewKeyring ? { noNewKeyring: true } : {}),
        ...(saved.rdt ? { rdt: saved.rdt } : {}),
      };
      removeStaleExecs(dir, live);
      const actor = this.add(record, {
        snapshot: saved.snapshot,
        monitor: { pid: saved.monitorPid, startTime: saved.monitorStartTime, initPid: saved.initPid, initStartTime: saved.initStartTime ?? null },
      });
      // A delete a daemon died in the middle of: finished now.
      if (readIntent(dir)?.op === 'delete') {
        await actor.delete(true).catch((e: Error) => process.stderr.write(`runa: finishing the delete of ${JSON.stringify(id)}: ${e.message}\n`));
        process.stderr.write(`runa: finished the delete of ${JSON.stringify(id)} that a daemon left unfinished\n`);
        continue;
      }
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
    this.adoptSandboxes();
  }

  /**
   * Creates a daemon died in the middle of, before the container's state was first written
   * (marked by an intent, never a directory of someone else's under a shared --root):
   * what their intent records is undone (the cgroup directories they made, which hold no
   * process yet: the CLI spawns nsinit only once the create has answered), then their state
   * dir, so that the id can be used again.
   */
  private rollBackOrphans(): void {
    let names: string[] = [];
    sweepTrash(this.root);
    try { names = fs.readdirSync(this.root, { withFileTypes: true }).filter((e) => e.isDirectory() && !isTrash(e.name)).map((e) => e.name); } catch { return; }
    for (const name of names) {
      const dir = path.join(this.root, name);
      if (fs.existsSync(stateFile(dir)) || !isMarked(dir)) continue;
      const intent = readIntent(dir);
      for (const d of intent?.op === 'create' ? [...intent.cgroupDirs].reverse() : []) {
        try { fs.rmdirSync(d); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') process.stderr.write(`runa: rolling back ${name}: rmdir ${d}: ${(e as Error).message}\n`); }
      }
      removeStateDir(dir);
      process.stderr.write(`runa: rolled back the create of ${JSON.stringify(name)} that a daemon left unfinished\n`);
    }
  }

  /**
   * Rebuild every sandbox from its containers' records: its members, and its state replayed
   * from its root's. A sandbox whose root is gone is stopped: its members are stopped too.
   */
  private adoptSandboxes(): void {
    const pods = new Map<string, string[]>();
    for (const c of this.containers.values()) {
      if (!pods.has(c.sandboxId)) pods.set(c.sandboxId, []);
      if (!c.isSandboxRoot) pods.get(c.sandboxId)!.push(c.id);
    }
    for (const [sid, members] of pods) {
      if (this.sandboxes.has(sid)) continue;
      const root = this.containers.get(sid);
      const sandbox = this.newSandbox(sid, { members, rootPresent: root !== undefined });
      const replay: Array<ContainerActor['status']> = !root ? ['deleted'] : root.status === 'paused' ? ['running', 'paused'] : [root.status];
      for (const status of replay) {
        this.actors.tell({ type: 'member.status', from: containerAddress(sid), to: sandboxAddress(sandbox.id), id: sid, status, exitStatus: root?.exitStatus ?? null });
      }
    }
  }
}

/** The unix socket paths something listens on (/proc/net/unix): a live monitor's is there. */
function listeningSockets(): Set<string> {
  const out = new Set<string>();
  let text = '';
  try { text = fs.readFileSync('/proc/net/unix', 'latin1'); } catch { return out; }
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && f[7].startsWith('/')) out.add(f[7]);
  }
  return out;
}

/**
 * The dirs of exec'd processes whose monitor is gone (ended while no daemon ran, or an exec a
 * daemon died in the middle of, whose nsinit the caller killed): nothing will use them again.
 * A live exec'd process keeps its own: its caller waits for it.
 */
function removeStaleExecs(dir: string, live: Set<string>): void {
  const execs = path.join(dir, 'exec');
  let names: string[];
  try { names = fs.readdirSync(execs); } catch { return; }
  for (const n of names) {
    const p = path.join(execs, n);
    if (isTrash(n)) fs.rmSync(p, { recursive: true, force: true });
    else if (!live.has(monitorSocket(p))) removeStateDir(p);
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
