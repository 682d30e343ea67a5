// The Gofer's effects: the one place that touches the host filesystem for a container.
// It validates the bundle and resolves paths inside the rootfs without ever letting a
// symlink lead outside it. For mounts this is a pre-check with clear errors: the rootfs may
// change before they are made (runc's CVE-2021-30465), so nsinit resolves each destination
// again inside the root, with openat2, when it mounts (native/PROTOCOL.md, "Paths in the root").
import fs from 'node:fs';
import path from 'node:path';
import { RunaError } from '../errors.js';
import { readSpec, type Spec } from '../oci/spec.js';
import { isBindMount } from '../oci/plan/mount-options.js';

export { secureJoin } from '../oci/secure-join.js';

export interface Bundle {
  bundle: string;
  spec: Spec;
  rootfs: string;
}

/** Validate a bundle: it exists, config.json is valid, the rootfs is a directory. */
export function loadBundle(bundleArg: string): Bundle {
  const bundle = path.resolve(bundleArg);
  let st: fs.Stats;
  try { st = fs.statSync(bundle); } catch { throw new RunaError('invalid_bundle', `bundle ${bundle} does not exist`); }
  if (!st.isDirectory()) throw new RunaError('invalid_bundle', `bundle ${bundle} is not a directory`);
  const spec = readSpec(bundle);
  const rootfs = path.resolve(bundle, spec.root.path);
  let rst: fs.Stats;
  try { rst = fs.statSync(rootfs); } catch { throw new RunaError('invalid_bundle', `rootfs (${rootfs}) does not exist`); }
  if (!rst.isDirectory()) throw new RunaError('invalid_bundle', `rootfs (${rootfs}) is not a directory`);
  // runc: the rootfs path itself may hold no symlink (a relative one is read from the bundle's
  // physical path), or pivot_root and the mounts below it would act elsewhere than asked.
  const given = path.isAbsolute(spec.root.path) ? path.resolve(spec.root.path) : path.resolve(fs.realpathSync(bundle), spec.root.path);
  if (fs.realpathSync(given) !== given) throw new RunaError('invalid_bundle', `invalid rootfs: not an absolute path, or a symlink (${spec.root.path} is ${fs.realpathSync(given)})`);
  // runc: a relative bind source is the bundle's (runc runs in the bundle), never the caller's
  // cwd; made absolute here, it is also held before a user namespace like any other.
  for (const m of spec.mounts ?? []) {
    if (m.source && !path.isAbsolute(m.source) && isBindMount(m)) m.source = path.join(fs.realpathSync(bundle), m.source);
  }
  return { bundle, spec, rootfs: fs.realpathSync(rootfs) };
}

/** /proc and /sys must be real directories in the rootfs, never symlinks (runc refuses them too). */
export function checkSpecialDirs(rootfs: string, spec: Spec): void {
  for (const m of spec.mounts ?? []) {
    if (m.type !== 'proc' && m.type !== 'sysfs') continue;
    const p = path.join(rootfs, m.destination);
    let st: fs.Stats | undefined;
    try { st = fs.lstatSync(p); } catch { continue; }
    if (st.isSymbolicLink()) throw new RunaError('invalid_rootfs', `${m.type} mount destination ${m.destination} is a symlink in the rootfs: refused (filesystem "${m.type}" must be mounted on ordinary directory)`);
  }
}
