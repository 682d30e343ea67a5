// runsc's --strace (see strace.h): the monitor is the tracer of the container's process and of
// everything it forks, clones and execs; strace-log.c writes the lines.
//
// Signals reach the program (each signal-delivery-stop is resumed with its signal), group-stops
// stay stops (PTRACE_LISTEN), exit statuses are the kernel's: the monitor reaps its child as it
// did untraced. No PTRACE_O_EXITKILL: a monitor that ends before processes it traced (which
// outlive an exec'd process, or an init without a pid namespace of its own) lets them go on untraced.
#define _GNU_SOURCE
#include "nsinit.h"
#include "strace.h"
#include "strace-log.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int tracing;
static int log_fd = -1, proc_fd = -1, chld_fd = -1;
static pid_t own_child = -1;
static int reaped, reaped_status;

int strace_on(void) { return tracing; }

// strace LOG FORMAT SIZE ALL: opened by the monitor before anything else, in the caller's view.
void op_strace(char **a)
{
	sigset_t set;

	if (phase != MONITOR)
		die_err(EINVAL, "strace: only the monitor traces (before \"fork\")");
	if (strcmp(a[1], "text") && strcmp(a[1], "json"))
		die_err(EINVAL, "strace \"%s\": the format is text or json", a[1]);
	size_t max_size = num(a[2]);

	if (max_size == 0 || max_size > (1UL << 24))
		die_err(EINVAL, "strace \"%s\": the size is 1 to 16777216 bytes", a[2]);
	close_fd(&log_fd);
	TRY((log_fd = open(a[0], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)), "strace: open \"%s\"", a[0]);
	// The host's /proc, whatever the container's mounts do to ours: for the pids of new tasks.
	if (proc_fd < 0)
		TRY((proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC)), "strace: open \"/proc\"");
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD); // blocked since main
	if (chld_fd < 0)
		TRY((chld_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)), "strace: signalfd");
	tzset(); // the host's time zone, read now
	slog_setup(log_fd, a[1][0] == 'j', max_size, num(a[3]) != 0, proc_fd, getpid());
	tracing = 1;
}

// The child, before it can be reached by anyone else: a monitor in the container's user namespace
// has no CAP_SYS_PTRACE over the memory nsinit was exec'd with (the host's user namespace), so we
// are dumpable while it attaches, and not afterwards. The container is not created yet: nobody
// can have our pid but the monitor (and, in a pid namespace shared with a pod, for this moment).
void strace_ask(int sock)
{
	static int asked;
	char ok[8];
	ssize_t n;

	if (!tracing || asked)
		return;
	asked = 1;
	TRY(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "strace: prctl PR_SET_DUMPABLE");
	if (send(sock, "trace", 5, MSG_NOSIGNAL) != 5)
		_exit(1); // the monitor is gone: nobody to report to
	while ((n = recv(sock, ok, sizeof ok, 0)) < 0 && errno == EINTR)
		;
	if (n != 2 || memcmp(ok, "ok", 2) != 0)
		_exit(1);
	TRY(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "strace: prctl PR_SET_DUMPABLE");
}

void strace_leave(void)
{
	close_fd(&log_fd);
	close_fd(&proc_fd);
	close_fd(&chld_fd);
}

// A stop is over: ESRCH means the task is gone (its exit comes next) or was not stopped.
static void resume(const struct task *t, int request, int sig)
{
	ptrace(request, t->pid, NULL, (void *)(long)sig);
}

static void on_wait(pid_t pid, int st)
{
	struct task *t = task_find(pid);

	if (WIFEXITED(st) || WIFSIGNALED(st)) {
		if (pid == own_child) {
			reaped = 1;
			reaped_status = st;
		}
		if (t)
			slog_exited(t, st);
		return;
	}
	if (!WIFSTOPPED(st))
		return;
	if (!t)
		t = task_get(pid); // a new task may stop before its parent's fork event is seen
	int sig = WSTOPSIG(st), event = (unsigned)st >> 16;
	unsigned long msg;
	if (sig == (SIGTRAP | 0x80)) {
		slog_syscall(t);
		resume(t, PTRACE_SYSCALL, 0);
		return;
	}
	switch (event) {
	case 0:
		slog_signal(t, sig);
		resume(t, PTRACE_SYSCALL, sig); // the signal goes on to the program
		break;
	case PTRACE_EVENT_STOP:
		if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) {
			// A group-stop: it stays stopped (as untraced) until a SIGCONT.
			slog_stopped(t, sig);
			resume(t, PTRACE_LISTEN, 0);
		} else {
			resume(t, PTRACE_SYSCALL, 0); // seized, a new task's first stop, or the end of a group-stop
		}
		break;
	case PTRACE_EVENT_FORK:
	case PTRACE_EVENT_VFORK:
	case PTRACE_EVENT_CLONE:
		if (ptrace(PTRACE_GETEVENTMSG, pid, NULL, &msg) == 0)
			task_get((pid_t)msg);
		resume(t, PTRACE_SYSCALL, 0);
		break;
	case PTRACE_EVENT_EXEC:
		slog_exec(t);
		resume(t, PTRACE_SYSCALL, 0);
		break;
	default:
		resume(t, PTRACE_SYSCALL, 0);
	}
}

void strace_seize(pid_t pid, int own)
{
	long opts = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC;

	TRY(ptrace(PTRACE_SEIZE, pid, NULL, (void *)opts), "strace: ptrace PTRACE_SEIZE %d", (int)pid);
	// Stopped once, so that strace_service resumes it with syscall stops from then on.
	TRY(ptrace(PTRACE_INTERRUPT, pid, NULL, NULL), "strace: ptrace PTRACE_INTERRUPT %d", (int)pid);
	own_child = own ? pid : -1;
	task_get(pid);
}

void strace_service(void)
{
	struct signalfd_siginfo si;
	pid_t pid;
	int st;

	while (read(chld_fd, &si, sizeof si) > 0)
		;
	while ((pid = waitpid(-1, &st, __WALL | WNOHANG)) > 0)
		on_wait(pid, st);
}

void strace_await(int fd)
{
	if (!tracing)
		return;
	for (;;) {
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = chld_fd, .events = POLLIN}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return; // the caller's read says what is wrong
		}
		if (p[1].revents)
			strace_service();
		if (p[0].revents)
			return;
	}
}

int strace_reaped(int *status)
{
	if (!reaped)
		return 0;
	*status = reaped_status;
	return 1;
}
