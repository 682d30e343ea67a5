// linux.netDevices (runtime-spec 1.3): the runtime's network interfaces moved into the
// container's network namespace at create, renamed as asked, as runc 1.3 does it (nsinit's
// `netdev` ops, native/netdev.c). Checked here, before anything is created, with runc's words.
import fs from 'node:fs';
import { RunaError } from '../errors.js';
import type { PlanOp } from '../nsinit/plan.js';
import type { Spec } from './spec.js';

/** IFNAMSIZ less its NUL: the kernel's longest interface name. */
const IFNAME_MAX = 15;

/**
 * The kernel's dev_valid_name: 1 to 15 bytes, not `.` or `..`, no `/`, `:` or white space
 * (runc's devValidName lets 16 bytes through, which the kernel then refuses).
 */
export function validIfName(name: string): boolean {
  return name.length > 0 && Buffer.byteLength(name) <= IFNAME_MAX && name !== '.' && name !== '..' && !/[/:\s]/.test(name);
}

/** The interfaces of this process's network namespace (/proc/self/net/dev). */
export function runtimeInterfaces(): Set<string> | null {
  try {
    const lines = fs.readFileSync('/proc/self/net/dev', 'utf8').split('\n').slice(2);
    return new Set(lines.map((l) => l.split(':')[0].trim()).filter(Boolean));
  } catch {
    return null;
  }
}

/**
 * The `netdev` ops (one per interface, for the monitor before it enters any namespace) for
 * linux.netDevices, or none. Refused, as runc refuses them: without a network namespace in
 * linux.namespaces, rootless, an invalid name; and, before the kernel would, an interface the
 * runtime's namespace does not have and two interfaces given the same name in the container
 * (a name with `%d` is a template the kernel completes: several may share it). `interfaces`:
 * the runtime's (runtimeInterfaces, read by src/oci/host-facts.ts), null when unknown.
 */
export function netDeviceOps(spec: Spec, c: { types: Set<string>; unprivileged: boolean; interfaces: readonly string[] | null }): PlanOp[] {
  const devices = Object.entries(spec.linux?.netDevices ?? {});
  if (!devices.length) return [];
  const field = 'config.json: linux.netDevices';
  if (!c.types.has('network')) throw new RunaError('invalid_spec', `${field}: unable to move network devices without a NET namespace`);
  if (c.unprivileged) throw new RunaError('invalid_spec', `${field}: network devices are not supported for rootless containers`);
  const present = c.interfaces && new Set(c.interfaces);
  const named = new Map<string, string>();
  const ops: PlanOp[] = [];
  for (const [host, dev] of devices) {
    if (!validIfName(host)) throw new RunaError('invalid_spec', `${field}: invalid network device name ${JSON.stringify(host)}`);
    const name = dev.name || host;
    if (!validIfName(name)) throw new RunaError('invalid_spec', `${field}.${host}.name: invalid network device name ${JSON.stringify(name)}`);
    if (present && !present.has(host)) {
      throw new RunaError('invalid_spec', `${field}: link not found for interface ${host} on runtime namespace`);
    }
    if (!name.includes('%')) {
      const other = named.get(name);
      if (other !== undefined) {
        throw new RunaError('invalid_spec', `${field}: ${other} and ${host} would both be named ${JSON.stringify(name)} in the container`);
      }
      named.set(name, host);
    }
    ops.push({ op: 'netdev', host, name });
  }
  return ops;
}
