// runsc's --debug-log: an extra log of one command, at a path made from a pattern
// (runsc/specutils OpenDebugLogFile, LogFileOpts.Build), in runsc's text (glog) or JSON lines;
// or on an inherited fd (--debug-log-fd). What goes in: a header (version, pids, argv), every
// request the command makes of the daemon and its outcome, its debug steps (with --debug),
// its warnings and error, the daemon's history of the container while the command ran (its
// machines' transitions and its actors' messages, as `runa debug --events` shows them), and
// the status it exits with.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { RunaError } from '../errors.js';
import { usage } from './flags.js';

/** runsc's variables; %TEST% is its test-only one (empty without its test flag). */
export const PATTERN_KEYS = ['TIMESTAMP', 'COMMAND', 'ID', 'CID', 'TEST'] as const;
/** A directory (a pattern ending in `/`) gets runsc's default name, one file per command. */
export const DEFAULT_NAME = 'runa.log.%TIMESTAMP%.%COMMAND%.txt';

export type Level = 'debug' | 'info' | 'warning' | 'error';

/** Refuse a pattern naming a variable runsc has not (nothing is created). */
export function checkPattern(pattern: string): void {
  if (pattern === '') throw new RunaError('invalid_argument', '--debug-log: the pattern is empty');
  for (const m of pattern.matchAll(/%([^%/]*)%/g)) {
    if (!(PATTERN_KEYS as readonly string[]).includes(m[1])) {
      throw new RunaError('invalid_argument', `--debug-log ${JSON.stringify(pattern)}: unknown variable %${m[1]}% (known: ${PATTERN_KEYS.map((k) => `%${k}%`).join(', ')})`);
    }
  }
}

/** Go's 20060102-150405.000000, local time (runsc's %TIMESTAMP%). */
export function timestamp(d: Date, micros = 0): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}.${p(d.getMilliseconds() * 1000 + micros, 6)}`;
}

/** The path a pattern gives for one command (runsc's LogFileOpts.Build). */
export function buildPath(pattern: string, vars: { command: string; id?: string; cid?: string; time: Date }): string {
  const full = pattern.endsWith('/') ? pattern + DEFAULT_NAME : pattern;
  const values: Record<string, string> = {
    TIMESTAMP: timestamp(vars.time), COMMAND: vars.command, ID: vars.id ?? '<unknown>', CID: vars.cid ?? '<unknown>', TEST: '',
  };
  return full.replace(/%([A-Z]+)%/g, (all, k: string) => values[k] ?? all);
}

/** A file descriptor given as a flag's value: a number, and open. */
export function parseFd(flag: string, value: string): number {
  if (!/^\d+$/.test(value)) throw usage(`invalid value "${value}" for flag -${flag}: a file descriptor number`);
  const fd = Number(value);
  try { fs.fstatSync(fd); } catch { throw new RunaError('invalid_argument', `--${flag} ${fd}: bad file descriptor (not open in runa)`); }
  return fd;
}

export class DebugLog {
  private constructor(private readonly fd: number, readonly format: 'text' | 'json', private readonly owned: boolean, readonly path: string | null) {}

  /** Open (creating its directories, 0755, and the file, 0644, for appending) the log a pattern names. */
  static open(pattern: string, format: 'text' | 'json', vars: Parameters<typeof buildPath>[1]): DebugLog {
    const file = buildPath(pattern, vars);
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
      return new DebugLog(fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_APPEND, 0o644), format, true, file);
    } catch (e) {
      throw new RunaError('debug_log', `error opening debug log file in ${JSON.stringify(pattern)}: ${(e as Error).message}`);
    }
  }

  static onFd(fd: number, format: 'text' | 'json'): DebugLog {
    return new DebugLog(fd, format, false, null);
  }

  /** One line: runsc's glog layout (`I1207 03:19:12.123456   4242 cli] msg`) or its JSON (`{"msg","level","time"}`). */
  write(level: Level, msg: string, source: 'cli' | 'daemon' = 'cli', when?: Date): void {
    // Now to the microsecond (runsc's precision), or a time the daemon recorded (to the ms).
    const t = when === undefined ? performance.timeOrigin + performance.now() : when.getTime();
    const at = new Date(Math.floor(t));
    const micros = Math.floor((t - Math.floor(t)) * 1000);
    let line: string;
    if (this.format === 'json') {
      line = JSON.stringify({ msg, level, time: at.toISOString(), ...(source === 'daemon' ? { source } : {}) }) + '\n';
    } else {
      const p = (n: number, w = 2) => String(n).padStart(w, '0');
      const letter = { debug: 'D', info: 'I', warning: 'W', error: 'E' }[level];
      line = `${letter}${p(at.getMonth() + 1)}${p(at.getDate())} ${p(at.getHours())}:${p(at.getMinutes())}:${p(at.getSeconds())}.${p(at.getMilliseconds() * 1000 + micros, 6)} ${String(process.pid).padStart(7)} ${source}] ${msg}\n`;
    }
    try { fs.writeSync(this.fd, line); } catch { /* a log is best effort */ }
  }

  close(): void {
    if (this.owned) try { fs.closeSync(this.fd); } catch { /* closed already */ }
  }
}

/** A line for a log fd (--log-fd): runc's logrus text, or the JSON pino writes to --log. */
export function logLine(format: 'text' | 'json', level: string, msg: string, extra: Record<string, unknown> = {}): string {
  const time = new Date().toISOString();
  return format === 'json'
    ? JSON.stringify({ level, time, msg, ...extra }) + '\n'
    : `time="${time}" level=${level} msg=${JSON.stringify(msg)}${Object.entries(extra).map(([k, v]) => ` ${k}=${String(v)}`).join('')}\n`;
}
