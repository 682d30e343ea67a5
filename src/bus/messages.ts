// Every message on runa's buses, defined once as a zod schema; types are inferred.
import { z } from 'zod';
import { plainMessage } from '../errors.js';

const id = z.string().min(1).max(1024);
const signal = z.number().int().min(0).max(64);

/** The largest file the gofer reads or writes in one message (the socket's frames are capped at 1 MiB). */
export const FILE_MAX = 512 * 1024;

/** A file operation the gofer serves: `path` is the container's (resolved inside its root, never outside). */
export const FileRequest = z.discriminatedUnion('op', [
  z.object({ op: z.literal('stat'), path: z.string().min(1).max(4096) }),
  z.object({ op: z.literal('read'), path: z.string().min(1).max(4096) }),
  /** data: base64; the file is created (mode, default 0644) or truncated */
  z.object({ op: z.literal('write'), path: z.string().min(1).max(4096), data: z.string().max(Math.ceil(FILE_MAX / 3) * 4), mode: z.number().int().min(0).max(0o7777).optional() }),
]);
export type FileRequest = z.infer<typeof FileRequest>;


/** What `runa exec` may change about the container's process (runc's defaults otherwise). */
export const ExecOverrides = z.object({
  args: z.array(z.string()).optional(),
  env: z.array(z.string()).optional(),
  cwd: z.string().optional(),
  user: z.object({ uid: z.number().int().min(0), gid: z.number().int().min(0).optional() }).optional(),
  additionalGids: z.array(z.number().int().min(0)).optional(),
  caps: z.array(z.string()).optional(),
  noNewPrivileges: z.boolean().optional(),
  terminal: z.boolean().optional(),
  /** --apparmor and --process-label: the exec'd process's own */
  apparmorProfile: z.string().optional(),
  selinuxLabel: z.string().optional(),
  /** a whole process.json, replacing the container's process */
  process: z.unknown().optional(),
});
export type ExecOverrides = z.infer<typeof ExecOverrides>;

/** `checkpoint` as runc takes it. */
export const CheckpointOptions = z.object({
  imagePath: z.string().min(1),
  workPath: z.string().optional(),
  parentPath: z.string().optional(),
  leaveRunning: z.boolean().optional(),
  tcpEstablished: z.boolean().optional(),
  extUnixSk: z.boolean().optional(),
  shellJob: z.boolean().optional(),
  fileLocks: z.boolean().optional(),
  preDump: z.boolean().optional(),
  autoDedup: z.boolean().optional(),
  lazyPages: z.boolean().optional(),
  manageCgroupsMode: z.enum(['soft', 'full', 'strict', 'ignore'], 'invalid manage-cgroups-mode value (soft, full, strict or ignore)').optional(),
  emptyNs: z.array(z.string()).optional(),
});
export type CheckpointOptions = z.infer<typeof CheckpointOptions>;

/** `runa restore`'s options for CRIU, resolved by the CLI (src/oci/plan/restore.ts turns them into its arguments). */
export const RestoreOptions = z.object({
  /** criu's absolute path, as the caller's PATH finds it */
  criu: z.string().min(1).refine((p) => p.startsWith('/'), 'must be absolute'),
  /** the caller's PATH, where CRIU finds its helpers (iptables-restore, ip) */
  path: z.string(),
  imagePath: z.string().min(1).refine((p) => p.startsWith('/'), 'must be absolute'),
  /** CRIU's work dir and its restore.log: the image path unless --work-path */
  workPath: z.string().min(1).refine((p) => p.startsWith('/'), 'must be absolute'),
  tcpEstablished: z.boolean().optional(),
  extUnixSk: z.boolean().optional(),
  shellJob: z.boolean().optional(),
  fileLocks: z.boolean().optional(),
  autoDedup: z.boolean().optional(),
  lazyPages: z.boolean().optional(),
  manageCgroupsMode: z.enum(['soft', 'full', 'strict', 'ignore'], 'invalid manage-cgroups-mode value').optional(),
  /** the checkpointed init's stdio that were pipes (the image's descriptors.json): CRIU gives it the caller's fd instead */
  inheritFds: z.array(z.object({ fd: z.number().int().min(0).max(2), key: z.string().min(1) })).optional(),
});
export type RestoreOptions = z.infer<typeof RestoreOptions>;

// ---- requests a client (CLI, test, tool) sends to the daemon ----
/**
 * The operations on one container, defined once: a client sends each with the container's `id`
 * (`Request`); the daemon's router sends it on to the actor at `container:<id>`, the address
 * standing for the id (src/actors/actor-bus.ts).
 */
export const ContainerOp = {
  created: z.object({
    type: z.literal('container.created'), monitorPid: z.number().int().positive(), initPid: z.number().int().positive(),
    /** start it right away (run, do): one round trip instead of two */
    start: z.boolean().optional(),
  }),
  createFailed: z.object({ type: z.literal('container.createFailed'), message: z.string() }),
  hooks: z.object({
    type: z.literal('container.hooks'), kind: z.enum(['prestart', 'createRuntime', 'createContainer']),
    childPid: z.number().int().positive(), monitorPid: z.number().int().positive(),
  }),
  start: z.object({ type: z.literal('container.start') }),
  exec: z.object({
    type: z.literal('container.exec'), process: ExecOverrides, consoleSocket: z.string().optional(), supervised: z.boolean().optional(),
    /** --pidfd-socket: an AF_UNIX socket that receives a pidfd of the process */
    pidfdSocket: z.string().optional(),
    ignorePaused: z.boolean().optional(),
    /** exec --cgroup: `[controller[,controller…]:]path` under the container's cgroup */
    cgroups: z.array(z.string()).optional(),
  }),
  execStarted: z.object({ type: z.literal('exec.started'), execId: z.string().regex(/^[a-f0-9]{16}$/), monitorPid: z.number().int().positive() }),
  execFailed: z.object({ type: z.literal('exec.failed'), execId: z.string().regex(/^[a-f0-9]{16}$/), message: z.string() }),
  /** `pid`: that process of the container only (a host PID) */
  kill: z.object({ type: z.literal('container.kill'), signal, all: z.boolean().optional(), pid: z.number().int().positive().optional() }),
  delete: z.object({ type: z.literal('container.delete'), force: z.boolean().optional() }),
  wait: z.object({ type: z.literal('container.wait') }),
  /** wait --pid: one process of the container (its init or an exec'd one) by host pid */
  waitPid: z.object({ type: z.literal('container.waitPid'), pid: z.number().int().positive() }),
  pause: z.object({ type: z.literal('container.pause') }),
  checkpoint: z.object({ type: z.literal('container.checkpoint'), options: CheckpointOptions }),
  resume: z.object({ type: z.literal('container.resume') }),
  update: z.object({ type: z.literal('container.update'), resources: z.record(z.string(), z.unknown()) }),
  stats: z.object({ type: z.literal('container.stats') }),
  state: z.object({ type: z.literal('container.state') }),
  /** a file operation on the container's filesystem, served by its gofer */
  file: z.object({ type: z.literal('container.file'), request: FileRequest }),
};

/** `create`: what the CLI asks of the daemon, and the daemon's router of the create's own actor. */
export const CreateRequest = z.object({
  type: z.literal('container.create'),
  id,
  bundle: z.string().min(1),
  /** runsc's --overlay2 MODE:memory: the rootfs ('root'), and every writable bind mount too ('all'), under an in-memory layer */
  overlay: z.enum(['root', 'all']).optional(),
  consoleSocket: z.string().optional(),
  /** the caller stays attached (run without -d): a terminal may be relayed */
  foreground: z.boolean().optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  /** the caller supervises the process (--pid-file): it becomes the caller's child */
  supervised: z.boolean().optional(),
  /** --rootless, resolved: cgroup permission errors are ignored where runc ignores them */
  rootless: z.boolean().optional(),
  /** --no-new-keyring: no session keyring of the container's own */
  noNewKeyring: z.boolean().optional(),
  /** --pidfd-socket: an AF_UNIX socket that receives a pidfd of the init */
  pidfdSocket: z.string().optional(),
  /** --user-log (runsc): the container's user-visible log, Kubernetes JSON lines */
  userLog: z.string().min(1).optional(),
  /** run: a start follows the create at once (the reply says whether nsinit may start the program itself) */
  start: z.boolean().optional(),
  /** runsc's global --network, when given: the container's network namespace (src/oci/plan/network.ts) */
  network: z.enum(['sandbox', 'host', 'none']).optional(),
  /** runsc's global --net-raw, when given: false drops CAP_NET_RAW from the init */
  netRaw: z.boolean().optional(),
  /** runa restore: the container is born running, restored by CRIU from a checkpoint */
  restore: RestoreOptions.optional(),
});
export type CreateRequest = z.infer<typeof CreateRequest>;

export const Request = z.discriminatedUnion('type', [
  /** `gc`: a full garbage collection first, so that the memory it reports is what is live (test/helpers/lives.ts) */
  z.object({ type: z.literal('daemon.ping'), gc: z.boolean().optional() }),
  z.object({ type: z.literal('daemon.shutdown') }),
  /** runa debug --profile-cpu/--profile-heap: the daemon profiles itself for `ms` (cpu) or after `ms` (heap) and writes `file` */
  z.object({ type: z.literal('daemon.profile'), kind: z.enum(['cpu', 'heap']), file: z.string().min(1).max(4096).refine((f) => f.startsWith('/'), 'must be absolute'), ms: z.number().int().min(0).max(3_600_000) }),
  CreateRequest,
  ContainerOp.created.extend({ id }),
  ContainerOp.createFailed.extend({ id }),
  ContainerOp.hooks.extend({ id }),
  ContainerOp.start.extend({ id }),
  ContainerOp.exec.extend({ id }),
  ContainerOp.execStarted.extend({ id }),
  ContainerOp.execFailed.extend({ id }),
  ContainerOp.kill.extend({ id }),
  ContainerOp.delete.extend({ id }),
  ContainerOp.wait.extend({ id }),
  /** `rootNs`: the pid is as the sandbox's root pid namespace shows it (wait --rootpid) */
  ContainerOp.waitPid.extend({ id, rootNs: z.boolean().optional() }),
  ContainerOp.pause.extend({ id }),
  ContainerOp.checkpoint.extend({ id }),
  ContainerOp.resume.extend({ id }),
  ContainerOp.update.extend({ id }),
  ContainerOp.stats.extend({ id }),
  z.object({
    type: z.literal('container.events'), id, interval: z.number().int().min(10).max(86_400_000),
    /** the id is a sandbox's: events of every container in it */
    sandbox: z.boolean().optional(),
  }),
  ContainerOp.state.extend({ id }),
  /** runa debug: the container's actors and their last `events` history entries */
  z.object({ type: z.literal('container.debug'), id, events: z.number().int().min(0).max(256).optional(), stacks: z.boolean().optional() }),
  /** every live actor with its definition, state and context, in one reply */
  z.object({ type: z.literal('inspect.snapshot') }),
  /** a container's recorded history, each transition with its state and context (time travel) */
  z.object({ type: z.literal('container.history'), id }),
  /** runa debug --trace: the daemon writes the container's actors as a Chrome trace to `file`: its history now (ms 0), or what happens for `ms` */
  z.object({ type: z.literal('container.trace'), id, file: z.string().min(1).max(4096).refine((f) => f.startsWith('/'), 'must be absolute'), ms: z.number().int().min(0).max(3_600_000) }),
  ContainerOp.file.extend({ id }),
  z.object({ type: z.literal('container.list') }),
  z.object({ type: z.literal('inspect.subscribe') }),
  /** the native front end: run this command line in the daemon (src/daemon/front-end.ts) */
  z.object({
    type: z.literal('cli.run'), argv: z.array(z.string().max(65536)).max(4096), cwd: z.string().min(1).max(4096).nullable(),
    /** the caller's environment, `K=V` (`do` gives it to the container) */
    env: z.array(z.string().max(131072)).max(4096).optional(),
  }),
  /** the front end's answer to the step it was given (checked in src/daemon/front-end.ts) */
  z.object({ type: z.literal('cli.step'), session: z.string().min(1).max(64), result: z.unknown() }),
  z.object({ type: z.literal('inspect.unsubscribe') }),
]);
export type Request = z.infer<typeof Request>;
export type RequestType = Request['type'];

export const OciState = z.object({
  ociVersion: z.string(),
  id: z.string(),
  status: z.enum(['creating', 'created', 'running', 'paused', 'stopped']),
  pid: z.number().int(),
  bundle: z.string(),
  rootfs: z.string(),
  created: z.string(),
  owner: z.string(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type OciState = z.infer<typeof OciState>;

// ---- `events` data (runc's types.Stats) between daemon and CLI ----
// JSON numbers cannot carry runc's uint64 counters past 2^53 exactly, so on the bus every one is
// its decimal text; the CLI parses that back to a bigint and prints a bare JSON number
// (src/cgroups/stats-json.ts). Keys in the order `runa events` prints them.
const U64_MAX = (1n << 64n) - 1n;
/** An unsigned 64-bit counter as decimal text → bigint. */
export const U64Text = z.string().regex(/^(0|[1-9][0-9]{0,19})$/, 'must be an unsigned decimal integer')
  .transform((s) => BigInt(s)).refine((n) => n <= U64_MAX, 'above 2^64-1');
const memoryEntry = z.object({ limit: U64Text, usage: U64Text, max: U64Text, failcnt: U64Text });
const blkioEntries = z.array(z.object({ major: z.number().int().min(0), minor: z.number().int().min(0), op: z.string(), value: U64Text }));
export const StatsData = z.object({
  cpu: z.object({
    usage: z.object({
      total: U64Text, percpu: z.array(U64Text), percpu_kernel: z.array(U64Text), percpu_user: z.array(U64Text), kernel: U64Text, user: U64Text,
    }),
    throttling: z.object({ periods: U64Text, throttledPeriods: U64Text, throttledTime: U64Text }),
  }),
  cpuset: z.object({
    cpus: z.array(z.number().int().min(0)), cpu_exclusive: U64Text, mems: z.array(z.number().int().min(0)), mem_hardwall: U64Text,
    mem_exclusive: U64Text, memory_migrate: U64Text, memory_spread_page: U64Text, memory_spread_slab: U64Text, memory_pressure: U64Text,
    sched_load_balance: U64Text, sched_relax_domain_level: z.number().int(),
  }),
  memory: z.object({
    cache: U64Text, usage: memoryEntry, swap: memoryEntry, kernel: memoryEntry, kernelTCP: memoryEntry, raw: z.record(z.string(), U64Text),
  }),
  pids: z.object({ current: U64Text, limit: U64Text }),
  blkio: z.object({
    ioServiceBytesRecursive: blkioEntries, ioServicedRecursive: blkioEntries, ioQueueRecursive: blkioEntries,
    ioServiceTimeRecursive: blkioEntries, ioWaitTimeRecursive: blkioEntries, ioMergedRecursive: blkioEntries,
    ioTimeRecursive: blkioEntries, sectorsRecursive: blkioEntries,
  }),
  hugetlb: z.record(z.string(), z.object({ usage: U64Text, max: U64Text, failcnt: U64Text })),
});
/** `{"type":"stats"}`: the reply to container.stats and an `events` topic's stats event. */
export const StatsEvent = z.object({ type: z.literal('stats'), id, data: StatsData });
export type StatsEventWire = z.input<typeof StatsEvent>;

// ---- frames on the wire (ws over the daemon's unix socket) ----
export const ErrorBody = z.object({ code: z.string(), message: z.string() });
export type ErrorBody = z.infer<typeof ErrorBody>;

export const ClientFrame = z.object({ kind: z.literal('request'), cid: z.string().min(1).max(128), body: Request });
export type ClientFrame = z.infer<typeof ClientFrame>;

export const ServerFrame = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('reply'), cid: z.string(), body: z.unknown() }),
  z.object({ kind: z.literal('error'), cid: z.string().nullable(), error: ErrorBody }),
  z.object({ kind: z.literal('event'), topic: z.string(), body: z.unknown() }),
]);
export type ServerFrame = z.infer<typeof ServerFrame>;

// ---- nsinit monitor socket (native/PROTOCOL.md), validated on arrival ----
export const MonitorMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('monitor.hello'), pid: z.number().int().positive(), initPid: z.number().int().positive(), state: z.enum(['created', 'running']), startError: z.string().optional() }),
  z.object({ type: z.literal('process.started') }),
  z.object({ type: z.literal('process.failed'), message: z.string() }),
  z.object({ type: z.literal('monitor.signalled'), signal }),
  /** exitStatus -1: a supervised process, whose status went to the caller that reaped it */
  z.object({ type: z.literal('process.exited'), exitStatus: z.number().int().min(-1).max(255), signal }),
  z.object({ type: z.literal('monitor.error'), message: z.string() }),
]);
export type MonitorMessage = z.infer<typeof MonitorMessage>;

export const ExitRecord = z.object({ exitStatus: z.number().int().min(-1).max(255), signal });
export type ExitRecord = z.infer<typeof ExitRecord>;

/** Short, single-line description of a zod failure naming the offending path. */
export function describeIssues(err: z.ZodError, prefix = ''): string {
  return err.issues
    .slice(0, 3)
    .map((i) => `${prefix}${i.path.length ? i.path.join('.') + ': ' : ''}${plainMessage(i.message)}`)
    .join('; ');
}

