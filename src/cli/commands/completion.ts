import type { Command, CommandTable } from '../command.js';
import { parseFlags, usage, type FlagSpecs } from '../flags.js';

/** Commands whose arguments are not container ids. */
const NO_IDS = new Set(['list', 'spec', 'features', 'do', 'daemon', 'ui', 'completion']);

const names = (flags: FlagSpecs, which: (kind: string) => boolean): string[] =>
  Object.entries(flags).filter(([, f]) => which(f.kind)).flatMap(([n, f]) => [n, ...(f.alias ? [f.alias] : [])])
    .map((n) => (n.length === 1 ? `-${n}` : `--${n}`));

/**
 * A bash completion script, as runc ships one (contrib/completions/bash/runc), generated from
 * the same command and flag definitions the parser uses: commands, each command's flags, and
 * container ids from `runa list -q` (with the --root given on the line).
 */
async function bashScript(COMMANDS: CommandTable, GLOBAL_FLAGS: FlagSpecs): Promise<string> {
  const cmds = Object.keys(COMMANDS);
  const loaded = await Promise.all(cmds.map(async (c) => [c, (await COMMANDS[c]()).default] as const));
  const q = (xs: string[]) => xs.join(' ');
  const cases = loaded.map(([c, cmd]) => [
    `    ${c})`,
    `      flags="${q(names(cmd.flags, () => true))}"`,
    `      valued="${q(names(cmd.flags, (k) => k !== 'bool'))}"`,
    `      ids=${NO_IDS.has(c) ? 0 : 1}`,
    '      ;;',
  ].join('\n'));
  return `# bash completion for runa: source it, or put \`runa completion bash\`'s output in
# /etc/bash_completion.d/runa. Generated from runa's own command and flag definitions.
_runa() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local commands="${q([...cmds, 'help'])}"
  local global_flags="${q(names(GLOBAL_FLAGS, () => true))}"
  local global_valued="${q(names(GLOBAL_FLAGS, (k) => k !== 'bool'))}"
  local i w cmd="" root=() flags="" valued="" ids=0
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ -n $cmd ]] && break
    case "$w" in
      --root|-root) root=(--root "\${COMP_WORDS[i+1]}"); ((i++)) ;;
      --root=*|-root=*) root=(--root "\${w#*=}") ;;
      -*=*) ;;
      -*) [[ " $global_valued " == *" $w "* ]] && ((i++)) ;;
      *) cmd="$w" ;;
    esac
  done
  if [[ -z $cmd ]]; then
    if [[ " $global_valued " == *" $prev "* ]]; then COMPREPLY=($(compgen -f -- "$cur")); return; fi
    if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "$global_flags" -- "$cur"));
    else COMPREPLY=($(compgen -W "$commands" -- "$cur")); fi
    return
  fi
  case "$cmd" in
${cases.join('\n')}
    help|h) COMPREPLY=($(compgen -W "$commands" -- "$cur")); return ;;
    *) return ;;
  esac
  if [[ " $valued " == *" $prev "* ]]; then COMPREPLY=($(compgen -f -- "$cur")); return; fi
  if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "$flags" -- "$cur")); return; fi
  if [[ $cmd == do ]]; then COMPREPLY=($(compgen -c -- "$cur")); return; fi
  if ((ids)); then COMPREPLY=($(compgen -W "$(runa "\${root[@]}" list -q 2>/dev/null)" -- "$cur")); fi
}
complete -F _runa runa
`;
}

/** The command, given the table it completes from (src/cli/cli.ts's, which lists this one too). */
export const completionCommand = (commands: CommandTable, globalFlags: FlagSpecs): Command => ({
  summary: 'print a shell completion script',
  args: 'bash',
  description: 'Commands, their flags and container ids (from `runa list -q`). For example:\n   source <(runa completion bash)',
  flags: {},
  async run(ctx, args) {
    const { positionals } = parseFlags(args, this.flags);
    if (positionals.length !== 1 || positionals[0] !== 'bash') throw usage('"completion" requires exactly 1 argument(s): bash');
    ctx.out(await bashScript(commands, globalFlags));
    return 0;
  },
});
