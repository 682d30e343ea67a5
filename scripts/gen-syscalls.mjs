#!/usr/bin/env node
// Generates src/seccomp/syscalls.ts: per-architecture syscall name → number tables, taken from the
// Linux UAPI headers installed by Debian's linux-libc-dev (x86_64, x86, x32) and the
// linux-libc-dev-{arm64,armhf}-cross packages (aarch64, arm EABI).
//
// The headers are evaluated by the real C preprocessor/compiler rather than parsed by hand:
//   1. `cc -E -dM` lists every macro visible after `#include <asm/unistd.h>` for the arch's view
//      (-undef -nostdinc, cross include dir, plus the defines that arch's compiler would set);
//   2. the __NR_* (and, on arm, __ARM_NR_*) macros are expanded by `cc -E`; anything whose
//      expansion is not a plain integer constant expression is dropped;
//   3. a host program (same include path) prints the values, so the compiler does the arithmetic.
//
// Usage: node scripts/gen-syscalls.mjs           (rewrite src/seccomp/syscalls.ts)
//        node scripts/gen-syscalls.mjs --check   (exit 1 if the committed file is stale)
// Env:   CC (default: cc)
//
// No dependencies beyond Node >= 20, a host C compiler and dpkg-query.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'src/seccomp/syscalls.ts');
const CC = process.env.CC || 'cc';

/**
 * Per arch: include dir, the header file the numbers must come from (checked against the
 * preprocessor's dependency list), and the predefined macros that arch's compiler would set.
 * -undef removes the host's own (__x86_64__, __SIZEOF_LONG__, ...) so they cannot leak in.
 */
const ARCHES = [
  {
    arch: 'x86_64',
    incdir: '/usr/include/x86_64-linux-gnu',
    source: '/usr/include/x86_64-linux-gnu/asm/unistd_64.h',
    defines: ['__x86_64__', '__LP64__', '__BITS_PER_LONG=64'],
  },
  {
    arch: 'x86',
    incdir: '/usr/include/x86_64-linux-gnu',
    source: '/usr/include/x86_64-linux-gnu/asm/unistd_32.h',
    defines: ['__i386__', '__BITS_PER_LONG=32'],
  },
  {
    arch: 'x32',
    incdir: '/usr/include/x86_64-linux-gnu',
    source: '/usr/include/x86_64-linux-gnu/asm/unistd_x32.h',
    defines: ['__x86_64__', '__ILP32__', '__BITS_PER_LONG=32'],
  },
  {
    arch: 'aarch64',
    incdir: '/usr/aarch64-linux-gnu/include',
    source: '/usr/aarch64-linux-gnu/include/asm/unistd.h',
    extraSources: ['/usr/aarch64-linux-gnu/include/asm-generic/unistd.h'],
    defines: ['__aarch64__', '__LP64__', '__BITS_PER_LONG=64'],
  },
  {
    arch: 'arm',
    incdir: '/usr/arm-linux-gnueabihf/include',
    source: '/usr/arm-linux-gnueabihf/include/asm/unistd.h',
    extraSources: ['/usr/arm-linux-gnueabihf/include/asm/unistd-eabi.h'],
    defines: ['__arm__', '__ARM_EABI__', '__ARM_PCS_VFP', '__BITS_PER_LONG=32'],
    // ARM private syscalls (__ARM_NR_*), exported under their short names as libseccomp does.
    armPrivate: true,
  },
];

/** Markers / helpers that look like syscall macros but are not syscalls. */
const NOT_SYSCALLS = new Set([
  '__NR_syscalls',
  '__NR_SYSCALL_BASE',
  '__NR_OABI_SYSCALL_BASE',
  '__NR_SYSCALL_MASK',
  '__NR_arch_specific_syscall',
  '__ARM_NR_BASE',
  '__X32_SYSCALL_BIT',
]);

/** Known values, checked after generation so a broken toolchain/header setup fails loudly. */
const SANITY = {
  x86_64: { read: 0, write: 1, openat: 257, clone3: 435 },
  x86: { read: 3, socketcall: 102, openat: 295 },
  x32: { read: 0x40000000, write: 0x40000001, openat: 0x40000000 + 257 },
  aarch64: { read: 63, openat: 56, clone3: 435, fcntl: 25, lseek: 62, mmap: 222, fstatfs: 44 },
  arm: { read: 3, openat: 322, breakpoint: 0x0f0001, cacheflush: 0x0f0002, set_tls: 0x0f0005 },
};
const SANITY_ABSENT = {
  aarch64: ['open', 'fork', 'fcntl64', 'llseek', '_llseek', 'mmap2', 'fstatfs64'],
  x86_64: ['socketcall'],
};

class GenError extends Error {}

/** Fail loudly; caught at top level (after temp files are cleaned up) → exit 2. */
function die(msg) {
  throw new GenError(msg);
}

function run(cmd, args, opts = {}) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...opts });
  } catch (e) {
    die(`command failed: ${cmd} ${args.join(' ')}\n${e.stderr || e.message}`);
  }
}

function ccFlags(a) {
  return ['-undef', '-nostdinc', '-I', a.incdir, ...a.defines.map((d) => `-D${d}`)];
}

/** Debian package + version that owns a file, e.g. ['linux-libc-dev', '6.1.187-1']. */
function owningPackage(file) {
  const out = run('dpkg-query', ['-S', file]).trim();
  const pkg = out.split('\n')[0].split(':')[0].split(',')[0].trim();
  if (!pkg) die(`dpkg-query -S ${file}: no owning package`);
  const ver = run('dpkg-query', ['-W', '-f=${Version}', pkg]).trim();
  if (!ver) die(`dpkg-query -W ${pkg}: not installed`);
  return [pkg, ver];
}

/** "6.1.4" from the <linux/version.h> shipped by the same Debian package. */
function uapiVersion(pkg) {
  const f = run('dpkg-query', ['-L', pkg])
    .split('\n')
    .find((l) => l.endsWith('/linux/version.h'));
  if (!f || !existsSync(f)) die(`${pkg}: no linux/version.h`);
  const t = readFileSync(f, 'utf8');
  const get = (k) => {
    const m = t.match(new RegExp(`#define\\s+${k}\\s+(\\d+)`));
    if (!m) die(`${f}: no ${k}`);
    return m[1];
  };
  return `${get('LINUX_VERSION_MAJOR')}.${get('LINUX_VERSION_PATCHLEVEL')}.${get('LINUX_VERSION_SUBLEVEL')}`;
}

/** A C integer constant expression made only of literals and arithmetic, e.g. "((0+0x0f0000)+1)". */
const PLAIN_INT_EXPR = /^[\s()+\-*/%<>|&^~]*(?:(?:0[xX][0-9a-fA-F]+|\d+)[uUlL]*[\s()+\-*/%<>|&^~]*)+$/;

function tableFor(a, work) {
  for (const f of [a.source, ...(a.extraSources ?? [])]) {
    if (!existsSync(f)) die(`missing source header ${f} (${a.arch})`);
  }
  const dir = join(work, a.arch);
  mkdirSync(dir);
  const inc = join(dir, 'inc.c');
  writeFileSync(inc, '#include <asm/unistd.h>\n');

  // Make sure the arch view really pulls in the expected header (e.g. unistd_x32.h, unistd-eabi.h).
  const deps = run(CC, [...ccFlags(a), '-M', inc]).replace(/\\\n/g, ' ').split(/\s+/);
  for (const f of [a.source, ...(a.extraSources ?? [])]) {
    if (!deps.some((d) => d && resolve(d) === f)) die(`${a.arch}: ${f} not included (deps: ${deps.join(' ')})`);
  }

  // 1. All macros → candidate syscall macros.
  const macros = run(CC, [...ccFlags(a), '-E', '-dM', inc])
    .split('\n')
    .map((l) => l.match(/^#define\s+(\w+)\s/)?.[1])
    .filter(Boolean);
  const re = a.armPrivate ? /^__(?:ARM_)?NR_([a-z_][a-z0-9_]*)$/ : /^__NR_([a-z_][a-z0-9_]*)$/;
  const candidates = [...new Set(macros)]
    .filter((m) => !NOT_SYSCALLS.has(m) && re.test(m))
    .sort();

  // 2. Expand them (the name is a string literal so it is not expanded itself); keep only plain
  //    integer constant expressions.
  const marked = join(dir, 'expand.c');
  writeFileSync(
    marked,
    '#include <asm/unistd.h>\n' + candidates.map((m) => `@@SYS@@ "${m}" @@=@@ ${m} @@END@@\n`).join(''),
  );
  const expanded = run(CC, [...ccFlags(a), '-E', '-P', marked]).replace(/\s+/g, ' ');
  const exprs = new Map();
  const dropped = [];
  for (const m of expanded.matchAll(/@@SYS@@ "(\w+)" @@=@@ (.*?) @@END@@/g)) {
    const [, macro, expr] = m;
    if (PLAIN_INT_EXPR.test(expr)) exprs.set(macro, expr.trim());
    else dropped.push(`${macro} = ${expr.trim()}`);
  }
  if (exprs.size + dropped.length !== candidates.length) die(`${a.arch}: expansion lost macros`);

  // 3. Let the (host) compiler evaluate the expanded expressions (pure integer arithmetic, so
  //    target-independent). Built as an ordinary host program: no cross headers involved any more.
  const prog = join(dir, 'print.c');
  const exe = join(dir, 'print');
  const lines = [...exprs].map(([m, e]) => `  printf("%s %lld\\n", "${m}", (long long)(${e}));`);
  writeFileSync(prog, `#include <stdio.h>\nint main(void) {\n${lines.join('\n')}\n  return 0;\n}\n`);
  run(CC, ['-Wall', '-Werror', '-o', exe, prog]);
  const table = new Map();
  for (const line of run(exe, []).trim().split('\n')) {
    const [macro, val] = line.split(' ');
    const name = macro.replace(/^__(?:ARM_)?NR_/, '');
    const n = Number(val);
    if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) die(`${a.arch}: ${macro} = ${val} out of range`);
    if (table.has(name) && table.get(name) !== n) die(`${a.arch}: ${name} defined twice (${table.get(name)}, ${n})`);
    table.set(name, n);
  }
  if (table.size === 0) die(`${a.arch}: no syscalls found`);
  return { table, dropped };
}

function sanity(tables) {
  const errs = [];
  for (const [arch, want] of Object.entries(SANITY)) {
    for (const [name, n] of Object.entries(want)) {
      const got = tables[arch].get(name);
      if (got !== n) errs.push(`${arch}.${name}: expected ${n}, got ${got}`);
    }
  }
  for (const [arch, names] of Object.entries(SANITY_ABSENT)) {
    for (const name of names) if (tables[arch].has(name)) errs.push(`${arch}.${name}: should not exist`);
  }
  if (errs.length) die(`sanity check failed:\n  ${errs.join('\n  ')}`);
}

function fmtNum(n) {
  return n >= 0x10000 ? `0x${n.toString(16)}` : String(n);
}

function fmtKey(k) {
  return /^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k);
}

function render(tables, provenance, kernelHeaders) {
  const out = [];
  out.push('// Generated by scripts/gen-syscalls.mjs from the Linux UAPI headers listed below.');
  out.push('// Do not edit; run `node scripts/gen-syscalls.mjs` to regenerate (`--check` to verify).');
  out.push('//');
  for (const p of provenance) out.push(`//   ${p}`);
  out.push('//');
  out.push('// Values are the numbers the kernel sees in seccomp_data.nr: x32 includes __X32_SYSCALL_BIT');
  out.push('// (0x40000000); arm is EABI (__NR_SYSCALL_BASE 0) plus the ARM private syscalls');
  out.push('// (__ARM_NR_*, 0xf0000 + n) under their libseccomp names. Several names may share a number.');
  out.push('');
  out.push(`export type SyscallArch = ${ARCHES.map((a) => `'${a.arch}'`).join(' | ')};`);
  out.push('');
  // One string, split into `'...' +` pieces at ', ' so every line stays < 120 chars.
  const q = (t) => `'${t.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const parts = kernelHeaders.split(/(?<=, )/);
  out.push('export const KERNEL_HEADERS =');
  parts.forEach((p, i) => out.push(`  ${q(p)}${i === parts.length - 1 ? ';' : ' +'}`));
  out.push('');
  out.push('/** name → number as the kernel sees it in seccomp_data.nr, per architecture. */');
  out.push('export const SYSCALLS: Readonly<Record<SyscallArch, Readonly<Record<string, number>>>> = {');
  for (const { arch } of ARCHES) {
    const entries = [...tables[arch]].sort((x, y) => x[1] - y[1] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    out.push(`  ${arch}: {`);
    let line = '   ';
    for (const [name, n] of entries) {
      const item = ` ${fmtKey(name)}: ${fmtNum(n)},`;
      if (line.length + item.length > 116) {
        out.push(line);
        line = '   ';
      }
      line += item;
    }
    if (line.trim()) out.push(line);
    out.push('  },');
  }
  out.push('};');
  out.push('');
  return out.join('\n');
}

function generate() {
  const work = mkdtempSync(join(tmpdir(), 'gen-syscalls-'));
  try {
    const tables = {};
    const dropped = [];
    for (const a of ARCHES) {
      const r = tableFor(a, work);
      tables[a.arch] = r.table;
      for (const d of r.dropped) dropped.push(`${a.arch}: ${d}`);
    }
    sanity(tables);

    // Provenance: owning Debian package + version of every source header, and the UAPI version.
    const byPkg = new Map();
    for (const a of ARCHES) {
      for (const f of [a.source, ...(a.extraSources ?? [])]) {
        const [pkg, ver] = owningPackage(f);
        const key = `${pkg} ${ver}`;
        if (!byPkg.has(key)) byPkg.set(key, { pkg, ver, uapi: uapiVersion(pkg), files: [] });
        byPkg.get(key).files.push(`${f} (${a.arch})`);
      }
    }
    const provenance = [];
    for (const { pkg, ver, uapi, files } of byPkg.values()) {
      provenance.push(`${pkg} ${ver} (Linux ${uapi} UAPI headers):`);
      for (const f of files) provenance.push(`  ${f}`);
    }
    const majors = [...new Set([...byPkg.values()].map((v) => v.uapi.split('.').slice(0, 2).join('.')))];
    const kernelHeaders =
      `Linux ${majors.join('/')} UAPI headers, Debian packages ` + [...byPkg.values()].map((v) => `${v.pkg} ${v.ver}`).join(', ');
    return { text: render(tables, provenance, kernelHeaders), dropped, tables };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function main(args) {
  const check = args.includes('--check');
  const verbose = args.includes('--verbose');
  for (const a of args) if (a !== '--check' && a !== '--verbose') die(`unknown argument ${a}`);

  const { text, dropped, tables } = generate();
  if (verbose) {
    for (const d of dropped) process.stderr.write(`dropped (not a plain integer): ${d}\n`);
    for (const [arch, t] of Object.entries(tables)) {
      process.stderr.write(`${arch}: ${t.size} syscalls, max ${fmtNum(Math.max(...t.values()))}\n`);
    }
  }
  if (check) {
    const current = existsSync(OUT) ? readFileSync(OUT, 'utf8') : '';
    if (current !== text) {
      process.stderr.write(`gen-syscalls: ${OUT} is out of date; run \`node scripts/gen-syscalls.mjs\`\n`);
      return 1;
    }
    process.stdout.write(`gen-syscalls: ${OUT} is up to date\n`);
  } else {
    mkdirSync(dirname(OUT), { recursive: true });
    writeFileSync(OUT, text);
    process.stdout.write(`gen-syscalls: wrote ${OUT}\n`);
  }
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof GenError)) throw e;
  process.stderr.write(`gen-syscalls: ${e.message}\n`);
  process.exitCode = 2;
}
