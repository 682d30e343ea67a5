// Shared by the v1 and v2 drivers: reading and writing cgroupfs knobs with errors that name
// the OCI field and the file, value conversions (runc's), and parsers for the stat files.
import fs from 'node:fs';
import path from 'node:path';
import { RunaError } from '../errors.js';

/** runc reports "max"/unlimited as math.MaxUint64, 18446744073709551615, exactly: a bigint. */
export const MAX_U64 = (1n << 64n) - 1n;

export class CgroupError extends RunaError {
  constructor(message: string) {
    super('cgroups', message);
    this.name = 'CgroupError';
  }
}

export function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === 'string') {
    // "EINVAL: invalid argument, write" → "EINVAL (invalid argument)"
    const m = /^[A-Z0-9]+: ([^,]+)/.exec(err.message);
    return m ? `${err.code} (${m[1]})` : err.code;
  }
  return err instanceof Error ? err.message : String(e);
}

export function exists(file: string): boolean {
  try {
    fs.accessSync(file);
    return true;
  } catch {
    return false;
  }
}

export function cannotApply(field: string, what: string): CgroupError {
  return new CgroupError(`${field}: cannot apply: ${what}`);
}

/** Write one value to a cgroup knob (one write(2), as the kernel parses per write). */
export function writeKnob(dir: string, file: string, value: string, field: string, hint?: string): void {
  const full = path.join(dir, file);
  let fd: number;
  try {
    fd = fs.openSync(full, fs.constants.O_WRONLY | fs.constants.O_TRUNC);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw cannotApply(field, `${full} does not exist${hint ? ` (${hint})` : ''}`);
    throw cannotApply(field, `opening ${full}: ${errnoText(e)}`);
  }
  try {
    fs.writeSync(fd, value);
  } catch (e) {
    throw cannotApply(field, `writing ${JSON.stringify(value)} to ${full}: ${errnoText(e)}`);
  } finally {
    fs.closeSync(fd);
  }
}

/** Raw write that lets the caller inspect the errno (for runc's retry-in-another-order cases). */
export function tryWrite(file: string, value: string): NodeJS.ErrnoException | null {
  try {
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_TRUNC);
    try {
      fs.writeSync(fd, value);
    } finally {
      fs.closeSync(fd);
    }
    return null;
  } catch (e) {
    return e as NodeJS.ErrnoException;
  }
}

export function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/**
 * A single-number knob as a JS number, for the limit checks of apply/update (not for stats: it
 * rounds past 2^53); "max" is 2^64 as a float; absent/garbage is null.
 */
export function readUint(file: string): number | null {
  const t = readText(file);
  if (t === null) return null;
  const s = t.trim();
  if (s === 'max') return 2 ** 64;
  if (!/^-?\d+$/.test(s)) return null;
  const n = Number(s);
  return n < 0 ? 0 : n;
}

/**
 * runc's fscommon.ParseUint, exactly: a decimal unsigned 64-bit value as a bigint; a negative one
 * (kernel bugs in some memory counters) is 0; garbage is null. A value past 2^64−1 is an error
 * naming the file, as runc's "unable to parse <file>: ... value out of range" (runc fails too:
 * printing it would break every uint64 decoder, and clamping would report a wrong number).
 */
export function parseU64(s: string, file: string): bigint | null {
  if (!/^-?\d+$/.test(s)) return null;
  if (s.startsWith('-')) return 0n;
  const n = BigInt(s);
  if (n > MAX_U64) throw new CgroupError(`unable to parse ${file}: ${s} is out of range (above 2^64-1 = ${MAX_U64})`);
  return n;
}

/** A single-number knob for stats: runc's GetCgroupParamUint ("max" is MAX_U64); absent/garbage is null. */
export function readU64(file: string): bigint | null {
  const t = readText(file);
  if (t === null) return null;
  const s = t.trim();
  if (s === 'max') return MAX_U64;
  return parseU64(s, file);
}

/** "key value" lines (memory.stat, cpu.stat, memory.events, cpuacct.stat...), values exact. */
export function readKeyValues(file: string): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  const t = readText(file);
  if (t === null) return out;
  for (const line of t.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (!k || v === undefined) continue;
    const n = parseU64(v, file);
    if (n !== null) out[k] = n;
  }
  return out;
}

/** Whitespace-separated counters (cpuacct.usage_percpu), exact. */
export function parseU64List(text: string | null, file: string): bigint[] {
  const out: bigint[] = [];
  for (const w of (text ?? '').trim().split(/\s+/)) {
    const n = w ? parseU64(w, file) : null;
    if (n !== null) out.push(n);
  }
  return out;
}

/**
 * A product or sum of counters (ticks → ns, µs → ns, memory + swap) that Go would wrap at 2^64:
 * saturated at MAX_U64 instead, never printed above it.
 */
export function satU64(n: bigint): bigint {
  return n > MAX_U64 ? MAX_U64 : n < 0n ? 0n : n;
}

/** "0-3,5,7-8" → [0,1,2,3,5,7,8]. */
export function parseList(s: string | null): number[] {
  const out: number[] = [];
  if (!s) return out;
  for (const part of s.trim().split(',')) {
    if (!part) continue;
    const [a, b] = part.split('-').map(Number);
    if (b === undefined) out.push(a);
    else for (let i = a; i <= b; i++) out.push(i);
  }
  return out;
}

export function parsePids(text: string | null): number[] {
  if (!text) return [];
  return text.split('\n').filter((l) => /^\d+$/.test(l.trim())).map(Number);
}

/** Every cgroup directory at and below `dir`, deepest first (for rmdir order). */
export function subtreeDeepestFirst(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) walk(path.join(d, e.name));
    out.push(d);
  };
  walk(dir);
  return out;
}

// --- conversions (opencontainers/cgroups utils.go, runc ≥ 1.3.2) ---

/**
 * cpu.shares (v1, 2..262144, default 1024) → cpu.weight (v2, 1..10000, default 100): the quadratic
 * fit of runc ≥ 1.3.2 / crun ≥ 1.23 (runc PR #4785), which maps 2→1, 1024→100, 262144→10000.
 * (Older runc used the linear 1 + (shares-2)*9999/262142.) 0 means unset.
 */
export function cpuSharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  if (shares <= 2) return 1;
  if (shares >= 262144) return 10000;
  const l = Math.log2(shares);
  const exponent = (l * l + 125 * l) / 612.0 - 7.0 / 34.0;
  return Math.ceil(Math.pow(10, exponent));
}

/** blkio.weight (10..1000) → io.weight (1..10000): runc's ConvertBlkIOToIOWeightValue. 0 means unset. */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight === 0) return 0;
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/**
 * OCI memory.swap is memory+swap (the v1 memsw semantics); v2's memory.swap.max is swap alone.
 * runc's ConvertMemorySwapToCgroupV2Value: returns the value for memory.swap.max (-1 = "max",
 * 0 = leave alone), or throws.
 */
export function memorySwapToV2(swap: number, memory: number): number {
  if (memory === -1 && swap === 0) return -1; // unlimited memory and swap not set: unlimited swap too
  if (swap === -1 || swap === 0) return swap;
  if (memory === 0 || memory === -1) throw new Error('unable to set swap limit without memory limit');
  if (memory < 0) throw new Error(`invalid memory value: ${memory}`);
  if (swap < memory) throw new Error('memory+swap limit should be >= memory limit');
  return swap - memory;
}

/** Device numbers as the kernel wants them: -1/null/absent → "*". */
export function devNum(n: number | null | undefined): string {
  return n === undefined || n === null || n < 0 ? '*' : String(n);
}

/**
 * pids.limit as pids.max takes it. runtime-spec 1.3: -1 (any negative) is no limit ("max"), and
 * 0 is a real limit the runtime SHOULD apply (no new task at all); runc before 1.3 read 0 as "max".
 */
export const pidsMax = (limit: number): string => (limit < 0 ? 'max' : String(limit));
