// nsinit's plan decoder under libFuzzer (native/fuzz/plan_fuzz.c): built with clang's fuzzer,
// address and undefined-behaviour sanitizers, run for RUNA_FUZZ_SECONDS (default 30) from the
// committed seed corpus (copied: libFuzzer adds what it finds to its corpus directory). Any
// crash, leak, UB or broken invariant ends the run with an artifact and a non-zero status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/test/fuzz-plan.test.js -> repo root
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const NATIVE = path.join(REPO, 'native');
const FUZZER = path.join(NATIVE, 'fuzz', 'plan_fuzz');
const SECONDS = Number(process.env.RUNA_FUZZ_SECONDS ?? 30);

/** Why the fuzzer cannot be built here, or null. */
function missing(): string | null {
  const install = 'needs clang and libFuzzer: apt-get install clang libclang-rt-14-dev';
  const dir = spawnSync('clang', ['--print-runtime-dir'], { encoding: 'utf8' });
  if (dir.status !== 0) return install;
  try {
    if (fs.readdirSync(dir.stdout.trim()).some((f) => f.startsWith('libclang_rt.fuzzer'))) return null;
  } catch {
    // no runtime directory
  }
  return install;
}

const skip = missing();

test(`the plan decoder under libFuzzer for ${SECONDS} s: no crash, leak or undefined behaviour`, { skip: skip ?? false, timeout: (SECONDS + 300) * 1000 }, async (t) => {
  assert.ok(Number.isInteger(SECONDS) && SECONDS > 0, `RUNA_FUZZ_SECONDS: a whole number of seconds, not ${process.env.RUNA_FUZZ_SECONDS}`);
  const build = spawnSync('make', ['-s', '-C', NATIVE, 'fuzz'], { encoding: 'utf8' });
  assert.equal(build.status, 0, `make -C native fuzz:\n${build.stdout}${build.stderr}`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runa-fuzz-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const corpus = path.join(tmp, 'corpus');
  const artifacts = path.join(tmp, 'artifacts');
  fs.cpSync(path.join(NATIVE, 'fuzz', 'corpus'), corpus, { recursive: true });
  fs.mkdirSync(artifacts);
  const seeds = fs.readdirSync(corpus).length;

  const args = [`-max_total_time=${SECONDS}`, '-timeout=10', '-print_final_stats=1', `-dict=${path.join(NATIVE, 'fuzz', 'plan.dict')}`,
    `-artifact_prefix=${artifacts}/`, corpus];
  const fuzz = spawn(FUZZER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  fuzz.stdout.on('data', (b: Buffer) => { log += b; });
  fuzz.stderr.on('data', (b: Buffer) => { log += b; });
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    fuzz.on('close', (code, signal) => resolve({ code, signal })));

  const tail = log.split('\n').slice(-60).join('\n');
  const found = fs.readdirSync(artifacts);
  assert.deepEqual(found, [], `libFuzzer left crash artifacts (copy them to native/fuzz/corpus/regress-*):\n${tail}`);
  assert.deepEqual(exit, { code: 0, signal: null }, `plan_fuzz ${args.join(' ')}:\n${tail}`);
  const stat = (name: string) => Number(new RegExp(`^stat::${name}:\\s+(\\d+)$`, 'm').exec(log)?.[1]);
  const runs = stat('number_of_executed_units');
  assert.ok(runs > 0, `no executions reported:\n${tail}`);
  t.diagnostic(`libFuzzer: ${runs} executions in ${SECONDS} s (${stat('average_exec_per_sec')}/s), ` +
    `corpus ${seeds} -> ${fs.readdirSync(corpus).length} inputs, no crash`);
});
