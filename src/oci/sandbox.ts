// Pods as callers describe them: the CRI annotations containerd (Kubernetes) and CRI-O/podman
// put on a pod's containers, and what joining a sandbox changes in a member's spec.
import { RunaError } from '../errors.js';
import type { Spec } from './spec.js';

/** containerd's CRI plugin (and runsc's names for them). */
export const CRI_CONTAINER_TYPE = 'io.kubernetes.cri.container-type';
export const CRI_SANDBOX_ID = 'io.kubernetes.cri.sandbox-id';
/** CRI-O's, which podman puts on a pod's containers (the infra container has none). */
export const CRIO_CONTAINER_TYPE = 'io.kubernetes.cri-o.ContainerType';
export const CRIO_SANDBOX_ID = 'io.kubernetes.cri-o.SandboxID';

/**
 * runsc's rules: no container type, or `sandbox`, makes a new sandbox whose id is the
 * container's; `container` joins the sandbox named by the sandbox id. Returns the sandbox to
 * join, or null for a new one.
 */
export function sandboxToJoin(annotations: Record<string, string> | undefined): string | null {
  const a = annotations ?? {};
  const type = a[CRI_CONTAINER_TYPE] ?? a[CRIO_CONTAINER_TYPE];
  if (type === undefined || type === 'sandbox') return null;
  if (type !== 'container') throw new RunaError('invalid_spec', `unknown container-type: ${type}`);
  const sandbox = a[CRI_SANDBOX_ID] ?? a[CRIO_SANDBOX_ID];
  if (!sandbox) throw new RunaError('invalid_spec', `spec has container-type of ${type}, but no sandbox ID set`);
  return sandbox;
}

type Namespace = NonNullable<NonNullable<Spec['linux']>['namespaces']>[number];

/** The namespaces a member always shares with its sandbox, and their names under /proc/<pid>/ns. */
const SHARED: Array<[Namespace['type'], string]> = [['network', 'net'], ['ipc', 'ipc'], ['uts', 'uts']];

/**
 * A member's spec as it runs in the sandbox whose root init is `rootPid`:
 * - it joins the sandbox's network, IPC and UTS namespaces (the hostname is the root's, as in runsc);
 * - it joins the sandbox's pid namespace unless it asks for one of its own (a `pid` entry with no path);
 * - a namespace the spec names by path is joined as the spec says.
 */
export function joinSandbox(spec: Spec, rootPid: number): Spec {
  const namespaces = [...(spec.linux?.namespaces ?? [])];
  const at = (type: string) => namespaces.findIndex((n) => n.type === type);
  const join = (type: Namespace['type'], name: string) => {
    const i = at(type);
    if (i >= 0 && namespaces[i].path) return; // the spec's own path wins
    const entry: Namespace = { type, path: `/proc/${rootPid}/ns/${name}` };
    if (i >= 0) namespaces[i] = entry;
    else namespaces.push(entry);
  };
  for (const [type, name] of SHARED) join(type, name);
  if (at('pid') < 0) join('pid', 'pid');
  const joinedUts = namespaces[at('uts')]?.path !== undefined;
  const out: Spec = { ...spec, linux: { ...spec.linux, namespaces } };
  if (joinedUts) delete out.hostname;
  return out;
}
