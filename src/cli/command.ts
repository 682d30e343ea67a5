// What a command is, apart from the table that loads them (src/cli/cli.ts): each command's
// file imports this, and cli.ts imports the commands, so that neither imports the other.
import type { Context } from './context.js';
import type { HelpTopic } from './help.js';

/** A command: its help (generated from its flags, which its parser takes) and what it does. */
export interface Command extends HelpTopic {
  run(this: Command, ctx: Context, args: string[]): Promise<number>;
}

/** The commands by name, each loaded on demand. */
export type CommandTable = Record<string, () => Promise<{ default: Command }>>;
