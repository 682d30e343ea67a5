// Attributes of the container's process that outlive exec: scheduling policy, I/O priority, CPU
// affinity, personality, memory policy, session keyring, working directory, umask and session.
// Each op takes the numbers the TypeScript side computed (src/oci/process-attrs.ts) and makes one
// checked syscall.
#include "nsinit.h"
#include "process.h"
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/keyctl.h>
#include <stdio.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

// struct sched_attr (linux/sched/types.h), its first version: glibc before 2.41 has no wrapper.
struct runa_sched_attr {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
};

// sched POLICY FLAGS NICE PRIORITY RUNTIME DEADLINE PERIOD: sched_setattr(2) on this process.
void op_sched(char **a)
{
	struct runa_sched_attr at = {
		.size = sizeof at,
		.sched_policy = (uint32_t)num64(a[0]),
		.sched_flags = num64(a[1]),
		.sched_nice = (int32_t)strtol(a[2], NULL, 0),
		.sched_priority = (uint32_t)num64(a[3]),
		.sched_runtime = num64(a[4]),
		.sched_deadline = num64(a[5]),
		.sched_period = num64(a[6]),
	};
	TRY(syscall(SYS_sched_setattr, 0, &at, 0), "sched_setattr policy %s flags %s nice %s priority %s", a[0], a[1], a[2], a[3]);
}

// ioprio VALUE: ioprio_set(IOPRIO_WHO_PROCESS, 0, VALUE), VALUE = class << 13 | level.
void op_ioprio(char **a)
{
	TRY(syscall(SYS_ioprio_set, 1, 0, (int)num64(a[0])), "ioprio_set \"%s\"", a[0]);
}

// affinity CPUS: sched_setaffinity to the comma-separated CPU numbers.
void op_affinity(char **a)
{
	unsigned long max = 0;
	for (char *p = a[0]; *p;) {
		unsigned long c = strtoul(p, &p, 10);
		if (c > max)
			max = c;
		if (*p == ',')
			p++;
		else if (*p)
			die_err(EINVAL, "affinity \"%s\"", a[0]);
	}
	size_t size = CPU_ALLOC_SIZE(max + 1);
	cpu_set_t *set = CPU_ALLOC(max + 1);
	if (!set)
		die("affinity \"%s\": CPU_ALLOC", a[0]);
	CPU_ZERO_S(size, set);
	for (char *p = a[0]; *p;) {
		unsigned long c = strtoul(p, &p, 10);
		CPU_SET_S(c, size, set);
		if (*p == ',')
			p++;
	}
	TRY(sched_setaffinity(0, size, set), "sched_setaffinity \"%s\"", a[0]);
	CPU_FREE(set);
}

// mempolicy MODE NODES: set_mempolicy(MODE, the comma-separated nodes as a mask).
void op_mempolicy(char **a)
{
	unsigned long mask[1024 / (8 * sizeof(unsigned long))] = {0};
	unsigned long maxnode = 0;
	for (char *p = a[1]; *p;) {
		unsigned long n = strtoul(p, &p, 10);
		if (n >= sizeof mask * 8 || (*p && *p != ','))
			die_err(EINVAL, "mempolicy \"%s\" \"%s\"", a[0], a[1]);
		mask[n / (8 * sizeof(unsigned long))] |= 1UL << (n % (8 * sizeof(unsigned long)));
		if (n + 2 > maxnode)
			maxnode = n + 2; // the kernel reads maxnode - 1 bits
		if (*p == ',')
			p++;
	}
	TRY(syscall(SYS_set_mempolicy, (int)num64(a[0]), maxnode ? mask : NULL, maxnode), "set_mempolicy mode %s nodes \"%s\"", a[0], a[1]);
}

// personality VALUE: the execution domain and flags, as personality(2) takes them.
void op_personality(char **a)
{
	TRY(personality((unsigned long)num64(a[0])), "personality \"%s\"", a[0]);
}

// keyring NAME MASK SET: join (or make) the session keyring NAME, then set its permissions to
// (perm & MASK) | SET. Without keyrings in the kernel (ENOSYS) the caller's stays, as in runc.
void op_keyring(char **a)
{
	long id = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, a[0], 0, 0, 0);
	if (id < 0 && errno == ENOSYS)
		return;
	if (id < 0)
		die("keyring \"%s\": join session keyring", a[0]);
	char desc[512];
	long n = syscall(SYS_keyctl, KEYCTL_DESCRIBE, id, desc, sizeof desc - 1, 0);
	if (n < 0)
		die("keyring \"%s\": describe", a[0]);
	desc[n < (long)sizeof desc ? n : (long)sizeof desc - 1] = 0;
	// "type;uid;gid;perm;description", perm in hex
	char *p = desc;
	for (int i = 0; i < 3 && p; i++)
		p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL;
	if (!p)
		die_err(EINVAL, "keyring \"%s\": describe gave \"%s\"", a[0], desc);
	unsigned long perm = strtoul(p, NULL, 16);
	perm = (perm & num64(a[1])) | num64(a[2]);
	if (syscall(SYS_keyctl, KEYCTL_SETPERM, id, perm, 0, 0) < 0)
		die("keyring \"%s\": setperm 0x%lx", a[0], perm);
}

void op_chdir(char **a) { TRY(chdir(a[0]), "chdir \"%s\"", a[0]); }

// chdir-early PATH, while still root: a permission error leaves PATH to chdir-late, which tries
// again as the process's user (runc: a cwd only root can enter, or only the user can).
static const char *chdir_pending;
void op_chdir_early(char **a)
{
	if (chdir(a[0]) == 0)
		return;
	if (errno != EACCES && errno != EPERM)
		die("chdir \"%s\"", a[0]);
	chdir_pending = a[0];
}
void op_chdir_late(char **a)
{
	(void)a;
	if (chdir_pending)
		TRY(chdir(chdir_pending), "chdir \"%s\"", chdir_pending);
}
void op_umask(char **a) { umask((mode_t)num(a[0])); }
void op_setsid(char **a) { (void)a; TRY(setsid(), "setsid"); }
