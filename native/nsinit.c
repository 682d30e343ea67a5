// nsinit: executes a plan computed by runa's TypeScript side (see PROTOCOL.md), then
// monitors the container process. No policy lives here: every decision is in the plan.
// This file reads and checks the plan and runs its ops; the ops live in the files of their
// group (ns.c, userns.c, mounts.c, masks.c, held.c, copyup.c, console.c, process.c, creds.c,
// seccomp.c, netdev.c, child.c), the monitor in monitor.c.
#include "nsinit.h"
#include "child.h"
#include "console.h"
#include "copyup.h"
#include "creds.h"
#include "held.h"
#include "masks.h"
#include "monitor.h"
#include "mounts.h"
#include "netdev.h"
#include "ns.h"
#include "plan.h"
#include "process.h"
#include "restore.h"
#include "seccomp.h"
#include "strace.h"
#include "userns.h"
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		die("calloc");
	return p;
}

// ---- the plan file ----

// What runs each op of the plan (plan.h has the grammar).
static void (*const run[PLAN_NOPS])(char **args) = {
#define RUN_(id, name, args) [PLAN_##id] = op_##id,
	PLAN_OPS(RUN_)
#undef RUN_
};

// A hookpoint needs a spawner that answers on fd 3: a socket (a pipe is one-way).
static void check_sync_socket(const char *name)
{
	struct stat st;

	if (sync_fd < 0)
		die_err(EBADF, "hookpoint \"%s\": fd 3 is not open, nobody could answer", name);
	TRY(fstat(sync_fd, &st), "hookpoint \"%s\": fstat fd 3", name);
	if (!S_ISSOCK(st.st_mode))
		die_err(ENOTSOCK, "hookpoint \"%s\": fd 3 is not a socket, nobody could answer", name);
}

// Read the whole plan; *len bytes, NUL-terminated tokens or not (plan_decode checks).
static char *read_plan(const char *path, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = xcalloc(cap, 1), *more;
	ssize_t r;
	int fd;

	TRY((fd = open(path, O_RDONLY | O_CLOEXEC)), "open plan \"%s\"", path);
	while ((r = read(fd, buf + n, cap - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		TRY(r, "read plan \"%s\"", path);
		if ((n += (size_t)r) == cap) {
			if (!(more = realloc(buf, cap *= 2)))
				die("read plan \"%s\"", path);
			buf = more;
		}
	}
	TRY(close(fd), "close plan \"%s\"", path);
	*len = n;
	return buf;
}

// --strace PLANFILE: a plan of `strace` and `strace-call` ops only, run by the monitor before the
// main plan (the caller writes it; the main plan is the daemon's).
static void read_strace_plan(const char *path)
{
	char msg[MSG_MAX], *buf;
	struct plan p;
	size_t n, i;

	buf = read_plan(path, &n); // kept: the ops keep pointers into it
	if (plan_decode(buf, n, path, &p, msg, sizeof msg) < 0)
		die_err(errno, "%s", msg);
	for (i = 0; i < p.nsteps; i++)
		if (p.step[i].op != PLAN_strace && p.step[i].op != PLAN_strace_call)
			die_err(EINVAL, "strace plan \"%s\": op \"%s\" is not a strace op", path, plan_op_name(p.step[i].op));
	for (i = 0; i < p.nsteps; i++)
		run[p.step[i].op](p.step[i].args);
}

int main(int argc, char **argv)
{
	const char *strace_plan = NULL;
	size_t n, i;

	fail_cleanup = monitor_cleanup;
	for (;;) {
		// `--preserve-fds N`: fds 3 .. 2+N are the process's (runc's flag), the sync channel follows them.
		if (argc >= 4 && strcmp(argv[1], "--preserve-fds") == 0 && plan_is_num(argv[2]) && num(argv[2]) < 1024) {
			preserved = (int)num(argv[2]);
			argv += 2;
			argc -= 2;
		} else if (argc >= 3 && strcmp(argv[1], "--no-pivot") == 0) { // runc's flag: MS_MOVE and chroot
			mounts_no_pivot();
			argv++;
			argc--;
		} else if (argc >= 3 && strcmp(argv[1], "--start") == 0) { // run: the gate opens after `created`
			monitor_start_at_once();
			argv++;
			argc--;
		} else if (argc >= 4 && strcmp(argv[1], "--strace") == 0) { // runsc's --strace: the tracer's plan
			strace_plan = argv[2];
			argv += 2;
			argc -= 2;
		} else
			break;
	}
	// Checked before we open anything, which could otherwise land on the sync fd.
	if (fcntl(3 + preserved, F_GETFD) >= 0) {
		sync_fd = 3 + preserved;
		TRY(fcntl(sync_fd, F_SETFD, FD_CLOEXEC), "fcntl sync pipe");
	}
	if (argc == 2 && strcmp(argv[1], "--probe-seccomp") == 0)
		return seccomp_probe();
	if (argc != 2)
		die_err(EINVAL, "usage: nsinit [--preserve-fds N] [--no-pivot] [--start] [--strace PLANFILE] PLANFILE | --probe-seccomp");
	// CVE-2019-5736: until it execs the container's program, every process of ours that a
	// container can see (an exec'd process between joining its pid namespace and execve, an
	// init waiting for start) must not be reachable through /proc/<pid>/exe (the host's
	// nsinit), nor its memory or fds. Not dumpable, only CAP_SYS_PTRACE in our user namespace
	// reaches them; execve of the program makes it dumpable again.
	TRY(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl PR_SET_DUMPABLE");
	// The monitor takes these through signalfd; blocked before fork so none is lost.
	monitor_block_signals(&old_mask);
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) // a vanished reader must not kill the monitor
		die("signal SIGPIPE");

	char msg[MSG_MAX], *buf = read_plan(argv[1], &n);
	struct plan plan;
	if (plan_decode(buf, n, argv[1], &plan, msg, sizeof msg) < 0)
		die_err(errno, "%s", msg);
	// fd 3 is checked before running any of it, like the plan.
	for (i = 0; i < plan.nsteps; i++)
		if (plan.step[i].op == PLAN_hookpoint)
			check_sync_socket(plan.step[i].args[0]);
	exec_init(xcalloc(plan.ntok + 1, sizeof(char *)), xcalloc(plan.ntok + 1, sizeof(char *)));
	if (strace_plan)
		read_strace_plan(strace_plan);
	for (i = 0; i < plan.nsteps; i++)
		run[plan.step[i].op](plan.step[i].args);
	die_err(EINVAL, "plan: ended without \"exec\"");
}
