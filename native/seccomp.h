// seccomp (seccomp.c): the filter the TypeScript side compiled, its listener, the kernel probe.
#ifndef SECCOMP_H
#define SECCOMP_H
#include <sys/types.h>

// A filter of the `seccomp` op (loaded by child.c's op_seccomp or op_exec).
struct seccomp_prog {
	unsigned long flags;  // seccomp(2) flags
	unsigned char *bytes; // the struct sock_filter array (malloc'd)
	size_t len;           // instructions
};
// Decode `seccomp FLAGS PROGRAM`'s arguments; dies naming what is wrong.
void seccomp_decode(char **a, struct seccomp_prog *p);
// Whether it asks for a listener fd (SECCOMP_FILTER_FLAG_NEW_LISTENER).
int seccomp_wants_listener(const struct seccomp_prog *p);
// Load it (and free the program): the listener fd if it asked for one, else -1. Dies on failure.
int seccomp_load(struct seccomp_prog *p);

// plan op (the monitor's): where a listener fd goes
void op_seccomp_listener(char **a);
// The monitor got the child's listener fd: send it to the listener socket (the child's pid in its state).
void seccomp_handover(int listener, pid_t pid);
// `nsinit --probe-seccomp`: what this kernel's seccomp supports, on stdout.
int seccomp_probe(void);

#endif
