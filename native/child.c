// The container process's side of nsinit: the monitor forks it (or clones it as the spawner's
// child), it runs the rest of the plan, reports to the monitor over the setup socket, waits at
// the gate until `start`, and execs the program.
#include "nsinit.h"
#include "child.h"
#include "console.h"
#include "hook.h"
#include "monitor.h"
#include "seccomp.h"
#include "strace.h"
#include "unixsock.h"
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

// clone3's arguments up to `cgroup` (linux/sched.h's struct clone_args, CLONE_ARGS_SIZE_VER2).
struct clone_args_cg {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

int preserved;
sigset_t old_mask;
static int child_pidfd = -1; // fork-sibling: the child is not ours to reap, its pidfd says when it exits
static int pidfd_sock = -1;  // pidfd-socket: where the child's pidfd goes once it is forked
static int gate_pipe[2] = {-1, -1};  // monitor -> child: one byte opens the gate
static pid_t child = -1;
static char **prog_argv, **prog_env;
static size_t prog_argc, prog_envc;
static int fds_marked;                  // every fd from 3 + preserved up is close-on-exec already
static struct seccomp_prog late_filter; // a `seccomp` after the gate: exec loads it
static unsigned long long gate_signals; // `gate-signals`: these end the child while it waits at the gate

void exec_init(char **argv, char **env)
{
	prog_argv = argv;
	prog_env = env;
}

// The container starts with default dispositions and the spawner's mask, as if exec'd directly.
static void reset_signals(void)
{
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL); // fails harmlessly for SIGKILL, SIGSTOP and libc-reserved signals
	TRY(sigprocmask(SIG_SETMASK, &old_mask, NULL), "sigprocmask");
}

// Nothing but stdio (and the preserved fds) may leak into the container, whatever fds the
// spawner handed us.
static void cloexec_from_3(void)
{
	unsigned int first = 3U + (unsigned int)preserved;
	struct rlimit rl;

	if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	if (errno != ENOSYS && errno != EINVAL) // EINVAL: kernel without CLOSE_RANGE_CLOEXEC
		die("close_range");
	TRY(getrlimit(RLIMIT_NOFILE, &rl), "getrlimit");
	for (rlim_t fd = first; fd < rl.rlim_cur && fd < (1 << 20); fd++)
		if (fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0 && errno != EBADF)
			die("fcntl %d", (int)fd);
}

// The child created in the cgroup2 directory open as cgfd: clone3(CLONE_INTO_CGROUP), Linux 5.7
// (it takes cgroup_threadgroup_rwsem for reading; a write of cgroup.procs takes it for writing).
// Returns its pid (0 in the child), or -1 with errno where the kernel cannot, and the caller then
// forks and the child writes itself into cgroup.procs, as the plan did before, same result:
//   ENOSYS  no clone3 (Linux < 5.3), or a seccomp filter that does not know it (Docker's default
//           profile answers ENOSYS, so that libc falls back to clone);
//   E2BIG   a clone3 without the `cgroup` field (Linux 5.3 to 5.6: these arguments are larger
//           than it knows, and not zero past its end);
//   EINVAL  a clone3 that knows the field but not the flag;
//   EPERM   a seccomp filter that denies clone3 (older container profiles);
//   EAGAIN  the cgroup's (or an ancestor's) pids.max: a process cloned into it is charged against
//           the limit, one written into cgroup.procs is not (a migration is a forced charge), so
//           the fork and write start it as before (pids.limit 0 too). An EAGAIN of another cause
//           (RLIMIT_NPROC, the monitor's own cgroup) fails that fork as it failed before;
//   ENOSPC  a pid namespace too many (nesting, max_pid_namespaces), or a cpuset without CPUs or
//           memory nodes: the unshare or the write that follow fail with it, in their words.
// Any other errno is what the write would have met, and fails the op naming the directory:
// EBUSY (controllers enabled for the cgroup's children), EOPNOTSUPP (a domain-invalid cgroup),
// EACCES, ENOENT (not below the caller's cgroup namespace, under nsdelegate), ENODEV (removed).
// With newpid the clone makes the child's pid namespace too (CLONE_NEWPID): the kernel gives the
// child its pid before the cgroup may refuse it, and a namespace unshared beforehand whose first
// process failed so takes no other (ENOMEM), so the fork after an EAGAIN needs a fresh one.
static pid_t clone_into(int sibling, int cgfd, int newpid)
{
	struct clone_args_cg args = {
		.flags = CLONE_INTO_CGROUP | (sibling ? CLONE_PARENT : 0) | (newpid ? CLONE_NEWPID : 0),
		.exit_signal = SIGCHLD, // with CLONE_PARENT the kernel gives the monitor's own instead
		.cgroup = (uint64_t)cgfd,
	};
	return (pid_t)syscall(SYS_clone3, &args, sizeof args);
}

// The child's `write "0" to "CGROUP/cgroup.procs"`, through the directory's fd, with that op's words.
static void join_by_write(int cgfd, const char *cgroup)
{
	int fd;

	TRY((fd = openat(cgfd, "cgroup.procs", O_WRONLY | O_CLOEXEC | O_NOFOLLOW)), "write \"0\" to \"%s/cgroup.procs\"", cgroup);
	TRY(write_all(fd, "0", 1), "write \"0\" to \"%s/cgroup.procs\"", cgroup);
	TRY(close(fd), "write \"0\" to \"%s/cgroup.procs\"", cgroup);
}

// fork (the monitor is the child's parent) or fork-sibling: clone(CLONE_PARENT), so the child is
// the spawner's child and, once the spawner exits, its subreaper's, which then reaps it and owns
// its exit status (OCI callers with --pid-file). The monitor watches a sibling through a pidfd.
// With a CGROUP (a cgroup2 directory) the child is created in it (clone_into), or where the
// kernel cannot, writes itself into its cgroup.procs right after the fork. With newpid it is the
// first process of a new pid namespace: made by the clone, or unshared right before the fork.
static void spawn_child(int sibling, const char *cgroup, int newpid)
{
	const char *op = sibling ? "fork-sibling" : "fork";
	int cgfd = -1, in_cgroup = 0;

	TRY(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, setup_sock), "%s: socketpair", op);
	TRY(pipe2(gate_pipe, O_CLOEXEC), "%s: pipe2", op);
	TRY(pipe2(exec_pipe, O_CLOEXEC), "%s: pipe2", op);
	if (*cgroup) {
		// O_PATH is enough: the kernel checks write access to its cgroup.procs as the write would.
		TRY((cgfd = open(cgroup, O_PATH | O_DIRECTORY | O_CLOEXEC)), "%s: open the cgroup \"%s\"", op, cgroup);
		if ((child = clone_into(sibling, cgfd, newpid)) >= 0)
			in_cgroup = 1;
		else if (errno != ENOSYS && errno != E2BIG && errno != EINVAL && errno != EPERM && errno != EAGAIN && errno != ENOSPC)
			die("%s into the cgroup \"%s\"", op, cgroup);
	}
	if (!in_cgroup && newpid)
		TRY(unshare(CLONE_NEWPID), "%s: unshare \"pid\"", op);
	if (!in_cgroup && sibling)
		TRY((child = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL, 0)), "fork-sibling: clone");
	else if (!in_cgroup)
		TRY((child = fork()), "fork");
	if (child > 0) {
		close_fd(&cgfd);
		monitor_child(child);
		if (sibling)
			TRY((child_pidfd = (int)syscall(SYS_pidfd_open, child, 0)), "fork-sibling: pidfd_open %d", (int)child);
		if (pidfd_sock >= 0) {
			int pfd = sibling ? child_pidfd : (int)syscall(SYS_pidfd_open, child, 0);
			TRY(pfd, "pidfd-socket: pidfd_open %d", (int)child);
			TRY(send_fd(pidfd_sock, "pidfd", pfd), "pidfd-socket: send the pidfd of %d", (int)child);
			if (pfd != child_pidfd)
				close(pfd);
			close_fd(&pidfd_sock);
		}
		for (int fd = 3; fd < 3 + preserved; fd++) // the caller's fds are the process's, not ours to hold
			close(fd);
		close_fd(&setup_sock[1]);
		close_fd(&gate_pipe[0]);
		close_fd(&exec_pipe[1]);
		console_drop_socket();
		monitor_run(gate_pipe[1], child_pidfd);
	}
	phase = CHILD_SETUP;
	close_fd(&pidfd_sock);
	close_fd(&setup_sock[0]);
	close_fd(&gate_pipe[1]); // so the gate reads EOF if the monitor dies
	close_fd(&exec_pipe[0]);
	monitor_leave();
	reset_signals();
	if (cgfd >= 0 && !in_cgroup) // the kernel could not clone into it: the plan's write of before
		join_by_write(cgfd, cgroup);
	close_fd(&cgfd);
}

// pidfd-socket PATH: connect now (the monitor, with the caller's view of PATH); the pidfd of the
// child forked next is sent there with SCM_RIGHTS, as runc's --pidfd-socket does.
void op_pidfd_socket(char **a)
{
	close_fd(&pidfd_sock);
	pidfd_sock = unix_connect("pidfd-socket", a[0]);
}

void op_fork(char **a)
{
	spawn_child(0, a[0], num(a[1]) != 0);
}

void op_fork_sibling(char **a)
{
	spawn_child(1, a[0], num(a[1]) != 0);
}

void op_pdeathsig(char **a)
{
	TRY(prctl(PR_SET_PDEATHSIG, num(a[0]), 0, 0, 0), "pdeathsig \"%s\"", a[0]);
	// A monitor that died between the fork and now sent no signal: go as if it had. (Its end of
	// the gate pipe is closed then; getppid() cannot tell from inside a new pid namespace.)
	struct pollfd p = {.fd = gate_pipe[0], .events = POLLIN};
	if (phase != MONITOR && gate_pipe[0] >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLHUP))
		_exit(1);
}

void op_env(char **a) { prog_env[prog_envc++] = a[0]; }
void op_arg(char **a) { prog_argv[prog_argc++] = a[0]; }

// Let go of the spawner's stdio (the caller reads it to EOF): /dev/null on 0, 1 and 2.
void op_stdio_null(char **a)
{
	int fd;
	(void)a;

	TRY((fd = open("/dev/null", O_RDWR | O_CLOEXEC)), "stdio-null: open \"/dev/null\"");
	for (int i = 0; i <= 2; i++)
		TRY(dup2(fd, i), "stdio-null: dup2 to %d", i);
	close(fd);
}

// gate-signals MASK: the signals (bit n = signal n) that end the child while it waits at the gate.
void op_gate_signals(char **a)
{
	unsigned long long m = num64(a[0]);

	if (phase != CHILD_SETUP)
		die_err(EINVAL, "gate-signals \"%s\": only in the child before the gate", a[0]);
	if (m & (1ULL | 1ULL << SIGKILL | 1ULL << SIGSTOP))
		die_err(EINVAL, "gate-signals \"%s\": signal 0, SIGKILL and SIGSTOP cannot be caught", a[0]);
	gate_signals = m;
}

// A signal of `gate-signals` at the gate. With SA_RESETHAND the disposition is the default again:
// raise() kills us as the signal would, unless we are the init of a pid namespace, which the kernel
// keeps from dying of any signal but SIGKILL (even its own): then the exit status says which.
static void gate_signal(int sig)
{
	raise(sig);
	_exit(128 + sig);
}

static void catch_gate_signals(void)
{
	struct sigaction sa = {.sa_handler = gate_signal, .sa_flags = (int)(SA_RESETHAND | SA_NODEFER)};

	sigemptyset(&sa.sa_mask);
	for (int s = 1; s < 64; s++)
		if (gate_signals >> s & 1)
			TRY(sigaction(s, &sa, NULL), "gate-signals: sigaction %d", s);
}

void op_gate(char **a)
{
	char c;
	ssize_t n;
	(void)a;

	if (phase != CHILD_SETUP)
		die_err(EINVAL, "gate: only a child can wait at the gate (no \"fork\" before it)");
	catch_gate_signals(); // before "ready": once created, a signal from `kill` finds them
	strace_ask(setup_sock[1]); // --strace: traced from here on, before anyone knows our pid
	if (send(setup_sock[1], "0\tready", 7, MSG_NOSIGNAL) != 7)
		_exit(1); // the monitor is gone: nobody to report to
	close_fd(&setup_sock[1]);
	phase = CHILD_RUN; // from here on failures are reported as process.failed
	while ((n = read(gate_pipe[0], &c, 1)) < 0 && errno == EINTR)
		;
	if (n != 1)
		_exit(1); // EOF: the monitor is gone, nobody will ever start us
	close_fd(&gate_pipe[0]);
}

// Stop so the spawner can run hooks here (see PROTOCOL.md). In the child the monitor relays;
// before fork the monitor itself is the process at the hookpoint.
void op_hookpoint(char **a)
{
	char rec[128], ok[8];
	ssize_t n;

	if (phase == MONITOR) {
		run_hook(a[0], getpid());
		return;
	}
	if (phase != CHILD_SETUP)
		die_err(EINVAL, "hookpoint \"%s\": only before the gate", a[0]);
	size_t len = fmt(rec, sizeof rec, "hook\t%s", a[0]);
	if (send(setup_sock[1], rec, len, MSG_NOSIGNAL) != (ssize_t)len)
		_exit(1); // the monitor is gone: nobody to report to
	while ((n = recv(setup_sock[1], ok, sizeof ok, 0)) < 0 && errno == EINTR)
		;
	if (n != 2 || memcmp(ok, "ok", 2) != 0)
		_exit(1); // EOF: the monitor is gone (a failed hook kills us first anyway)
}

// seccomp FLAGS PROGRAM. Nothing nsinit does once the filter is loaded may need a syscall the
// profile could deny (runc: "as few syscalls as possible" after it). Before the gate (runc's
// place without noNewPrivileges, while capabilities are still there; or with a listener, which
// goes to the monitor over the setup socket) every fd is marked close-on-exec first, so exec
// needs no close_range under the filter. After the gate (runc's place with noNewPrivileges)
// the program is checked now and exec loads it as its last step before execve.
void op_seccomp(char **a)
{
	struct seccomp_prog p;
	int fd;

	seccomp_decode(a, &p);
	if (phase == CHILD_RUN) {
		if (seccomp_wants_listener(&p))
			die_err(EINVAL, "seccomp: a filter with a listener must come before the gate (its fd goes to the monitor over the setup socket)");
		free(late_filter.bytes);
		late_filter = p;
		return;
	}
	if (phase == CHILD_SETUP)
		strace_ask(setup_sock[1]); // before the filter, which may deny what asking takes
	if (phase == CHILD_SETUP && !fds_marked) {
		cloexec_from_3();
		fds_marked = 1;
	}
	if ((fd = seccomp_load(&p)) >= 0) {
		// The monitor passes it on before it reads our "ready": the listener has it before start.
		TRY(send_fd(setup_sock[1], "seccomp", fd), "seccomp: send the listener to the monitor");
		close(fd);
	}
}

// Everything but execve happens before a filter given after the gate is loaded.
void op_exec(char **a)
{
	(void)a;
	if (prog_argc == 0)
		die_err(EINVAL, "exec: no \"arg\" in the plan");
	if (!fds_marked)
		cloexec_from_3();
	reset_signals();
	environ = prog_env; // so execvp looks PATH up in the container's environment
	if (late_filter.bytes)
		seccomp_load(&late_filter);
	execvp(prog_argv[0], prog_argv);
	die("exec \"%s\"", prog_argv[0]);
}
