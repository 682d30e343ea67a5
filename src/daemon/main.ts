// The daemon's own bundle (dist/bundle/daemon.cjs, see scripts/bundle.mjs), loaded by
// bin/runa-daemon.cjs with a V8 code cache: the same command line as `runa daemon`, in one
// CommonJS file, because Node.js keeps no code cache for ES modules and compiling them was
// a quarter of the daemon's start.
import { z } from 'zod';
import { COMMANDS, runCli } from '../cli/cli.js';
import { processIO } from '../cli/context.js';
import { setCodeCacheSaver } from '../code-cache.js';
import { runDaemon } from './daemon.js';

// zod compiles a fast path per object schema with `new Function` on its first parse: a cost
// at each first use (9 ms for a config.json) that a daemon started on demand pays in full,
// for no gain after (measured: 3.2 ms first, and 36 µs rather than 41 µs for each later one).
z.config({ jitless: true });

/** Run a command line (`--root R daemon …`) and exit with its status. */
export function main(argv: string[], saveCodeCache: (() => void) | null): void {
  setCodeCacheSaver(saveCodeCache);
  void runCli(argv, processIO, undefined, undefined, runDaemon).then((code) => process.exit(code));
}

/**
 * Load every module the daemon may run, without running anything: what the code cache is
 * made from at build time, so that the functions compiled then come compiled from the cache.
 */
export async function warm(): Promise<void> {
  await Promise.all(Object.values(COMMANDS).map((load) => load())); // the daemon's own modules are imported above
}
