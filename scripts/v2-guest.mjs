#!/usr/bin/env node
// The pure cgroup v2 test machine's kernel (test/helpers/v2-guest.ts): Debian's generic
// kernel package, fetched with apt and unpacked with dpkg-deb into .cache/v2-guest/kernel,
// never installed (the host's /boot and /lib/modules are not touched). Debian's cloud kernel
// has no 9p, which the guest needs to see the host's files, so it is `linux-image-amd64`.
//
//   node scripts/v2-guest.mjs prepare     fetch and unpack (nothing to do when it is there)
//   node scripts/v2-guest.mjs status      where it is, or what is missing
//
// RUNA_V2_GUEST_DIR overrides the directory (default: <repo>/.cache/v2-guest).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = process.env.RUNA_V2_GUEST_DIR || path.join(repo, '.cache', 'v2-guest');
const kernelDir = path.join(dir, 'kernel');
const META = 'linux-image-amd64';

const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });

/** The versioned package the metapackage depends on (linux-image-6.1.0-57-amd64). */
function versionedPackage() {
  const out = sh('apt-cache', ['depends', META]);
  const m = /Depends:\s*(linux-image-[0-9][^\s]*)/.exec(out);
  if (!m) throw new Error(`apt-cache depends ${META}: no linux-image-<version> dependency in:\n${out}`);
  return m[1];
}

/** The unpacked kernel's release (the directory under lib/modules), or null. */
function installedRelease() {
  try {
    const release = fs.readFileSync(path.join(kernelDir, 'RELEASE'), 'utf8').trim();
    if (fs.existsSync(path.join(kernelDir, 'boot', `vmlinuz-${release}`))) return release;
  } catch { /* none */ }
  return null;
}

function prepare() {
  const pkg = versionedPackage();
  const release = pkg.replace(/^linux-image-/, '');
  if (installedRelease() === release) {
    console.log(`v2-guest: kernel ${release} already in ${kernelDir}`);
    return;
  }
  fs.mkdirSync(dir, { recursive: true });
  const work = fs.mkdtempSync(path.join(dir, 'prepare-'));
  try {
    // apt's _apt user cannot write here: it downloads as root instead (and says so on stderr).
    sh('apt-get', ['-o', 'Acquire::Retries=3', 'download', pkg], { cwd: work });
    const deb = fs.readdirSync(work).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg}: no .deb in ${work}`);
    const unpacked = path.join(work, 'kernel');
    sh('dpkg-deb', ['-x', path.join(work, deb), unpacked]);
    if (!fs.existsSync(path.join(unpacked, 'boot', `vmlinuz-${release}`))) throw new Error(`${deb}: no boot/vmlinuz-${release}`);
    fs.writeFileSync(path.join(unpacked, 'RELEASE'), `${release}\n`);
    fs.writeFileSync(path.join(unpacked, 'PACKAGE'), `${deb}\n`);
    fs.rmSync(kernelDir, { recursive: true, force: true });
    fs.renameSync(unpacked, kernelDir);
    console.log(`v2-guest: ${deb} unpacked in ${kernelDir}`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

const cmd = process.argv[2] ?? 'status';
if (cmd === 'prepare') prepare();
else if (cmd === 'status') {
  const release = installedRelease();
  console.log(release ? `v2-guest: kernel ${release} in ${kernelDir}` : `v2-guest: no kernel in ${kernelDir}: node scripts/v2-guest.mjs prepare`);
  process.exitCode = release ? 0 : 1;
} else {
  console.error('usage: node scripts/v2-guest.mjs prepare|status');
  process.exitCode = 2;
}
