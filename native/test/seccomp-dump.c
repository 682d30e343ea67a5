// Bench helper: `seccomp-dump PID` writes the newest seccomp filter of process PID to stdout
// as the kernel holds it (struct sock_filter array), through PTRACE_SECCOMP_GET_FILTER.
// Used to compare runa's filters with the ones runc loads (libseccomp's) for the same profile.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif

int main(int argc, char **argv)
{
	static struct sock_filter prog[BPF_MAXINSNS];
	pid_t pid;
	long n;

	if (argc != 2)
		return fprintf(stderr, "usage: seccomp-dump PID\n"), 2;
	pid = (pid_t)atoi(argv[1]);
	if (ptrace(PTRACE_SEIZE, pid, 0, 0) < 0 || ptrace(PTRACE_INTERRUPT, pid, 0, 0) < 0 || waitpid(pid, NULL, __WALL) < 0)
		return perror("ptrace attach"), 1;
	// Filter 0 is the newest one: the container's own, whatever its runtime stacked before.
	n = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, prog);
	int err = errno;
	ptrace(PTRACE_DETACH, pid, 0, 0);
	if (n < 0)
		return errno = err, perror("PTRACE_SECCOMP_GET_FILTER"), 1;
	if (fwrite(prog, sizeof prog[0], (size_t)n, stdout) != (size_t)n)
		return perror("write"), 1;
	return 0;
}
