// seccomp (seccomp.c): the filter the TypeScript side compiled, its listener, the kernel probe.
#ifndef SECCOMP_H
#define SECCOMP_H
#include <sys/types.h>

// plan ops
void op_seccomp(char **a);
void op_seccomp_listener(char **a);
// The monitor got the child's listener fd: send it to the listener socket (the child's pid in its state).
void seccomp_handover(int listener, pid_t pid);
// `nsinit --probe-seccomp`: what this kernel's seccomp supports, on stdout.
int seccomp_probe(void);

#endif
