// OCI hooks (runtime-spec config.md#posix-platform-hooks): each hook is a program run with its
// args and exactly its env, the container state JSON on stdin, killed after `timeout` seconds.
// Hooks of one kind run sequentially in listed order. Numbering in errors is runc's: #0 is the
// first hook of its kind.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { RunaError } from '../errors.js';

export const HOOK_KINDS = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const;
export type HookKind = (typeof HOOK_KINDS)[number];

export const HookSchema = z.looseObject({
  path: z.string().refine((p) => p.startsWith('/'), 'must be an absolute path'),
  args: z.array(z.string()).optional(),
  env: z.array(z.string().refine((e) => e.includes('='), 'must be NAME=VALUE')).optional(),
  timeout: z.number().int().min(1, 'must be greater than zero').optional(),
});
export type Hook = z.infer<typeof HookSchema>;

/** config.json `hooks`, for whoever wires hooks into spec validation. */
export const HooksSchema = z.looseObject(Object.fromEntries(HOOK_KINDS.map((k) => [k, z.array(HookSchema).optional()])) as Record<HookKind, z.ZodOptional<z.ZodArray<typeof HookSchema>>>);
export type Hooks = z.infer<typeof HooksSchema>;

export interface HookOptions {
  /**
   * Run the hook in the namespaces of this process (createContainer/startContainer run "in the
   * container namespace"). Done without native code by running
   *   nsenter --target <nsPid> [--mount] [--uts] [--ipc] [--net] [--pid] [--cgroup] [--user] -- <path> <args[1..]>
   * with only the namespaces that differ from runa's own (entering one's own user namespace is
   * an error; when none differ the hook runs directly). Consequences: `path` is resolved in the target's mount namespace (for
   * createContainer, run the hooks before pivot_root, while that namespace still sees the
   * runtime's files), and args[0] cannot be kept: the hook's argv[0] is its path, because
   * nsenter execs its operand with the operand as argv[0].
   */
  nsPid?: number;
}

export class HookError extends RunaError {
  constructor(message: string) {
    super('hook_failed', message);
    this.name = 'HookError';
  }
}

/** Run `hooks` in order; stop at, and throw, the first failure. */
export async function runHooks(kind: HookKind, hooks: Hook[] | undefined, state: object, opts: HookOptions = {}): Promise<void> {
  for (const [i, hook] of (hooks ?? []).entries()) await runHook(kind, i, hook, state, opts);
}

/**
 * Run every hook in order and return one warning per failure instead of throwing (poststop:
 * "the runtime MUST log a warning, but the remaining hooks and lifecycle continue").
 */
export async function runHooksBestEffort(kind: HookKind, hooks: Hook[] | undefined, state: object, opts: HookOptions = {}): Promise<string[]> {
  const warnings: string[] = [];
  for (const [i, hook] of (hooks ?? []).entries()) {
    try {
      await runHook(kind, i, hook, state, opts);
    } catch (e) {
      warnings.push(e instanceof Error ? e.message : String(e));
    }
  }
  return warnings;
}

const STDERR_KEEP = 4096;
const STDERR_SHOW = 1024;
const DRAIN_MS = 100;

/** Run one hook; `index` is its position among the hooks of `kind` (for the error text). */
export async function runHook(kind: HookKind, index: number, hook: Hook, state: object, opts: HookOptions = {}): Promise<void> {
  const label = `${kind} hook #${index} (${hook.path})`;
  const fail = (what: string) => new HookError(`${label}: ${what}`);
  if (hook.timeout !== undefined && !(hook.timeout > 0)) throw fail(`invalid timeout ${hook.timeout}: must be greater than zero`);
  const env: Record<string, string> = {};
  for (const e of hook.env ?? []) {
    const eq = e.indexOf('=');
    if (eq > 0) env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  const args = hook.args ?? [];

  let child: ChildProcess;
  try {
    const flags = opts.nsPid === undefined ? [] : namespaceFlags(opts.nsPid);
    if (flags === null) throw fail(`cannot run it in the container namespaces: process ${opts.nsPid} is gone`);
    if (flags.length > 0) {
      const nsenter = findNsenter();
      if (!nsenter) throw fail('cannot run it in the container namespaces: nsenter (util-linux) not found');
      child = spawn(nsenter, ['--target', String(opts.nsPid), ...flags, '--', hook.path, ...args.slice(1)], {
        env, stdio: ['pipe', 'ignore', 'pipe'], detached: true,
      });
    } else {
      child = spawn(hook.path, args.slice(1), { argv0: args[0] ?? hook.path, env, stdio: ['pipe', 'ignore', 'pipe'], detached: true });
    }
  } catch (e) {
    if (e instanceof HookError) throw e;
    throw fail(errText(e));
  }

  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    stderr = (stderr + d).slice(-STDERR_KEEP);
  });
  child.stdin!.on('error', () => { /* the hook need not read its stdin (EPIPE) */ });
  child.stdin!.end(JSON.stringify(state));

  let timedOut = false;
  const timer = hook.timeout !== undefined ? setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, hook.timeout * 1000) : null;

  const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null } | { error: Error }>((resolve) => {
    child.once('error', (error) => resolve({ error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  if (timer) clearTimeout(timer);
  // let stderr drain, but do not wait for grandchildren that keep it open
  if (child.stderr && !child.stderr.readableEnded) {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, DRAIN_MS);
      child.stderr!.once('end', () => { clearTimeout(t); resolve(); });
    });
    child.stderr.destroy();
  }
  const tail = stderr.trim().slice(-STDERR_SHOW);

  if ('error' in result) throw fail(errText(result.error));
  if (timedOut) throw fail(`timed out after ${hook.timeout}s`);
  if (result.signal) throw fail(`killed by signal ${result.signal}${tail ? `: ${tail}` : ''}`);
  if (result.code !== 0) throw fail(`exit status ${result.code}${tail ? `: ${tail}` : ''}`);
}

/** SIGKILL the hook's process group (it is a session leader: detached), which includes nsenter's child. */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    try { child.kill('SIGKILL'); } catch { /* gone */ }
  }
}

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOENT') return 'cannot run: no such file or directory';
  if (err?.code === 'EACCES') return 'cannot run: permission denied';
  if (typeof err?.code === 'string') return `cannot run: ${err.code}`;
  return err instanceof Error ? err.message : String(e);
}

const NS_FLAGS: [string, string][] = [
  ['mnt', '--mount'], ['uts', '--uts'], ['ipc', '--ipc'], ['net', '--net'], ['pid', '--pid'], ['cgroup', '--cgroup'], ['user', '--user'],
];

/** nsenter flags for the namespaces of `pid` that differ from ours; null if the process is gone. */
export function namespaceFlags(pid: number): string[] | null {
  const flags: string[] = [];
  try {
    fs.accessSync(`/proc/${pid}/ns`);
  } catch {
    return null;
  }
  for (const [ns, flag] of NS_FLAGS) {
    let theirs: string;
    try {
      theirs = fs.readlinkSync(`/proc/${pid}/ns/${ns}`);
    } catch {
      continue; // namespace type not supported by the kernel
    }
    let ours = '';
    try {
      ours = fs.readlinkSync(`/proc/self/ns/${ns}`);
    } catch { /* treat as different */ }
    if (theirs !== ours) flags.push(flag);
  }
  return flags;
}

let nsenterPath: string | null | undefined;
function findNsenter(): string | null {
  if (nsenterPath !== undefined) return nsenterPath;
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/bin', '/bin', '/usr/sbin', '/sbin'].filter(Boolean);
  nsenterPath = null;
  for (const d of dirs) {
    const p = path.join(d, 'nsenter');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      nsenterPath = p;
      break;
    } catch { /* next */ }
  }
  return nsenterPath;
}
