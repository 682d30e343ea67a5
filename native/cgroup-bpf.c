// cgroup-bpf: puts a device program (BPF_PROG_TYPE_CGROUP_DEVICE) on a cgroup v2 directory, or
// lists what is there. The program's instructions come on stdin, compiled by the TypeScript side
// (src/cgroups/devices.ts); this decides nothing about them.
//
//   cgroup-bpf attach DIR   load stdin's program and make it the cgroup's only device program:
//                           attached beside the old ones (BPF_F_ALLOW_MULTI), then the old ones
//                           detached, so that at no moment does the cgroup have none; a single
//                           program attached without ALLOW_MULTI is replaced in one attach.
//   cgroup-bpf query DIR    print the ids of the device programs attached to DIR, one a line.
//
// Exit 0 on success; on failure one line on stderr, "cgroup-bpf: <what> <path>: <strerror>",
// with the verifier's log after it for a refused program, and exit 1.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_INSNS 1000000 // the kernel's BPF_COMPLEXITY_LIMIT_INSNS
#define MAX_PROGS 64

static void __attribute__((noreturn, format(printf, 2, 3))) die_err(int err, const char *f, ...)
{
	va_list ap;
	fputs("cgroup-bpf: ", stderr);
	va_start(ap, f);
	vfprintf(stderr, f, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(err));
	exit(1);
}

static long bpf(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static int open_cgroup(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die_err(errno, "open %s", dir);
	return fd;
}

// The ids of the device programs on the cgroup (not its ancestors'), and how they were attached.
static uint32_t query(int cg, const char *dir, uint32_t *ids, uint32_t *flags)
{
	union bpf_attr a;
	memset(&a, 0, sizeof a);
	a.query.target_fd = cg;
	a.query.attach_type = BPF_CGROUP_DEVICE;
	a.query.prog_ids = (uint64_t)(uintptr_t)ids;
	a.query.prog_cnt = MAX_PROGS;
	if (bpf(BPF_PROG_QUERY, &a) < 0)
		die_err(errno, "query the device programs of %s", dir);
	*flags = a.query.attach_flags;
	return a.query.prog_cnt;
}

static int load(const char *dir)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf)
			die_err(ENOMEM, "read the program for %s", dir);
		ssize_t n = read(0, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die_err(errno, "read the program for %s from stdin", dir);
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
	}
	if (len == 0 || len % sizeof(struct bpf_insn) || len / sizeof(struct bpf_insn) > MAX_INSNS)
		die_err(EINVAL, "the program for %s (%zu bytes: not a whole number of instructions, or too many)", dir, len);
	static char log[65536];
	union bpf_attr a;
	memset(&a, 0, sizeof a);
	a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	a.insns = (uint64_t)(uintptr_t)buf;
	a.insn_cnt = (uint32_t)(len / sizeof(struct bpf_insn));
	a.license = (uint64_t)(uintptr_t) "Apache";
	strncpy(a.prog_name, "runa_devices", sizeof a.prog_name - 1);
	int fd = (int)bpf(BPF_PROG_LOAD, &a);
	if (fd < 0) {
		// Again with the verifier's log, for the error.
		int err = errno;
		a.log_buf = (uint64_t)(uintptr_t)log;
		a.log_size = sizeof log;
		a.log_level = 1;
		if (bpf(BPF_PROG_LOAD, &a) < 0 && log[0])
			fprintf(stderr, "cgroup-bpf: the kernel's verifier said:\n%s", log);
		die_err(err, "load the device program for %s", dir);
	}
	free(buf);
	return fd;
}

static int attach(const char *dir)
{
	int cg = open_cgroup(dir);
	uint32_t ids[MAX_PROGS], flags;
	uint32_t n = query(cg, dir, ids, &flags);
	int prog = load(dir);
	// A lone program attached without ALLOW_MULTI (none or OVERRIDE) is replaced by attaching
	// with the same flags; otherwise attach beside the old ones, then detach them.
	uint32_t mode = n > 0 && !(flags & BPF_F_ALLOW_MULTI) ? flags : BPF_F_ALLOW_MULTI;
	union bpf_attr a;
	memset(&a, 0, sizeof a);
	a.target_fd = cg;
	a.attach_bpf_fd = prog;
	a.attach_type = BPF_CGROUP_DEVICE;
	a.attach_flags = mode;
	if (bpf(BPF_PROG_ATTACH, &a) < 0)
		die_err(errno, "attach the device program to %s", dir);
	if (mode != BPF_F_ALLOW_MULTI)
		return 0;
	for (uint32_t i = 0; i < n; i++) {
		union bpf_attr g;
		memset(&g, 0, sizeof g);
		g.prog_id = ids[i];
		int old = (int)bpf(BPF_PROG_GET_FD_BY_ID, &g);
		if (old < 0) {
			if (errno == ENOENT)
				continue; // detached meanwhile
			die_err(errno, "open device program %u of %s", ids[i], dir);
		}
		union bpf_attr d;
		memset(&d, 0, sizeof d);
		d.target_fd = cg;
		d.attach_bpf_fd = old;
		d.attach_type = BPF_CGROUP_DEVICE;
		if (bpf(BPF_PROG_DETACH, &d) < 0 && errno != ENOENT)
			die_err(errno, "detach the old device program %u from %s", ids[i], dir);
		close(old);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[1], "attach") && strcmp(argv[1], "query"))) {
		fputs("usage: cgroup-bpf attach|query CGROUP_DIR (attach reads the program from stdin)\n", stderr);
		return 2;
	}
	if (!strcmp(argv[1], "attach"))
		return attach(argv[2]);
	uint32_t ids[MAX_PROGS], flags;
	int cg = open_cgroup(argv[2]);
	uint32_t n = query(cg, argv[2], ids, &flags);
	for (uint32_t i = 0; i < n && i < MAX_PROGS; i++)
		printf("%u\n", ids[i]);
	return 0;
}
