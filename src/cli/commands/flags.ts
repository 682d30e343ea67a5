// runsc's `flags` (google/subcommands' FlagsCommand): every global flag with its default and
// help, as Go's flag.PrintDefaults lays them out; given names, only those.
import type { Command } from '../command.js';
import type { FlagSpec, FlagSpecs } from '../flags.js';
import { RunaError } from '../../errors.js';

/** Go's type word for a flag's value. */
function typeName(f: FlagSpec): string {
  if (f.kind === 'bool') return '';
  return f.value === 'FD' || f.value === 'PID' || f.value === 'N' ? 'int' : 'string';
}

/** One flag as flag.PrintDefaults prints it: `  -name type` and the usage on the next line (tab-indented). */
export function printDefault(name: string, f: FlagSpec): string {
  const type = typeName(f);
  let line = `  -${name}${type ? ` ${type}` : ''}`;
  line += line.length <= 4 ? '\t' : '\n    \t';
  line += f.usage.replaceAll('\n', '\n    \t');
  const d = f.default;
  if (d !== undefined && d !== '' && d !== 'false' && d !== '0') line += type === 'string' ? ` (default ${JSON.stringify(d)})` : ` (default ${d})`;
  return line + '\n';
}

/** Every flag and alias by name, sorted as Go's flag.VisitAll visits them. */
function entries(flags: FlagSpecs): Array<[string, FlagSpec]> {
  const all: Array<[string, FlagSpec]> = [];
  for (const [name, f] of Object.entries(flags)) {
    all.push([name, f]);
    if (f.alias) all.push([f.alias, { ...f, alias: undefined, usage: `equivalent to the '${name}' flag` }]);
  }
  return all.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export const flagsCommand = (globalFlags: FlagSpecs): Command => ({
  summary: 'describe all known top-level flags',
  args: '[<flag>...]',
  description: 'With no arguments, print all top-level (global) flags with their defaults. With arguments,\nprint descriptions of only the specified flags (runsc\'s `flags`).',
  flags: {},
  async run(ctx, args) {
    // Its arguments are flag names, with or without their dashes: none is a flag of its own.
    const positionals = args[0] === '--' ? args.slice(1) : args;
    const known = new Map(entries(globalFlags));
    const names = positionals.map((n) => n.replace(/^--?/, ''));
    const unknown = names.filter((n) => !known.has(n));
    if (unknown.length) throw new RunaError('invalid_argument', `flags: no such global flag: ${unknown.map((n) => `-${n}`).join(', ')} (runa flags lists them)`);
    const chosen = names.length ? names.map((n): [string, FlagSpec] => [n, known.get(n)!]) : [...known];
    ctx.out(chosen.map(([n, f]) => printDefault(n, f)).join(''));
    return 0;
  },
});
