// Test helper: make raw syscalls and print what each returned, optionally under a seccomp
// filter first. `sysprobe [--trap] [--filter FILE] CALL...` (--trap: print "sigsys <nr>" for each
// SIGSYS, which SECCOMP_RET_TRAP sends), CALL = [i386:|x32:]NR[,ARG...] (numbers as
// strtoull reads them). i386 calls go through `int $0x80` (the 32-bit ABI), x32 ones set the
// x32 bit. One line per call: "<ret> <errno>" (errno 0 on success).
// `sysprobe --mempolicy` prints this process's memory policy: "<mode> <nodemask in hex>".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static long int80(unsigned long nr, const unsigned long *a)
{
#if defined(__x86_64__)
	long ret;
	// arg 5 (ebp) is left alone: the compiler may be using it.
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a[0]), "c"(a[1]), "d"(a[2]), "S"(a[3]), "D"(a[4])
			 : "memory", "r8", "r9", "r10", "r11");
	return ret;
#else
	(void)nr, (void)a;
	return -ENOSYS;
#endif
}

static void load(const char *file)
{
	static struct sock_filter prog[BPF_MAXINSNS];
	int fd = open(file, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, prog, sizeof prog);

	if (n <= 0 || n % 8) {
		perror(file);
		exit(2);
	}
	struct sock_fprog fp = {.len = (unsigned short)(n / 8), .filter = prog};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) < 0) {
		perror("seccomp");
		exit(2);
	}
}

static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	char line[32];
	(void)sig, (void)ctx;
	int n = snprintf(line, sizeof line, "sigsys %d\n", si->si_syscall);
	if (write(1, line, (size_t)n) != n)
		_exit(3);
}

int main(int argc, char **argv)
{
	int i = 1;

	if (argc > 1 && strcmp(argv[1], "--mempolicy") == 0) {
		int mode = -1;
		unsigned long mask[16] = {0};
		if (syscall(SYS_get_mempolicy, &mode, mask, sizeof mask * 8, 0, 0) < 0) {
			perror("get_mempolicy");
			return 1;
		}
		printf("%d %lx\n", mode, mask[0]);
		return 0;
	}

	if (argc > 1 && strcmp(argv[1], "--trap") == 0) {
		struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
		sigaction(SIGSYS, &sa, NULL);
		i = 2;
	}

	if (argc > i + 1 && strcmp(argv[i], "--filter") == 0) {
		load(argv[i + 1]);
		i += 2;
	}
	for (; i < argc; i++) {
		unsigned long a[6] = {0}, nr;
		char *p = argv[i], *end;
		int abi = 0;
		long ret;

		if (strncmp(p, "i386:", 5) == 0)
			abi = 1, p += 5;
		else if (strncmp(p, "x32:", 4) == 0)
			abi = 2, p += 4;
		nr = strtoull(p, &end, 0);
		for (int k = 0; k < 6 && *end == ','; k++)
			a[k] = strtoull(end + 1, &end, 0);
		if (abi == 2)
			nr |= 0x40000000UL;
		errno = 0;
		if (abi == 1) {
			ret = int80(nr, a);
			if (ret < 0 && ret > -4096)
				errno = (int)-ret, ret = -1;
		} else {
			ret = syscall((long)nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		}
		// Only write(2) and exit_group(2) run after the filter: a profile under test allows both.
		char line[64];
		int n = snprintf(line, sizeof line, "%ld %d\n", ret, ret == -1 ? errno : 0);
		if (write(1, line, (size_t)n) != n)
			_exit(3);
	}
	_exit(0);
}
