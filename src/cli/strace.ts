// runsc's --strace, --strace-syscalls and --strace-log-size (global flags): checked before the
// command runs (an unknown syscall changes nothing); for the commands that start processes
// (create, run, do, exec) the plan nsinit's monitor traces by, written next to the command's plan
// and handed to nsinit as `--strace PLANFILE`. A container created with --strace keeps its plan
// (`strace.plan` in its state dir): every process exec'd into it later is traced the same way,
// into the same log, unless that exec gives --strace of its own.
import fs from 'node:fs';
import { RunaError } from '../errors.js';
import { encodePlan } from '../nsinit/plan.js';
import { checkStraceSyscalls, stracePlan, STRACE_LOG_SIZE, STRACE_LOG_SIZE_MAX } from '../oci/plan/strace.js';
import { usage } from './flags.js';
import { stracePlanFile } from '../paths.js';

export interface StraceSettings {
  /** null: every syscall */
  syscalls: string[] | null;
  logSize: number;
}

/** The strace flags of a command line, checked; undefined without --strace. */
export function straceFlags(values: Record<string, unknown>): StraceSettings | undefined {
  const list = values['strace-syscalls'] as string | undefined;
  const size = values['strace-log-size'] as string | undefined;
  if (size !== undefined && !/^\d+$/.test(size)) throw usage(`invalid value "${size}" for flag -strace-log-size: parse error`);
  if (size !== undefined && Number(size) > STRACE_LOG_SIZE_MAX) throw usage(`invalid value "${size}" for flag -strace-log-size: at most ${STRACE_LOG_SIZE_MAX} bytes`);
  const syscalls = list === undefined || list === '' ? null : list.split(',');
  if (syscalls) checkStraceSyscalls(syscalls);
  if (!values.strace) {
    if (list !== undefined) throw usage('--strace-syscalls needs --strace');
    if (size !== undefined) throw usage('--strace-log-size needs --strace');
    return undefined;
  }
  if (values['debug-log'] === undefined) {
    throw usage(values['debug-log-fd'] !== undefined
      ? '--strace needs --debug-log: its lines are written by the container\'s monitors, which --debug-log-fd (this command\'s own fd) does not reach'
      : '--strace needs --debug-log: that is where its lines go');
  }
  return { syscalls, logSize: size === undefined || Number(size) === 0 ? STRACE_LOG_SIZE : Number(size) };
}

interface Context {
  readonly globals: { strace?: StraceSettings };
  readonly debugLog: { readonly path: string | null; readonly format: 'text' | 'json' } | null;
}

/** Write the command's --strace plan in dir; its path, or undefined without --strace. */
export function writeStracePlan(ctx: Context, dir: string): string | undefined {
  const s = ctx.globals.strace;
  if (!s) return undefined;
  const log = ctx.debugLog?.path;
  if (!log) throw new RunaError('invalid_argument', '--strace needs --debug-log: that is where its lines go');
  const file = stracePlanFile(dir);
  const ops = stracePlan({ log, format: ctx.debugLog!.format, logSize: s.logSize, syscalls: s.syscalls });
  fs.writeFileSync(file, encodePlan(ops), { mode: 0o600 });
  return file;
}
