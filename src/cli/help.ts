// Help in runc's layout (urfave/cli's): NAME, USAGE, DESCRIPTION, OPTIONS, generated from
// the same flag definitions the parser uses.
import type { FlagSpec, FlagSpecs } from './flags.js';

export interface HelpTopic {
  /** one line: NAME */
  summary: string;
  /** what follows `[command options]` in USAGE, e.g. `<container-id>` */
  args?: string;
  /** DESCRIPTION: what it does, at more length */
  description?: string;
  flags: FlagSpecs;
}

/** `--format value, -f value` */
function flagNames(name: string, f: FlagSpec): string {
  const v = f.kind === 'bool' ? '' : ` ${f.value ?? 'value'}`;
  const dash = (n: string) => (n.length === 1 ? `-${n}` : `--${n}`);
  return [dash(name) + v, ...(f.alias ? [dash(f.alias) + v] : [])].join(', ');
}

/** OPTIONS lines, aligned as urfave/cli aligns them. */
export function optionLines(flags: FlagSpecs): string[] {
  const rows = Object.entries(flags).map(([name, f]) => [flagNames(name, f), f.usage + (f.default !== undefined ? ` (default: ${JSON.stringify(f.default)})` : '')]);
  const width = Math.max(0, ...rows.map((r) => r[0].length));
  return rows.map(([n, u]) => `   ${n.padEnd(width)}  ${u}`);
}

export function commandHelp(name: string, t: HelpTopic): string {
  const hasFlags = Object.keys(t.flags).length > 0;
  const out = ['NAME:', `   runa ${name} - ${t.summary}`, '', 'USAGE:', `   runa ${name}${hasFlags ? ' [command options]' : ''}${t.args ? ` ${t.args}` : ''}`];
  if (t.description) out.push('', 'DESCRIPTION:', ...t.description.split('\n').map((l) => (l ? `   ${l}` : '')));
  if (hasFlags) out.push('', 'OPTIONS:', ...optionLines(t.flags));
  return out.join('\n') + '\n';
}
