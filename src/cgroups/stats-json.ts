// `events` stats, exact end to end: the daemon reads runc's uint64 counters as bigints
// (common.ts readU64), carries each as decimal text on the bus (plain JSON cannot hold them),
// and the CLI prints them as bare JSON numbers, never rounded, never a float, never above
// 2^64−1 (what containerd's and podman's Go clients decode into uint64).
import { stringify as losslessStringify } from 'lossless-json';
import { RunaError } from '../errors.js';
import { StatsEvent, describeIssues, type StatsEventWire } from '../bus/messages.js';
import type { CgroupStats } from './types.js';

type Wire<T> = T extends bigint ? string : T extends (infer E)[] ? Wire<E>[] : T extends object ? { [K in keyof T]: Wire<T[K]> } : T;

function bigintsToText<T>(v: T): Wire<T> {
  if (typeof v === 'bigint') return v.toString() as Wire<T>;
  if (Array.isArray(v)) return v.map(bigintsToText) as Wire<T>;
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = bigintsToText(x);
    return out as Wire<T>;
  }
  return v as Wire<T>;
}

/** Daemon side: the stats event as it goes on the bus (every bigint as its decimal text). */
export function statsEvent(id: string, st: CgroupStats): StatsEventWire {
  return { type: 'stats', id, data: bigintsToText(st) };
}

/**
 * CLI side: one `events` line. A stats event is checked against its schema and printed with
 * every counter a bare, exact JSON number; other events (oom...) as they came.
 */
export function eventLine(ev: unknown): string {
  if ((ev as { type?: unknown } | null)?.type !== 'stats') return JSON.stringify(ev);
  const r = StatsEvent.safeParse(ev);
  if (!r.success) throw new RunaError('internal', `stats from the daemon: ${describeIssues(r.error)}`);
  return losslessStringify(r.data)!;
}
