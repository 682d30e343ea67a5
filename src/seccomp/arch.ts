// Architectures a filter can name: their audit numbers and how their syscalls are numbered.
import type { SyscallArch } from './syscalls.js';

export interface Arch {
  name: SyscallArch;
  /** AUDIT_ARCH_* as seccomp_data.arch carries it */
  audit: number;
  /** arguments are 64 bits wide (a 32-bit ABI's filter compares the low word only) */
  wide: boolean;
}

const X32_SYSCALL_BIT = 0x40000000;

export const ARCHES: Readonly<Record<SyscallArch, Arch>> = {
  x86_64: { name: 'x86_64', audit: 0xc000003e, wide: true },
  x86: { name: 'x86', audit: 0x40000003, wide: false },
  // x32 shares AUDIT_ARCH_X86_64 and is told apart by bit 30 of the syscall number.
  x32: { name: 'x32', audit: 0xc000003e, wide: false },
  aarch64: { name: 'aarch64', audit: 0xc00000b7, wide: true },
  arm: { name: 'arm', audit: 0x40000028, wide: false },
};
export { X32_SYSCALL_BIT };

/**
 * OCI (libseccomp) architecture names. Those mapped to null are valid names runa has no
 * syscall table for: no process of theirs can run on the hosts runa supports (x86 and arm
 * families), so their syscalls meet the foreign-architecture action like any other.
 */
export const OCI_ARCHES: Readonly<Record<string, SyscallArch | null>> = {
  SCMP_ARCH_X86_64: 'x86_64', SCMP_ARCH_X86: 'x86', SCMP_ARCH_X32: 'x32',
  SCMP_ARCH_AARCH64: 'aarch64', SCMP_ARCH_ARM: 'arm',
  SCMP_ARCH_MIPS: null, SCMP_ARCH_MIPS64: null, SCMP_ARCH_MIPS64N32: null, SCMP_ARCH_MIPSEL: null,
  SCMP_ARCH_MIPSEL64: null, SCMP_ARCH_MIPSEL64N32: null, SCMP_ARCH_PPC: null, SCMP_ARCH_PPC64: null,
  SCMP_ARCH_PPC64LE: null, SCMP_ARCH_S390: null, SCMP_ARCH_S390X: null, SCMP_ARCH_PARISC: null,
  SCMP_ARCH_PARISC64: null, SCMP_ARCH_RISCV64: null, SCMP_ARCH_LOONGARCH64: null, SCMP_ARCH_M68K: null,
  SCMP_ARCH_SH: null, SCMP_ARCH_SHEB: null,
};

/** The architecture this runa runs on: always part of a filter, as libseccomp does. */
export function nativeArch(): SyscallArch {
  switch (process.arch) {
    case 'x64': return 'x86_64';
    case 'ia32': return 'x86';
    case 'arm64': return 'aarch64';
    case 'arm': return 'arm';
    default: throw new Error(`seccomp: no syscall table for this architecture (${process.arch})`);
  }
}
