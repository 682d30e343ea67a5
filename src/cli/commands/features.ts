import type { Command } from '../command.js';
import { parseFlags, usage } from '../flags.js';
import { SPEC_VERSION, VERSION } from '../../version.js';
import { ACTIONS, FLAGS, OCI_ARCHES, OPERATORS } from '../../seccomp/index.js';
import { supportedFlagNames } from '../../seccomp/probe.js';

/** What this build of runa supports, in the shape of runc's `features` (runtime-spec features.md). */
export function features() {
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
      namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts'],
      capabilities: [],
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false },
      seccomp: {
        enabled: true,
        actions: [...ACTIONS].sort(),
        operators: [...OPERATORS].sort(),
        archs: Object.keys(OCI_ARCHES).sort(),
        knownFlags: Object.keys(FLAGS),
        supportedFlags: supportedFlagNames(),
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
      // As runc 1.3 reports them (idmap/ridmap are not in its mountOptions either).
      mountExtensions: { idmap: { enabled: true } },
      netDevices: { enabled: true },
    },
    annotations: { 'org.opencontainers.runc.checkpoint.enabled': 'false', 'io.github.runa.version': VERSION },
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
