#!/usr/bin/env node
'use strict';
// The daemon (`runa daemon`, started on demand by the front end and the CLI): its one-file
// CommonJS bundle run through vm.Script with a V8 code cache, so that a cold start
// deserializes compiled code instead of parsing and compiling 1.5 MB of JavaScript.
// Two caches, the first V8 accepts is used (a rejected one, from another Node.js or other
// flags, only costs the compile):
// - <root>/daemon-<bundle's size, mtime, inode>.cache: written by an earlier daemon of this
//   root once it had served containers, so the functions they needed come compiled too;
// - dist/bundle/daemon.cjs.cache: made at build time (RUNA_WRITE_CODE_CACHE=1, by
//   scripts/bundle.mjs) from loading every module.
const fs = require('node:fs');
const v8 = require('node:v8');
// RUNA_DAEMON_V8_FLAGS: V8 flags for the daemon, for measurement (BENCHMARKS.md, 2026-12-07: the
// baseline tiers alone, `--no-opt --always-sparkplug`, cost a third of its throughput under 8
// clients for a fifth less CPU per warm run, so the default is V8's own). A code cache made
// under other flags is rejected, which costs only the compile.
if (process.env.RUNA_DAEMON_V8_FLAGS) v8.setFlagsFromString(process.env.RUNA_DAEMON_V8_FLAGS);
const path = require('node:path');
const vm = require('node:vm');
const { createRequire, wrap } = require('node:module');

const file = path.join(__dirname, '..', 'dist', 'bundle', 'daemon.cjs');
const buildCache = `${file}.cache`;
const source = wrap(fs.readFileSync(file, 'latin1')); // ASCII only (scripts/bundle.mjs)

function compile(cachedData) {
  const script = new vm.Script(source, { filename: file, cachedData });
  return cachedData && script.cachedDataRejected ? null : script;
}
function run(script) {
  const mod = { exports: {} };
  script.runInThisContext().call(mod.exports, mod.exports, createRequire(file), mod, file, path.dirname(file));
  return mod.exports;
}
const read = (f) => { try { return fs.readFileSync(f); } catch { return undefined; } };

if (process.env.RUNA_WRITE_CODE_CACHE === '1') {
  const script = compile(undefined);
  run(script).warm().then(() => {
    fs.writeFileSync(`${buildCache}.tmp`, script.createCachedData());
    fs.renameSync(`${buildCache}.tmp`, buildCache);
  });
} else {
  const argv = process.argv.slice(2);
  // The root, as the front end and the CLI start the daemon: `--root ROOT daemon …`.
  const root = argv[0] === '--root' ? argv[1] : null;
  const st = fs.statSync(file);
  const rootCache = root && path.join(root, `daemon-${st.size}-${Math.trunc(st.mtimeMs)}-${st.ino}.cache`);
  const mine = rootCache && read(rootCache);
  let script = mine && compile(mine);
  const fromRoot = Boolean(script);
  if (!script) {
    const built = read(buildCache);
    script = (built && compile(built)) || compile(undefined);
  }
  const saveCodeCache = fromRoot || !rootCache ? null : () => {
    // Once, when the daemon is first idle: what it compiled so far, for the next daemon.
    try {
      v8.setFlagsFromString('--no-always-sparkplug'); // the flags the next daemon compiles under (below)
      try {
        fs.writeFileSync(`${rootCache}.tmp`, script.createCachedData(), { mode: 0o600 });
      } finally {
        v8.setFlagsFromString('--always-sparkplug');
      }
      fs.renameSync(`${rootCache}.tmp`, rootCache);
      for (const f of fs.readdirSync(root)) {
        if (/^daemon-.*\.cache$/.test(f) && path.join(root, f) !== rootCache) fs.rmSync(path.join(root, f), { force: true });
      }
    } catch { /* best effort: the next daemon compiles */ }
  };
  const daemon = run(script);
  // --always-sparkplug, once the modules are loaded: a function is compiled to V8's baseline
  // machine code (Sparkplug, one quick pass over its bytecode) the first time it runs, instead of
  // being interpreted until it has run often enough. The daemon serves its first commands from
  // baseline code: its first 50 warm `run`s took about 2 ms less each (BENCHMARKS.md, 2026-12-07,
  // third session), and TurboFan still optimizes what stays hot (throughput unchanged). Not
  // before: the thousands of functions module loading runs once would all be compiled (20 ms
  // more for a cold start). Code caches are made and read under V8's default flags (a cache
  // carries a hash of the flags it was made under, and one made under others is rejected).
  v8.setFlagsFromString('--always-sparkplug');
  daemon.main(argv, saveCodeCache);
}
