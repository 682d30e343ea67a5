/** What a container is, as its create recorded it (persisted with its state). */
export interface ContainerRecord {
  id: string;
  stateDir: string;
  ociVersion: string;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
  cgroup?: { path: string; createdDirs: string[]; usedDirs?: string[] };
  /** the caller supervises the init (--pid-file): see PlanInput.supervised */
  supervised?: boolean;
  /** the sandbox this container is a member of; absent for a sandbox's root (the sandbox id is its id) */
  sandbox?: string;
  /** created with --no-new-keyring: its processes keep their caller's session keyring */
  noNewKeyring?: boolean;
  /** linux.intelRdt: its class of service directory, and whether runa made it */
  rdt?: { dir: string; created: boolean };
}
