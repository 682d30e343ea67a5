// Seccomp helpers for tests: Docker-format default profiles turned into OCI `linux.seccomp`
// the way the callers do it, and the host's syscall numbers by name.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SYSCALLS } from '../../src/seccomp/syscalls.js';
import { repo as REPO } from './runa.js';

export const SYSPROBE = path.join(REPO, 'native/test/sysprobe');
export const SECCOMP_AGENT = path.join(REPO, 'native/test/seccomp-agent');

interface DockerRule {
  names: string[]; action: string; errnoRet?: number; args?: unknown[];
  includes?: { caps?: string[]; arches?: string[]; minKernel?: string };
  excludes?: { caps?: string[]; arches?: string[] };
}
interface DockerProfile { defaultAction: string; defaultErrnoRet?: number; archMap?: Array<{ architecture: string; subArchitectures: string[] | null }>; syscalls: DockerRule[] }

const kernelAtLeast = (min: string) => {
  const [a, b] = os.release().split('.').map((n) => parseInt(n, 10));
  const [x, y] = min.split('.').map((n) => parseInt(n, 10));
  return a > x || (a === x && b >= y);
};

/** The default profile of podman or Docker, as the caller would put it in config.json (x86_64 host). */
export function defaultProfile(which: 'podman' | 'docker', caps: string[]): Record<string, unknown> {
  const p = JSON.parse(fs.readFileSync(path.join(REPO, 'test/data', `seccomp-${which}.json`), 'utf8')) as DockerProfile;
  const goArch = 'amd64';
  const main = p.archMap?.find((m) => m.architecture === 'SCMP_ARCH_X86_64');
  const syscalls = p.syscalls.filter((r) => {
    if (r.includes?.arches?.length && !r.includes.arches.includes(goArch)) return false;
    if (r.excludes?.arches?.includes(goArch)) return false;
    if (r.includes?.caps?.some((c) => !caps.includes(c))) return false;
    if (r.excludes?.caps?.some((c) => caps.includes(c))) return false;
    if (r.includes?.minKernel && !kernelAtLeast(r.includes.minKernel)) return false;
    return true;
  }).map((r) => ({ names: r.names, action: r.action, ...(r.errnoRet !== undefined ? { errnoRet: r.errnoRet } : {}), ...(r.args?.length ? { args: r.args } : {}) }));
  return {
    defaultAction: p.defaultAction,
    ...(p.defaultErrnoRet !== undefined ? { defaultErrnoRet: p.defaultErrnoRet } : {}),
    architectures: main ? [main.architecture, ...(main.subArchitectures ?? [])] : ['SCMP_ARCH_X86_64'],
    syscalls,
  };
}

/** x86_64 syscall number by name. */
export function nr(name: string): number {
  const n = SYSCALLS.x86_64[name];
  if (n === undefined) throw new Error(`no syscall ${name}`);
  return n;
}
