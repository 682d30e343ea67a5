// runsc's global --network and --net-raw, as they apply to a container that runs on the host's
// kernel. Pure: a spec in, the spec the container is planned (and kept, for exec) from out.
import { RunaError } from '../../errors.js';
import type { Spec } from '../spec.js';
import type { ProcessSpec } from './common.js';

/** runsc's network types (`invalid network type %q` for any other). */
export const NETWORK_TYPES = ['sandbox', 'host', 'none'] as const;
export type NetworkType = (typeof NETWORK_TYPES)[number];

export function parseNetworkType(value: string): NetworkType {
  if (!(NETWORK_TYPES as readonly string[]).includes(value)) throw new RunaError('invalid_argument', `invalid network type ${JSON.stringify(value)}`);
  return value as NetworkType;
}

/**
 * The container's network namespace under runsc's --network (runsc's sandbox.go: the spec's
 * namespace is joined or created when there is one and the network is not `none`; else `host`
 * is the runtime's namespace and anything else a new, empty one):
 * - `host` (and no flag): the config's namespaces as they are, which is runc's behaviour (runsc's
 *   host passthrough is what runa always does: its containers use the host kernel's stack);
 * - `sandbox`: a network namespace of the container's own where the config names none, so that the
 *   container is never on the runtime's network (runsc's isolation); one the config names is kept;
 * - `none`: a new network namespace with only loopback, whatever the config says (a namespace it
 *   joins by path is not joined); linux.netDevices, which would add interfaces, are refused.
 * A pod's member is not given the flag's namespace: it joins its sandbox's, which the flag made
 * for the sandbox's root (runsc's network is the sandbox's).
 */
export function applyNetworkType(spec: Spec, network: NetworkType | undefined): Spec {
  if (network === undefined || network === 'host') return spec;
  const namespaces = [...(spec.linux?.namespaces ?? [])];
  const at = namespaces.findIndex((n) => n.type === 'network');
  if (network === 'sandbox') {
    if (at >= 0) return spec;
    namespaces.push({ type: 'network' });
  } else {
    if (Object.keys(spec.linux?.netDevices ?? {}).length) {
      throw new RunaError('invalid_spec', 'config.json: linux.netDevices: --network=none gives the container only loopback: no network device can be moved into it');
    }
    if (at >= 0) namespaces[at] = { type: 'network' };
    else namespaces.push({ type: 'network' });
  }
  return { ...spec, linux: { ...spec.linux, namespaces } };
}

/** CAP_NET_RAW's name, as config.json spells it. */
export const NET_RAW = 'CAP_NET_RAW';

/**
 * runsc's --net-raw=false (specutils.Capabilities): CAP_NET_RAW leaves every set of the
 * container's process (runsc drops it from four; runa from the ambient set too, which the kernel
 * would clear anyway). A process without `capabilities` (it keeps the runtime's) is given back as
 * it is: the planner drops CAP_NET_RAW from what it has (nsinit's `capdrop`).
 */
export function withoutNetRaw(proc: ProcessSpec): ProcessSpec {
  const caps = proc.capabilities;
  if (!caps) return proc;
  const drop = (names?: string[]) => names?.filter((n) => n !== NET_RAW);
  const out: NonNullable<ProcessSpec['capabilities']> = {};
  for (const set of ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'] as const) {
    if (caps[set]) out[set] = drop(caps[set]);
  }
  return { ...proc, capabilities: out };
}
