// A traced syscall's arguments by kind (strace-args.c): the plan names each argument's kind
// (`strace-call`), this prints it as strace would, reading the tracee's memory where the
// argument points to (a path, a buffer, a struct).
#ifndef STRACE_ARGS_H
#define STRACE_ARGS_H
#include "strace-fmt.h"
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

// The kinds, as the plan spells them (PROTOCOL.md `strace-call`). Those from K_OUT on point to
// what the syscall writes: they are printed when it returns.
#define STRACE_KINDS(KIND)                                                                      \
	KIND(D, "d") KIND(LD, "ld") KIND(U, "u") KIND(X, "x") KIND(O, "o") KIND(FD, "fd")       \
	KIND(ATFD, "atfd") KIND(P, "p") KIND(S, "s") KIND(IB, "ib") KIND(IV, "iv")              \
	KIND(OF, "of") KIND(OM, "om") KIND(FL, "fl") KIND(PROT, "prot") KIND(MAPF, "mapf")      \
	KIND(CLONE, "clone") KIND(CF, "cf") KIND(SIG, "sig") KIND(ARGV, "argv")                 \
	KIND(ENVP, "envp") KIND(WHENCE, "whence") KIND(AMODE, "amode") KIND(ATF, "atf")         \
	KIND(HOW, "how") KIND(FCNTL, "fcntl") KIND(FARG, "farg") KIND(IOCTL, "ioctl")           \
	KIND(TS, "ts") KIND(CL3, "cl3") KIND(OUT, "ob") KIND(OV, "ov") KIND(OS, "os")           \
	KIND(WST, "wst") KIND(ST, "st") KIND(PFD, "pfd")
#define STRACE_KIND_(id, name) K_##id,
enum kind { STRACE_KINDS(STRACE_KIND_) K_NKINDS };
#undef STRACE_KIND_

// A return value: decimal, hex, octal, or none (the syscall does not return).
enum ret_kind { R_D, R_X, R_O, R_NONE };

// The kind named by len bytes of s, or -1.
int kind_parse(const char *s, size_t len);
// The return kind named by s (`d`, `x`, `o`, `n`), or -1.
int ret_kind_parse(const char *s);

// One syscall stop of a tracee, as the kinds see it.
struct call_args {
	pid_t pid;
	const uint64_t *args;
	long long ret; // at exit
	int failed;    // at exit: ret is -errno
	size_t max;    // --strace-log-size: bytes of a string or buffer printed
};

// Print argument i of kind k. Returns 0 when strace would leave it out (a mode without O_CREAT,
// the argument of an fcntl command that takes none), the buffer unchanged.
int arg_print(struct sbuf *b, const struct call_args *c, int i, enum kind k);

#endif
