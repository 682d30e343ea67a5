// Bundle the CLI (and, through code splitting, each command and the daemon) into a few
// files: Node's ESM loader pays per module, and the daemon alone pulls in hundreds
// (xstate, rxjs, zod, ws). Measured: daemon start 370 → 160 ms, `state` 107 → 91 ms.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

rmSync('dist/bundle', { recursive: true, force: true });

// `runa --version` says which commit it was built from, as runc does.
let commit = 'unknown';
try { commit = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { /* not a git checkout */ }

await build({
  entryPoints: ['dist/src/cli/main.js'],
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir: 'dist/bundle',
  logLevel: 'warning',
  define: { __RUNA_COMMIT__: JSON.stringify(commit) },
  // CommonJS dependencies (ws, pino) call require(); give the bundle one.
  banner: { js: "import { createRequire as __runaRequire } from 'node:module'; const require = __runaRequire(import.meta.url);" },
});
