// nsinit's monitor: before `fork` the process that runs the plan; after it the container
// process's parent (or, for fork-sibling, its watcher through a pidfd). It waits for the child's
// setup, tells the spawner `created`, then serves the monitor socket (clients.c), forwards the
// signals it receives, and records the exit in the state dir (PROTOCOL.md "Monitor socket").
#include "nsinit.h"
#include "clients.h"
#include "console.h"
#include "hook.h"
#include "monitor.h"
#include "seccomp.h"
#include "strace.h"
#include "unixsock.h"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int state_fd = -1, listen_fd = -1, sig_fd = -1, sock_bound;
static int child_pidfd = -1; // fork-sibling: the child is not ours to reap, its pidfd says when it exits
static pid_t child = -1;
static int start_at_once;  // --start: the gate opens after `created`, with no monitor.start
static int held, held_st;  // --start: the child's exit (reaped), until the first client hears of it
// How long a held exit waits for its first client: the daemon that asked for --start attaches
// at once, and a daemon that died meanwhile reads the exit file instead.
#define HELD_EXIT_MS 60000

void monitor_start_at_once(void)
{
	start_at_once = 1;
}

static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};

// What the monitor undoes before it reports a failure (errors.c calls it, see fail()).
void monitor_cleanup(void)
{
	proxy_restore();
	// Our signals are blocked, so this waitpid cannot be interrupted.
	if (child > 0 && kill(child, SIGKILL) == 0)
		waitpid(child, NULL, 0);
	if (sock_bound)
		unlinkat(state_fd, SOCK_NAME, 0);
}

void monitor_block_signals(sigset_t *old)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
		sigaddset(&mask, forwarded[i]);
	TRY(sigprocmask(SIG_BLOCK, &mask, old), "sigprocmask");
	TRY((sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)), "signalfd");
}

void monitor_child(pid_t pid)
{
	child = pid;
}

void monitor_leave(void)
{
	// The spawner must see EOF on fd 3 from the monitor alone; the rest is the monitor's too.
	close_fd(&sync_fd);
	close_fd(&listen_fd);
	close_fd(&sig_fd);
	close_fd(&state_fd);
	strace_leave();
	sock_bound = 0;
}

static void write_exit_file(const char *buf, size_t len)
{
	int fd = openat(state_fd, "exit.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		warn_errno("open exit.tmp");
		return;
	}
	if (write_all(fd, buf, len) < 0)
		warn_errno("write exit.tmp");
	if (close(fd) < 0)
		warn_errno("close exit.tmp");
	// Through the dirfd: whatever the child did to its own mounts, this is the state dir.
	if (renameat(state_fd, "exit.tmp", state_fd, "exit") < 0)
		warn_errno("rename exit.tmp to exit");
}

// Leave as the child did, so whoever waits for us sees the same.
static void __attribute__((noreturn)) leave_as(int st)
{
	int sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;

	if (sig) {
		// Die the way the child did; no core of ours.
		struct rlimit rl = {0, 0};
		sigset_t set;
		if (setrlimit(RLIMIT_CORE, &rl) < 0)
			warn_errno("setrlimit RLIMIT_CORE");
		signal(sig, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		raise(sig);
	}
	exit(sig ? 128 + sig : WEXITSTATUS(st)); // also reached for signals whose default action is not to terminate
}

static void tell_exit(int st)
{
	int sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;

	clients_exited(sig ? 128 + sig : WEXITSTATUS(st), sig);
}

// The child exited (reaped): its status in the exit file and to every client, then we leave.
// With --start and no client yet, the exit is held until the first one has heard of it.
static void finish(int st)
{
	int sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	int status = sig ? 128 + sig : WEXITSTATUS(st);
	char buf[64];

	proxy_finish(); // all output is relayed before anyone hears of the exit
	if (state_fd >= 0)
		write_exit_file(buf, fmt(buf, sizeof buf, "{\"exitStatus\":%d,\"signal\":%d}", status, sig));
	if (start_at_once && !clients_ever()) {
		held = 1;
		held_st = st;
		child = -1; // reaped: its pid may be anyone's now
		return;
	}
	tell_exit(st);
	leave_as(st);
}

// A sibling child exited: its status goes to the parent we share, not to us (-1: unknown).
static void __attribute__((noreturn)) finish_sibling(void)
{
	char buf[64];

	if (state_fd >= 0)
		write_exit_file(buf, fmt(buf, sizeof buf, "{\"exitStatus\":-1,\"signal\":0}"));
	clients_exited(-1, 0);
	exit(0);
}

static void on_signal(void)
{
	struct signalfd_siginfo si;
	pid_t p;
	int st;

	ssize_t n = read(sig_fd, &si, sizeof si);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n != sizeof si)
		die("read signalfd");
	if (held)
		return; // the child is reaped: nothing to forward a signal to, nothing more to reap
	if (si.ssi_signo == SIGWINCH && proxy_resize())
		return; // resizing the pty signals the container's foreground process group
	if (si.ssi_signo != SIGCHLD) {
		if (kill(child, (int)si.ssi_signo) < 0 && errno != ESRCH)
			warn_errno("forward signal");
		return;
	}
	// Traced, every stop of every task is a SIGCHLD, and the tracer reaps (strace_reaped).
	if (strace_on()) {
		strace_service();
		return;
	}
	// A sibling child is not ours to reap (its pidfd tells of its exit): a SIGCHLD here is the
	// userns map writer's, already reaped.
	if (child_pidfd >= 0)
		return;
	TRY((p = waitpid(child, &st, WNOHANG)), "waitpid %d", (int)child);
	if (p == child)
		finish(st);
}

// The child either reaches the gate or reports what failed; before that it may hand over a pty
// or a seccomp listener, and stop at hookpoints (each answered "ok" once the spawner ran its hooks).
static void await_setup(void)
{
	char rec[MSG_MAX + 32], *msg;
	ssize_t n;
	int fd;

	for (;;) {
		strace_await(setup_sock[0]); // once traced, the child stops at each syscall until we resume it
		TRY((n = recv_fd(setup_sock[0], rec, sizeof rec, &fd)), "read setup socket");
		if (n == 0)
			fail(ECHILD, "setup: the child exited before reaching the gate");
		if (fd < 0 && strncmp(rec, "hook\t", 5) == 0) {
			run_hook(rec + 5, child);
			// A child gone meanwhile shows as EOF on the next recv.
			send(setup_sock[0], "ok", 2, MSG_NOSIGNAL);
			continue;
		}
		if (fd < 0 && strcmp(rec, "trace") == 0) {
			strace_seize(child, child_pidfd < 0);
			send(setup_sock[0], "ok", 2, MSG_NOSIGNAL);
			continue;
		}
		if (fd < 0)
			break;
		if (strcmp(rec, "seccomp") == 0) {
			seccomp_handover(fd, child);
			continue;
		}
		if (strcmp(rec, "pty") != 0) {
			close(fd);
			fail(EPROTO, "setup: garbled report from the child");
		}
		proxy_attach(fd);
	}
	long err = strtol(rec, &msg, 10);
	if (*msg != '\t')
		fail(EPROTO, "setup: garbled report from the child");
	if (err != 0)
		fail((int)err, msg + 1);
	close_fd(&setup_sock[0]);
}

// Tell the spawner `created`, then serve the clients and forward signals until the child exits.
static void __attribute__((noreturn)) serve(int gate, int running)
{
	char rec[64];
	struct pollfd pfd[5 + MAX_CLIENTS];

	// Fault injection for the crash tests (test/crash.test.ts): dies as a crash would, with the
	// container set up and its caller not yet told. Nothing happens without the variable.
	const char *kp = getenv("RUNA_NSINIT_KILL_POINT");
	if (kp && !strcmp(kp, "created"))
		kill(getpid(), SIGKILL);

	if (sync_fd >= 0) {
		int fd = sync_fd;
		sync_fd = -1; // from now on failures go to stderr
		TRY(write_all(fd, rec, fmt(rec, sizeof rec, "created\t%d\n", (int)child)), "write sync pipe");
		close(fd);
	}

	clients_init(gate, child, running);
	if (start_at_once && !running)
		clients_start_now();
	for (;;) {
		int st;
		if (!held && strace_reaped(&st))
			finish(st);
		pfd[0] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = listen_fd, .events = POLLIN}; // poll skips -1
		proxy_pollfds(&pfd[2]);
		clients_pollfds(&pfd[4]);
		pfd[4 + MAX_CLIENTS] = (struct pollfd){.fd = child_pidfd, .events = POLLIN};
		int ready = poll(pfd, ARRAY_SIZE(pfd), held ? HELD_EXIT_MS : -1);
		if (ready < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (ready == 0 && held)
			leave_as(held_st); // nobody came: the exit file tells the next daemon
		if (pfd[0].revents)
			on_signal();
		if (pfd[1].revents) {
			clients_accept(listen_fd);
			if (held && clients_ever()) {
				tell_exit(held_st);
				leave_as(held_st);
			}
		}
		proxy_io(&pfd[2]);
		clients_io(&pfd[4]);
		if (pfd[4 + MAX_CLIENTS].revents)
			finish_sibling();
	}
}

void monitor_run(int gate, int pidfd)
{
	child_pidfd = pidfd;
	await_setup();
	serve(gate, 0);
}

void monitor_follow(int pidfd)
{
	child_pidfd = pidfd;
	serve(-1, 1);
}

void op_statedir(char **a)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX, .sun_path = SOCK_NAME};
	int cwd, r;

	TRY((state_fd = open(a[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC)), "open \"%s\"", a[0]);
	if (unlinkat(state_fd, SOCK_NAME, 0) < 0 && errno != ENOENT)
		die("unlink \"%s/" SOCK_NAME "\"", a[0]);
	TRY((listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)), "socket \"%s/" SOCK_NAME "\"", a[0]);
	// Bind relative to the state dir: sun_path is too short for long absolute paths.
	TRY((cwd = open(".", O_PATH | O_CLOEXEC)), "open \".\"");
	TRY(fchdir(state_fd), "fchdir \"%s\"", a[0]);
	mode_t old = umask(0177); // created 0600, with no window where others could connect
	r = bind(listen_fd, (struct sockaddr *)&addr, sizeof addr);
	umask(old);
	TRY(r, "bind \"%s/" SOCK_NAME "\"", a[0]);
	sock_bound = 1;
	TRY(fchdir(cwd), "fchdir back from \"%s\"", a[0]);
	close(cwd);
	TRY(listen(listen_fd, 16), "listen \"%s/" SOCK_NAME "\"", a[0]);
}
