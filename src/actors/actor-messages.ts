// Everything the actors say to each other, defined once in zod: each message (`ActorMessage`,
// addressed `sandbox:ID`, `container:ID`, `gofer:ID`, `process:ID/NAME`; the daemon's router
// sends from `daemon:router`) and each reply (`ActorReplies`), with their types inferred. The
// actors' bus (src/actors/actor-bus.ts) checks requests and replies against them.
import { z } from 'zod';
import { ContainerOp, CreateRequest, FileRequest, MonitorMessage, OciState, RestoreOptions, StatsEvent } from '../bus/messages.js';
import { Spec } from '../oci/spec.js';
import type { PlanInput } from '../oci/plan.js';

const id = z.string().min(1).max(1024);
const address = z.string().regex(/^(sandbox|container|gofer|process|create|daemon):.+$/);
/** A client's operation on one container, from the daemon's router (src/bus/messages.ts, ContainerOp). */
const routed = { from: address, to: address };
const signal = z.number().int().min(0).max(64);
/** a container's process: `init`, or an exec'd process's id */
const name = z.string().regex(/^(init|[a-f0-9]{16})$/);
const status = z.enum(['creating', 'created', 'running', 'paused', 'stopped', 'deleted']);
const path = z.string().min(1);
const int = z.number().int();

/**
 * What the gofer needs to lay a container's plan out: everything but the rootfs, its state dir
 * and path resolution, which are its own (PlanInput's fields, src/oci/plan.ts). The spec is
 * checked whole by the OCI Spec schema; the compiled seccomp filter's program is a Buffer.
 */
export const GoferPrepareInput = z.object({
  spec: Spec,
  /** --overlay2 (src/oci/plan/overlay.ts); false: none */
  overlay: z.union([z.literal(false), z.enum(['root', 'all'])]).optional(),
  hostCgroups: z.array(z.object({ dir: z.string(), fstype: z.enum(['cgroup', 'cgroup2']), options: z.string() })),
  cgroupDirs: z.object({ monitor: z.array(path), child: z.array(path), cgroup2: path.optional() }).optional(),
  console: z.enum(['socket', 'proxy']).nullable().optional(),
  consoleSocket: z.string().optional(),
  seccomp: z.object({
    filter: z.object({
      program: z.instanceof(Buffer, { message: 'must be a Buffer (the compiled sock_filter array)' }),
      length: int.min(0),
      flags: int.min(0),
      notify: z.boolean(),
      listenerPath: z.string().optional(),
      listenerMetadata: z.string().optional(),
      unknown: z.array(z.string()),
    }),
    listenerState: z.string().optional(),
  }).optional(),
  supervised: z.boolean().optional(),
  unprivileged: z.object({ uid: int.min(0), gid: int.min(0), newuidmap: z.string().nullable(), newgidmap: z.string().nullable() }).optional(),
  inUserNs: z.boolean().optional(),
  keyring: z.string().nullable().optional(),
  pidfdSocket: z.string().optional(),
  rdtDir: z.string().optional(),
  netRaw: z.boolean().optional(),
  restore: RestoreOptions.optional(),
});
export type GoferPrepareInput = z.infer<typeof GoferPrepareInput>;
// The schema is PlanInput's, field for field: buildPlan takes what it checks.
type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const samePlanInput: Exact<Required<GoferPrepareInput>, Required<Omit<PlanInput, 'resolve' | 'rootfs' | 'stateDir'>>> = true;
void samePlanInput;

/** One discriminated union for everything the actors say to each other. */
export const ActorMessage = z.discriminatedUnion('type', [
  // Container → Sandbox: facts about a member's lifecycle.
  z.object({ type: z.literal('member.joined'), from: address, to: address, id }),
  z.object({ type: z.literal('member.status'), from: address, to: address, id, status, exitStatus: int.nullable() }),
  z.object({ type: z.literal('member.left'), from: address, to: address, id }),
  // Sandbox → Container: orders for the whole pod.
  z.object({ type: z.literal('order.stop'), from: address, to: address }),
  z.object({ type: z.literal('order.pause'), from: address, to: address }),
  z.object({ type: z.literal('order.resume'), from: address, to: address }),
  // Router → Container: the client's operations, each one message to `container:<id>`.
  ContainerOp.created.extend(routed),
  ContainerOp.createFailed.extend(routed),
  ContainerOp.hooks.extend(routed),
  ContainerOp.start.extend(routed),
  ContainerOp.exec.extend(routed),
  ContainerOp.execStarted.extend(routed),
  ContainerOp.execFailed.extend(routed),
  ContainerOp.kill.extend(routed),
  ContainerOp.delete.extend(routed),
  ContainerOp.wait.extend(routed),
  ContainerOp.waitPid.extend(routed),
  ContainerOp.pause.extend(routed),
  ContainerOp.checkpoint.extend(routed),
  ContainerOp.resume.extend(routed),
  ContainerOp.update.extend(routed),
  ContainerOp.stats.extend(routed),
  ContainerOp.state.extend(routed),
  ContainerOp.file.extend(routed),
  // Router → Create: a container's create, run by an actor of its own until its Container actor takes over.
  z.object({ type: z.literal('create.run'), from: address, to: address, request: CreateRequest }),
  // Create, Container → Gofer: the container's filesystem. validate answers the bundle; prepare resolves
  // every path inside the rootfs and writes the plan nsinit follows; undo removes it all.
  z.object({ type: z.literal('gofer.validate'), from: address, to: address, bundle: z.string().min(1) }),
  z.object({ type: z.literal('gofer.prepare'), from: address, to: address, input: GoferPrepareInput }),
  // Container → Gofer: the container's OCI status after each change; the gofer's machine decides what it means.
  z.object({ type: z.literal('gofer.follow'), from: address, to: address, status }),
  z.object({ type: z.literal('gofer.undo'), from: address, to: address }),
  // It serves no more (a container forgotten: a create undone), its files kept for gofer.undo.
  z.object({ type: z.literal('gofer.stop'), from: address, to: address }),
  // Anyone → Gofer: file operations on the container's filesystem, as the container sees it.
  z.object({ type: z.literal('gofer.file'), from: address, to: address, request: FileRequest, root: z.string().min(1) }),
  // Container → Process: the process's monitor link (the Process actor holds it).
  z.object({ type: z.literal('process.attach'), from: address, to: address, socket: z.string().min(1), expectedPid: int.positive().nullable() }),
  z.object({ type: z.literal('process.gate'), from: address, to: address }),
  z.object({ type: z.literal('process.signal'), from: address, to: address, signal }),
  z.object({ type: z.literal('process.follow'), from: address, to: address, status, pid: int.nullable(), exitStatus: int.nullable() }),
  // Process → Container: facts from the monitor.
  z.object({ type: z.literal('process.started'), from: address, to: address, name }),
  z.object({ type: z.literal('process.exited'), from: address, to: address, name, exitStatus: int.min(-1).max(255) }),
  z.object({ type: z.literal('process.lost'), from: address, to: address, name }),
]);
export type ActorMessage = z.infer<typeof ActorMessage>;
export type ActorMessageType = ActorMessage['type'];
export type Address = string;

/** The bundle the gofer validated. */
export const BundleReply = z.object({ bundle: z.string().min(1), rootfs: z.string().min(1), spec: Spec });
/** What a file operation answers. */
export const FileReply = z.union([
  z.object({ type: z.enum(['file', 'directory', 'symlink', 'other']), size: int.min(0), mode: int.min(0), uid: int.min(0), gid: int.min(0) }),
  z.object({ data: z.string() }),
  z.object({ written: int.min(0) }),
]);
/** The monitor's hello, as the Process actor that attached answers it. */
/** startError: `nsinit --start` opened the gate itself, and the program did not start (why) */
export const MonitorHelloReply = z.object({ pid: int.positive(), initPid: int.positive(), state: z.enum(['created', 'running']), startError: z.string().optional() });

const Warnings = z.object({ warnings: z.array(z.string()) });
/** What a create answers: the plan nsinit follows, and what to say (debug level: warnings; warning level: notices). */
/** startAtOnce: nsinit may open the gate itself (`nsinit --start`, run with nothing to do between create and start) */
export const CreateReply = z.object({ id, stateDir: path, plan: path, warnings: z.array(z.string()), notices: z.array(z.string()), startAtOnce: z.boolean().optional() });

/** The reply to each message (`z.void()`: none but "done"). */
export const ActorReplies = {
  'member.joined': z.void(),
  'member.status': z.void(),
  'member.left': z.void(),
  /** pause and resume: whether the member did anything (false: it was not where the order applies) */
  'order.stop': z.void(),
  'order.pause': z.boolean(),
  'order.resume': z.boolean(),
  'container.created': z.void(),
  'container.createFailed': z.void(),
  'container.hooks': z.void(),
  'container.start': z.void(),
  /** the exec'd process's id and the plan its nsinit follows */
  'container.exec': z.object({ execId: z.string().regex(/^[a-f0-9]{16}$/), plan: path }),
  'exec.started': z.void(),
  'exec.failed': z.void(),
  'container.kill': z.void(),
  /** what the poststop hooks or the host said, for the caller's warnings */
  'container.delete': Warnings,
  /** the init's exit status */
  'container.wait': int,
  /** that process's exit status */
  'container.waitPid': int,
  'container.pause': z.void(),
  'container.checkpoint': z.void(),
  'container.resume': z.void(),
  'container.update': Warnings,
  'container.stats': StatsEvent,
  'container.state': OciState,
  'container.file': FileReply,
  'create.run': CreateReply,
  'gofer.validate': BundleReply,
  /** the plan file's path */
  'gofer.prepare': z.string().min(1),
  'gofer.follow': z.void(),
  'gofer.undo': z.void(),
  'gofer.stop': z.void(),
  'gofer.file': FileReply,
  'process.attach': MonitorHelloReply,
  /** what the monitor said when its gate opened: process.started, process.failed or process.exited */
  'process.gate': MonitorMessage,
  'process.signal': z.void(),
  'process.follow': z.void(),
  'process.started': z.void(),
  'process.exited': z.void(),
  'process.lost': z.void(),
} satisfies { [T in ActorMessageType]: z.ZodType };

export type MessageOf<T extends ActorMessageType> = Extract<ActorMessage, { type: T }>;
export type ReplyOf<T extends ActorMessageType> = z.infer<(typeof ActorReplies)[T]>;
export type Handler<T extends ActorMessageType> = (m: MessageOf<T>) => ReplyOf<T> | Promise<ReplyOf<T>>;
/** A handler, or one that runs as its message arrives instead of waiting its turn in the queue. */
export type HandlerSpec<T extends ActorMessageType> = Handler<T> | { concurrent: true; handle: Handler<T> };
/** An actor's handlers, by message type: a message of any other type is refused. */
export type Handlers = { [T in ActorMessageType]?: HandlerSpec<T> };

