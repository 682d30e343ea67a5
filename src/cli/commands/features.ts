import type { Command } from '../command.js';
import { parseFlags, usage } from '../flags.js';
import { SPEC_VERSION, VERSION } from '../../version.js';
import { ACTIONS, FLAGS, OCI_ARCHES, OPERATORS } from '../../seccomp/index.js';
import { supportedFlagNames } from '../../seccomp/probe.js';
import { CAPABILITIES } from '../../oci/linux.js';
import { MPOL_FLAGS, MPOL_MODES } from '../../oci/process-attrs.js';
import { hostSecurity } from '../../oci/security.js';
import { onPath } from '../../which.js';

/** What this build of runa supports, in the shape of runc's `features` (runtime-spec features.md). */
export function features() {
  const host = hostSecurity();
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: SPEC_VERSION,
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    mountOptions: [
      'async', 'atime', 'bind', 'defaults', 'dev', 'diratime', 'dirsync', 'exec', 'lazytime', 'mand', 'noatime',
      'nodev', 'nodiratime', 'noexec', 'nolazytime', 'nomand', 'norelatime', 'nostrictatime', 'nosuid',
      'nosymfollow', 'private', 'ratime', 'rbind', 'rdev', 'rdiratime', 'relatime', 'remount', 'rexec', 'rnoatime',
      'rnodev', 'rnodiratime', 'rnoexec', 'rnorelatime', 'rnostrictatime', 'rnosuid', 'rnosymfollow', 'ro',
      'rprivate', 'rrelatime', 'rro', 'rrw', 'rshared', 'rslave', 'rstrictatime', 'rsuid', 'rsymfollow',
      'runbindable', 'rw', 'shared', 'slave', 'strictatime', 'suid', 'symfollow', 'sync', 'tmpcopyup', 'unbindable'],
    linux: {
      namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'time', 'user', 'uts'],
      capabilities: [...CAPABILITIES],
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: true },
      seccomp: {
        enabled: true,
        actions: [...ACTIONS].sort(),
        operators: [...OPERATORS].sort(),
        archs: Object.keys(OCI_ARCHES).sort(),
        knownFlags: Object.keys(FLAGS),
        supportedFlags: supportedFlagNames(),
      },
      // What this host has: runa applies a profile or label where it does, refuses one where not.
      apparmor: { enabled: host.apparmor },
      selinux: { enabled: host.selinux },
      intelRdt: { enabled: host.resctrl },
      memoryPolicy: { modes: Object.keys(MPOL_MODES), flags: Object.keys(MPOL_FLAGS) },
      // As runc 1.3 reports them (idmap/ridmap are not in its mountOptions either).
      mountExtensions: { idmap: { enabled: true } },
      netDevices: { enabled: true },
    },
    // checkpoint/restore go through CRIU: enabled where a criu binary is there to run.
    annotations: { 'org.opencontainers.runc.checkpoint.enabled': String(onPath('criu') !== null), 'io.github.runa.version': VERSION },
  };
}

const cmd: Command = {
  summary: 'show the enabled features',
  description: 'The OCI runtime features document (JSON): what this runa supports.',
  flags: {},
  async run(ctx, args) {
    const { positionals } = parseFlags(args, this.flags);
    if (positionals.length) throw usage('"features" takes no arguments');
    ctx.out(JSON.stringify(features(), null, 4) + '\n');
    return 0;
  },
};
export default cmd;
