// runc-style flags: `--flag value`, `--flag=value`, `-flag`, short aliases, `--` ends flags.
import { RunaError } from '../errors.js';

export type FlagKind = 'bool' | 'string' | 'strings';
/**
 * One flag: how it parses, and what help says of it (the parser and help read the same
 * definition, so help cannot drift from what is accepted).
 */
export interface FlagSpec {
  kind: FlagKind;
  alias?: string;
  /** what it does (a flag that has no effect says so here, and why) */
  usage: string;
  /** the default help shows */
  default?: string;
  /** shown in place of `value` */
  value?: string;
}
export type FlagSpecs = Record<string, FlagSpec>;
export type FlagValues = Record<string, string | boolean | string[] | undefined>;

/** A usage error: `flag` when the flags did not parse (urfave/cli's "Incorrect Usage: …"). */
export class UsageError extends RunaError {
  constructor(message: string, readonly flag = false) {
    super('usage', message);
  }
}
export const usage = (msg: string) => new UsageError(msg);
const flagError = (msg: string) => new UsageError(msg, true);

/**
 * Parse flags for one command. Positionals may be interleaved with flags (as urfave/cli
 * allows before the first positional only when `stopAtPositional`).
 */
export function parseFlags(args: string[], specs: FlagSpecs, opts: { stopAtPositional?: boolean } = {}) {
  const byName = new Map<string, [string, FlagSpec]>();
  for (const [name, spec] of Object.entries(specs)) {
    byName.set(name, [name, spec]);
    if (spec.alias) byName.set(spec.alias, [name, spec]);
  }
  const values: FlagValues = {};
  const positionals: string[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i];
    if (a === '--') { i++; break; }
    if (!a.startsWith('-') || a === '-') {
      positionals.push(a);
      if (opts.stopAtPositional) { i++; break; }
      continue;
    }
    const body = a.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const key = eq >= 0 ? body.slice(0, eq) : body;
    const entry = byName.get(key);
    if (!entry) throw flagError(`flag provided but not defined: -${key}`);
    const [name, spec] = entry;
    let value: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (spec.kind === 'bool') {
      if (value !== undefined && value !== 'true' && value !== 'false') throw flagError(`invalid boolean value "${value}" for -${key}`);
      values[name] = value !== 'false';
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= args.length) throw flagError(`flag needs an argument: -${key}`);
      value = args[++i];
    }
    if (spec.kind === 'strings') values[name] = [...((values[name] as string[] | undefined) ?? []), value];
    else values[name] = value;
  }
  positionals.push(...args.slice(i));
  return { values, positionals };
}

export function exactArgs(positionals: string[], n: number, what: string): void {
  if (positionals.length !== n) throw usage(`"${what}" requires exactly ${n} argument(s)`);
}
