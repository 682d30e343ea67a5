// nsinit: executes a plan computed by runa's TypeScript side (see PROTOCOL.md), then
// monitors the container process. No policy lives here: every decision is in the plan.
#include "nsinit.h"
#include "plan.h"
#include "request.h"
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef NS_GET_NSTYPE
#define NS_GET_NSTYPE _IO(0xb7, 0x3)
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x80
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define LINE_MAX_LEN 4096 // longest request line a client may send
#define MAX_CLIENTS 32
#define SOCK_NAME "monitor.sock"

static int preserved;    // --preserve-fds N: fds 3 .. 2+N go to the process as they are
static int state_fd = -1, listen_fd = -1, sig_fd = -1, sock_bound;
static int child_pidfd = -1; // fork-sibling: the child is not ours to reap, its pidfd says when it exits
static int pidfd_sock = -1;  // pidfd-socket: where the child's pidfd goes once it is forked
static int gate_pipe[2] = {-1, -1};  // monitor -> child: one byte opens the gate
static pid_t child = -1;
static sigset_t old_mask;
static char **prog_argv, **prog_env;
static size_t prog_argc, prog_envc;

static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};

// What the monitor undoes before it reports a failure (errors.c calls it, see fail()).
static void monitor_cleanup(void)
{
	proxy_restore();
	// Our signals are blocked, so this waitpid cannot be interrupted.
	if (child > 0 && kill(child, SIGKILL) == 0)
		waitpid(child, NULL, 0);
	if (sock_bound)
		unlinkat(state_fd, SOCK_NAME, 0);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		die("calloc");
	return p;
}

static unsigned long num(const char *s) { return strtoul(s, NULL, 0); }
static unsigned long long num64(const char *s) { return strtoull(s, NULL, 0); }
static rlim_t limit(const char *s) { return strcmp(s, "unlimited") == 0 ? RLIM_INFINITY : (rlim_t)num64(s); }

// ---- the monitor ----

struct client {
	int fd;
	size_t len;
	char buf[LINE_MAX_LEN + 1];
};
static struct client clients[MAX_CLIENTS];
static int started;

// Escape s as the inside of a JSON string (truncating if needed).
static const char *json_esc(const char *s)
{
	static char out[MSG_MAX + 16];
	return json_escape(s, out, sizeof out);
}

static void drop(struct client *c)
{
	close_fd(&c->fd);
	c->len = 0;
}

// Send one JSON line; a client that cannot take a short line at once is gone or stuck.
static void __attribute__((format(printf, 2, 3))) reply(struct client *c, const char *f, ...)
{
	char buf[MSG_MAX + 128];
	va_list ap;

	va_start(ap, f);
	size_t n = vfmt(buf, sizeof buf - 1, f, ap);
	va_end(ap);
	buf[n++] = '\n';
	if (send(c->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)n)
		drop(c);
}

static void __attribute__((format(printf, 2, 3))) reply_error(struct client *c, const char *f, ...)
{
	char msg[MSG_MAX];
	va_list ap;

	va_start(ap, f);
	vfmt(msg, sizeof msg, f, ap);
	va_end(ap);
	reply(c, "{\"type\":\"monitor.error\",\"message\":\"%s\"}", json_esc(msg));
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

static void __attribute__((noreturn)) finish(int st)
{
	int sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	int status = sig ? 128 + sig : WEXITSTATUS(st);
	char buf[64];

	proxy_finish(); // all output is relayed before anyone hears of the exit
	if (state_fd >= 0)
		write_exit_file(buf, fmt(buf, sizeof buf, "{\"exitStatus\":%d,\"signal\":%d}", status, sig));
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0)
			reply(&clients[i], "{\"type\":\"process.exited\",\"exitStatus\":%d,\"signal\":%d}", status, sig);
	if (sig) {
		// Die the way the child did, so whoever waits for us sees the same; no core of ours.
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
	exit(status); // also reached for signals whose default action is not to terminate
}

// A sibling child exited: its status goes to the parent we share, not to us (-1: unknown).
static void __attribute__((noreturn)) finish_sibling(void)
{
	char buf[64];

	if (state_fd >= 0)
		write_exit_file(buf, fmt(buf, sizeof buf, "{\"exitStatus\":-1,\"signal\":0}"));
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0)
			reply(&clients[i], "{\"type\":\"process.exited\",\"exitStatus\":-1,\"signal\":0}");
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
	if (si.ssi_signo == SIGWINCH && proxy_resize())
		return; // resizing the pty signals the container's foreground process group
	if (si.ssi_signo != SIGCHLD) {
		if (kill(child, (int)si.ssi_signo) < 0 && errno != ESRCH)
			warn_errno("forward signal");
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

static void on_accept(void)
{
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			warn_errno("accept " SOCK_NAME);
		return;
	}
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (clients[i].fd < 0) {
			clients[i].fd = fd;
			clients[i].len = 0;
			reply(&clients[i], "{\"type\":\"monitor.hello\",\"pid\":%d,\"initPid\":%d,\"state\":\"%s\"}",
			      (int)getpid(), (int)child, started ? "running" : "created");
			return;
		}
	}
	close(fd); // full: this client sees EOF instead of a hello
}

static void start(struct client *c)
{
	char msg[MSG_MAX];
	size_t len = 0;
	ssize_t n;

	if (started) {
		reply_error(c, "monitor.start: the process was already started");
		return;
	}
	if (write_all(gate_pipe[1], "1", 1) < 0) {
		reply_error(c, "monitor.start: open the gate: %s", strerror(errno));
		return;
	}
	close_fd(&gate_pipe[1]);
	started = 1;
	// Blocks only until the child's execvp fails or succeeds (the pipe is CLOEXEC).
	for (;;) {
		n = read(exec_pipe[0], msg + len, sizeof msg - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (len += (size_t)n) == sizeof msg - 1)
			break;
	}
	close_fd(&exec_pipe[0]);
	msg[len] = '\0';
	if (len == 0)
		reply(c, "{\"type\":\"process.started\"}");
	else
		reply(c, "{\"type\":\"process.failed\",\"message\":\"%s\"}", json_esc(msg));
}

static void handle(struct client *c, const char *line)
{
	struct request r;

	request_parse(line, &r);
	switch (r.kind) {
	case REQ_NO_TYPE:
		reply_error(c, "request without a \"type\" string");
		break;
	case REQ_START:
		start(c);
		break;
	case REQ_BAD_SIGNAL:
		reply_error(c, "monitor.signal needs a \"signal\" number from 0 to 64");
		break;
	case REQ_SIGNAL:
		if (kill(child, (int)r.signal) < 0)
			reply_error(c, "kill %d with signal %ld: %s", (int)child, r.signal, strerror(errno));
		else
			reply(c, "{\"type\":\"monitor.signalled\",\"signal\":%ld}", r.signal);
		break;
	case REQ_UNKNOWN:
		reply_error(c, "unknown request type \"%.*s\"", (int)(r.type_len < 64 ? r.type_len : 64), r.type);
		break;
	}
}

static void on_client(struct client *c)
{
	ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		drop(c);
		return;
	}
	c->len += (size_t)n;
	char *line = c->buf, *nl;
	while ((nl = memchr(line, '\n', (size_t)(c->buf + c->len - line)))) {
		*nl = '\0';
		handle(c, line);
		if (c->fd < 0)
			return;
		line = nl + 1;
	}
	c->len -= (size_t)(line - c->buf);
	memmove(c->buf, line, c->len);
	if (c->len > LINE_MAX_LEN) {
		reply_error(c, "request line longer than %d bytes", LINE_MAX_LEN);
		if (c->fd >= 0)
			drop(c);
	}
}

// The spawner is gone (EOF or an error on fd 3): nobody will answer. End create, on stderr.
static void __attribute__((noreturn)) spawner_gone(const char *name, int err)
{
	char msg[MSG_MAX];

	close_fd(&sync_fd);
	if (err)
		fmt(msg, sizeof msg, "hook %s: fd 3: %s", name, strerror(err));
	else
		fmt(msg, sizeof msg, "hook %s: the spawner closed fd 3 before answering", name);
	fail(err ? err : EPIPE, msg);
}

// Hookpoint NAME reached by process pid: write "hook\t<NAME>\t<pid>\n" on fd 3 and read the
// spawner's answer, one line: "ok" returns; "fail\t<message>" ends create with ECANCELED.
// Meanwhile the monitor socket is not served (clients wait in the backlog until created).
static void run_hook(const char *name, pid_t pid)
{
	char line[MSG_MAX + 1], msg[MSG_MAX + 128];
	struct pollfd p[2];
	size_t len = 0;
	ssize_t n;

	if (write_all(sync_fd, line, fmt(line, sizeof line, "hook\t%s\t%d\n", name, (int)pid)) < 0)
		spawner_gone(name, errno);
	for (;;) {
		p[0] = (struct pollfd){.fd = sync_fd, .events = POLLIN};
		p[1] = (struct pollfd){.fd = setup_sock[0], .events = POLLIN}; // -1 before fork: skipped
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("hook %s: poll", name);
		}
		if (p[1].revents) { // the child waits for our answer: anything from it means it died
			fmt(msg, sizeof msg, "hook %s: the child exited while the hook ran", name);
			fail(ECHILD, msg);
		}
		if (!p[0].revents)
			continue;
		// One byte at a time: nothing past the answer's newline is ours to consume.
		n = read(sync_fd, line + len, 1);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			spawner_gone(name, n < 0 ? errno : 0);
		if (line[len] == '\n')
			break;
		if (++len == MSG_MAX) {
			fmt(msg, sizeof msg, "hook %s: answer from the spawner longer than %d bytes", name, MSG_MAX - 1);
			fail(EPROTO, msg);
		}
	}
	line[len] = '\0';
	if (strcmp(line, "ok") == 0)
		return;
	if (strncmp(line, "fail\t", 5) == 0) {
		fmt(msg, sizeof msg, "hook %s: %s", name, line + 5);
		fail(ECANCELED, msg);
	}
	fmt(msg, sizeof msg, "hook %s: garbled answer from the spawner \"%.64s\"", name, line);
	fail(EPROTO, msg);
}

// The child either reaches the gate or reports what failed; before that it may hand over a pty
// or a seccomp listener, and stop at hookpoints (each answered "ok" once the spawner ran its hooks).
static void await_setup(void)
{
	char rec[MSG_MAX + 32], *msg;
	ssize_t n;
	int fd;

	for (;;) {
		TRY((n = recv_fd(setup_sock[0], rec, sizeof rec, &fd)), "read setup socket");
		if (n == 0)
			fail(ECHILD, "setup: the child exited before reaching the gate");
		if (fd < 0 && strncmp(rec, "hook\t", 5) == 0) {
			run_hook(rec + 5, child);
			// A child gone meanwhile shows as EOF on the next recv.
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

static void __attribute__((noreturn)) monitor(void)
{
	char rec[64];
	struct pollfd pfd[5 + MAX_CLIENTS];

	await_setup();
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

	for (int i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;
	for (;;) {
		pfd[0] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = listen_fd, .events = POLLIN}; // poll skips -1
		proxy_pollfds(&pfd[2]);
		for (int i = 0; i < MAX_CLIENTS; i++)
			pfd[4 + i] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
		pfd[4 + MAX_CLIENTS] = (struct pollfd){.fd = child_pidfd, .events = POLLIN};
		if (poll(pfd, ARRAY_SIZE(pfd), -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (pfd[0].revents)
			on_signal();
		if (pfd[1].revents)
			on_accept();
		proxy_io(&pfd[2]);
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (pfd[4 + i].revents && clients[i].fd >= 0)
				on_client(&clients[i]);
		if (pfd[4 + MAX_CLIENTS].revents)
			finish_sibling();
	}
}

// ---- child-side helpers ----

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

// ---- plan operations ----

static void op_statedir(char **a)
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

static void op_unshare(char **a)
{
	int flags = plan_ns_list(a[0]);

	if (flags < 0)
		die_err(EINVAL, "unshare \"%s\"", a[0]);
	TRY(unshare(flags), "unshare \"%s\"", a[0]);
}

// Joining a mount namespace also moves our root and cwd to that namespace's root.
static void op_setns(char **a)
{
	int flag = plan_ns_flag(a[1], strlen(a[1])), fd, type;

	if (!flag)
		die_err(EINVAL, "setns \"%s\": unknown namespace type \"%s\"", a[0], a[1]);
	TRY((fd = open(a[0], O_RDONLY | O_CLOEXEC)), "setns \"%s\"", a[0]);
	// Checked first for a clear message; a kernel without NS_GET_NSTYPE leaves it to setns.
	if ((type = ioctl(fd, NS_GET_NSTYPE)) >= 0 && type != flag)
		die_err(EINVAL, "setns \"%s\": not a %s namespace", a[0], a[1]);
	TRY(setns(fd, flag), "setns \"%s\"", a[0]);
	close(fd);
}

// ---- user namespaces ----

// Close every fd >= 3 but keep[0] < keep[1] (hygiene only: errors are ignored).
void close_all_but(const int keep[2])
{
	unsigned lo = 3;
	for (int k = 0; k < 2; k++) {
		if ((unsigned)keep[k] < lo)
			continue;
		if ((unsigned)keep[k] > lo)
			syscall(SYS_close_range, lo, (unsigned)keep[k] - 1, 0U);
		lo = (unsigned)keep[k] + 1;
	}
	syscall(SYS_close_range, lo, ~0U, 0U);
}

// Run HELPER <monitor> <the numbers of MAP> (newuidmap, newgidmap: setuid tools that check
// /etc/subuid and /etc/subgid) and wait for it. 0, or an errno with its output in out.
static int run_map_helper(const char *helper, pid_t monitor, const char *map, char *out, size_t size)
{
	enum { MAX_WORDS = 3 * 340 }; // the kernel takes up to 340 map lines
	char copy[MSG_MAX * 4], pid[16], *argv[MAX_WORDS + 3], *save = NULL;
	size_t argc = 0, len = 0;
	int p[2], st;
	pid_t h;
	ssize_t n;

	if (strlen(map) >= sizeof copy)
		return fmt(out, size, "map too long for %s", helper), E2BIG;
	memcpy(copy, map, strlen(map) + 1);
	fmt(pid, sizeof pid, "%d", (int)monitor);
	argv[argc++] = (char *)helper;
	argv[argc++] = pid;
	for (char *w = strtok_r(copy, " \t\n", &save); w && argc < MAX_WORDS + 2; w = strtok_r(NULL, " \t\n", &save))
		argv[argc++] = w;
	argv[argc] = NULL;
	if (pipe2(p, O_CLOEXEC) < 0)
		return fmt(out, size, "pipe2: %s", strerror(errno)), errno;
	if ((h = fork()) < 0)
		return fmt(out, size, "fork: %s", strerror(errno)), errno;
	if (h == 0) {
		if (dup2(p[1], 1) >= 0 && dup2(p[1], 2) >= 0)
			execv(helper, argv);
		dprintf(p[1], "exec %s: %s", helper, strerror(errno));
		_exit(127);
	}
	close(p[1]);
	while (len < size - 1 && ((n = read(p[0], out + len, size - 1 - len)) > 0 || (n < 0 && errno == EINTR)))
		if (n > 0)
			len += (size_t)n;
	close(p[0]);
	while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' '))
		len--;
	out[len] = '\0';
	while (waitpid(h, &st, 0) < 0)
		if (errno != EINTR)
			return fmt(out, size, "waitpid: %s", strerror(errno)), errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : EPERM;
}

// The map writer: a child left in the initial user namespace with our capabilities. It waits
// for one byte on `go` (EOF: the monitor gave up), writes SETGROUPS (when given) to the
// monitor's setgroups, its uid_map then gid_map (each through its helper when one is given),
// and exits 0, or 1 after sending "<errno>\t<message>" on `res`. Never calls fail(): that
// would act for the monitor (unlink its socket, write the sync pipe).
static void __attribute__((noreturn)) map_writer(pid_t monitor, char **maps, const char *setgroups, char **helpers, int go, int res)
{
	static const char *const file[] = {"uid_map", "gid_map"};
	char path[64], msg[MSG_MAX + 32], out[MSG_MAX / 2], c;
	ssize_t n;
	int err = 0, fd = -1;

	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	while ((n = read(go, &c, 1)) < 0 && errno == EINTR)
		;
	if (n != 1)
		_exit(0);
	if (setgroups && *setgroups) {
		size_t len = strlen(setgroups);
		fmt(path, sizeof path, "/proc/%d/setgroups", (int)monitor);
		if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
			err = errno;
		else if (getppid() != monitor)
			err = ESRCH;
		else if ((n = write(fd, setgroups, len)) < 0)
			err = errno;
		if (fd >= 0 && close(fd) < 0 && !err)
			err = errno;
		fd = -1;
		if (err) {
			write_all(res, msg, fmt(msg, sizeof msg, "%d\tuserns: write \"%s\": %s", err, path, strerror(err)));
			_exit(1);
		}
	}
	for (int k = 0; k < 2 && !err; k++) {
		size_t len = strlen(maps[k]);
		fmt(path, sizeof path, "/proc/%d/%s", (int)monitor, file[k]);
		if (helpers && *helpers[k]) {
			if (getppid() != monitor)
				err = ESRCH;
			else if ((err = run_map_helper(helpers[k], monitor, maps[k], out, sizeof out))) {
				write_all(res, msg, fmt(msg, sizeof msg, "%d\tuserns: %s %d (for %s): %s", err, helpers[k], (int)monitor, file[k], *out ? out : "failed"));
				_exit(1);
			}
			continue;
		}
		if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
			err = errno;
		else if (getppid() != monitor) // it died before we opened: that pid may be another process
			err = ESRCH;
		else if ((n = write(fd, maps[k], len)) < 0) // a map is taken whole, in one write, or not at all
			err = errno;
		else if ((size_t)n != len)
			err = EIO;
		if (fd >= 0 && close(fd) < 0 && !err)
			err = errno;
		fd = -1;
	}
	if (!err)
		_exit(0);
	write_all(res, msg, fmt(msg, sizeof msg, "%d\tuserns: write \"%s\": %s", err, path, strerror(err)));
	_exit(1);
}

// unshare(CLONE_NEWUSER) and have the map writer set our uid/gid maps (see map_writer).
// `dumpable`: a monitor without host privileges is made dumpable while the maps are written,
// or /proc/<pid> would be root's and neither the writer nor a helper could write them.
static void enter_userns(char **maps, const char *setgroups, char **helpers, int dumpable)
{
	int go[2], res[2], st, err, keep[2];
	pid_t self = getpid(), w;
	char msg[MSG_MAX + 32], *text;
	size_t len = 0;
	ssize_t n;

	TRY(pipe2(go, O_CLOEXEC), "userns: pipe2");
	TRY(pipe2(res, O_CLOEXEC), "userns: pipe2");
	TRY((w = fork()), "userns: fork");
	if (w == 0) {
		close(go[1]);
		close(res[0]);
		keep[0] = go[0] < res[1] ? go[0] : res[1];
		keep[1] = go[0] < res[1] ? res[1] : go[0];
		close_all_but(keep); // the sync pipe above all: its EOF must come from the monitor
		map_writer(self, maps, setgroups, helpers, go[0], res[1]);
	}
	close(go[0]);
	close(res[1]);
	err = unshare(CLONE_NEWUSER) < 0 ? errno : 0;
	if (!err && dumpable && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		err = errno;
	if (!err && write_all(go[1], "1", 1) < 0)
		err = -1; // the writer is gone; its status says why
	close(go[1]); // on failure the writer reads EOF and exits quietly
	for (;;) {
		n = read(res[0], msg + len, sizeof msg - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (len += (size_t)n) == sizeof msg - 1)
			break;
	}
	close(res[0]);
	msg[len] = '\0';
	// Our signals are blocked (signalfd), so this cannot be interrupted; the SIGCHLD it leaves
	// pending only wakes the monitor loop once, for a waitpid that finds nothing.
	while (waitpid(w, &st, 0) < 0)
		if (errno != EINTR)
			die("userns: waitpid %d", (int)w);
	if (dumpable)
		TRY(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "userns: prctl PR_SET_DUMPABLE");
	if (err > 0)
		die_err(err, "userns: unshare \"user\"");
	if (len > 0) {
		long e = strtol(msg, &text, 10);
		if (*text != '\t' || e <= 0)
			fail(EPROTO, "userns: garbled report from the map writer");
		fail((int)e, text + 1);
	}
	if (err || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail(ECHILD, "userns: the map writer died without a report");
}

// Run by the monitor: a user namespace whose maps the writer, left outside as host root, writes.
// The monitor keeps its kuid 0 (unmapped inside: it shows as the overflow id) so it can still
// write the exit file in the host-owned state dir; what runs inside sets its ids with setuid.
static void op_userns(char **a)
{
	enter_userns(a, NULL, NULL, 0);
}

// The same for a monitor without host privileges (rootless): UIDMAP GIDMAP SETGROUPS UIDHELPER
// GIDHELPER. The kernel lets it write one line mapping its own id (its own gid only once
// setgroups is "deny"); a map with a helper is written by it.
static void op_userns_rootless(char **a)
{
	char *helpers[2] = {a[3], a[4]};
	enter_userns(a, a[2], helpers, 1);
}

static void op_write(char **a)
{
	int fd;

	TRY((fd = open(a[0], O_WRONLY | O_CLOEXEC | O_NOFOLLOW)), "write \"%s\" to \"%s\"", a[1], a[0]);
	TRY(write_all(fd, a[1], strlen(a[1])), "write \"%s\" to \"%s\"", a[1], a[0]);
	TRY(close(fd), "write \"%s\" to \"%s\"", a[1], a[0]);
}

static void op_loopback(char **a)
{
	struct ifreq ifr = {.ifr_name = "lo"};
	int fd;
	(void)a;

	TRY((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)), "loopback \"lo\": socket");
	TRY(ioctl(fd, SIOCGIFFLAGS, &ifr), "loopback \"lo\": SIOCGIFFLAGS");
	ifr.ifr_flags |= IFF_UP;
	TRY(ioctl(fd, SIOCSIFFLAGS, &ifr), "loopback \"lo\": SIOCSIFFLAGS");
	close(fd);
}

// fork (the monitor is the child's parent) or fork-sibling: clone(CLONE_PARENT), so the child is
// the spawner's child and, once the spawner exits, its subreaper's, which then reaps it and owns
// its exit status (OCI callers with --pid-file). The monitor watches a sibling through a pidfd.
static void spawn_child(int sibling)
{
	TRY(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, setup_sock), "fork: socketpair");
	TRY(pipe2(gate_pipe, O_CLOEXEC), "fork: pipe2");
	TRY(pipe2(exec_pipe, O_CLOEXEC), "fork: pipe2");
	if (sibling)
		TRY((child = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL, 0)), "fork-sibling: clone");
	else
		TRY((child = fork()), "fork");
	if (child > 0) {
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
		monitor();
	}
	phase = CHILD_SETUP;
	close_fd(&pidfd_sock);
	close_fd(&setup_sock[0]);
	close_fd(&gate_pipe[1]); // so the gate reads EOF if the monitor dies
	close_fd(&exec_pipe[0]);
	// The spawner must see EOF on fd 3 from the monitor alone; the rest is the monitor's too.
	close_fd(&sync_fd);
	close_fd(&listen_fd);
	close_fd(&sig_fd);
	close_fd(&state_fd);
	sock_bound = 0;
	reset_signals();
}

// pidfd-socket PATH: connect now (the monitor, with the caller's view of PATH); the pidfd of the
// child forked next is sent there with SCM_RIGHTS, as runc's --pidfd-socket does.
static void op_pidfd_socket(char **a)
{
	close_fd(&pidfd_sock);
	pidfd_sock = unix_connect("pidfd-socket", a[0]);
}

static void op_fork(char **a)
{
	(void)a;
	spawn_child(0);
}

static void op_fork_sibling(char **a)
{
	(void)a;
	spawn_child(1);
}

static void op_pivot_root(char **a)
{
	TRY(chdir(a[0]), "chdir \"%s\"", a[0]);
	// pivot_root(".", ".") stacks the old root on top of the new one; detach it right away.
	TRY(syscall(SYS_pivot_root, ".", "."), "pivot_root \"%s\"", a[0]);
	TRY(umount2(".", MNT_DETACH), "pivot_root \"%s\": umount old root", a[0]);
	TRY(chdir("/"), "chdir \"/\"");
}

static void op_setgroups(char **a)
{
	size_t n;
	gid_t *gids = plan_gids(a[0], &n);

	if (!gids && errno == EINVAL)
		die_err(EINVAL, "setgroups \"%s\"", a[0]);
	if (!gids)
		die("setgroups \"%s\": calloc", a[0]);
	TRY(setgroups(n, gids), "setgroups \"%s\"", a[0]);
	free(gids);
}

static void op_sethostname(char **a) { TRY(sethostname(a[0], strlen(a[0])), "sethostname \"%s\"", a[0]); }
static void op_pdeathsig(char **a)
{
	TRY(prctl(PR_SET_PDEATHSIG, num(a[0]), 0, 0, 0), "pdeathsig \"%s\"", a[0]);
	// A monitor that died between the fork and now sent no signal: go as if it had. (Its end of
	// the gate pipe is closed then; getppid() cannot tell from inside a new pid namespace.)
	struct pollfd p = {.fd = gate_pipe[0], .events = POLLIN};
	if (phase != MONITOR && gate_pipe[0] >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLHUP))
		_exit(1);
}
static void op_chdir(char **a) { TRY(chdir(a[0]), "chdir \"%s\"", a[0]); }

// fix-stdio UID, before the credential change: fds 0-2 (the console's pty, the caller's pipes)
// become the process's user's, unless they already are or are /dev/null; EINVAL/EPERM (an
// owner or uid not mapped in a user namespace) leave them as they are (runc's fixStdioPermissions).
static void op_fix_stdio(char **a)
{
	uid_t uid = (uid_t)num(a[0]);
	struct stat null, st;

	TRY(stat("/dev/null", &null), "fix-stdio: stat \"/dev/null\"");
	for (int fd = 0; fd <= 2; fd++) {
		if (fstat(fd, &st) < 0) {
			if (errno == EBADF)
				continue;
			die("fix-stdio: fstat %d", fd);
		}
		if (st.st_uid == uid || (S_ISCHR(st.st_mode) && st.st_rdev == null.st_rdev))
			continue;
		if (fchown(fd, uid, (gid_t)-1) < 0 && errno != EINVAL && errno != EPERM)
			die("fix-stdio: chown %d", fd);
	}
}

// chdir-early PATH, while still root: a permission error leaves PATH to chdir-late, which tries
// again as the process's user (runc: a cwd only root can enter, or only the user can).
static const char *chdir_pending;
static void op_chdir_early(char **a)
{
	if (chdir(a[0]) == 0)
		return;
	if (errno != EACCES && errno != EPERM)
		die("chdir \"%s\"", a[0]);
	chdir_pending = a[0];
}
static void op_chdir_late(char **a)
{
	(void)a;
	if (chdir_pending)
		TRY(chdir(chdir_pending), "chdir \"%s\"", chdir_pending);
}
static void op_umask(char **a) { umask((mode_t)num(a[0])); }
static void op_setgid(char **a) { TRY(setgid((gid_t)num(a[0])), "setgid \"%s\"", a[0]); }
static void op_setuid(char **a) { TRY(setuid((uid_t)num(a[0])), "setuid \"%s\"", a[0]); }
static void op_env(char **a) { prog_env[prog_envc++] = a[0]; }
static void op_setsid(char **a) { (void)a; TRY(setsid(), "setsid"); }
static void op_keepcaps(char **a) { (void)a; TRY(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "keepcaps"); }
static void op_nonewprivs(char **a) { (void)a; TRY(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "nonewprivs"); }

// Capabilities the kernel knows: PR_CAPBSET_READ fails (EINVAL) past the last one, as
// /proc/sys/kernel/cap_last_cap would say, without needing /proc. Mask bits above are ignored.
static int cap_known(int cap) { return cap < 64 && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; }

static void op_capbset(char **a)
{
	unsigned long long keep = num64(a[0]);
	int in;

	for (int cap = 0; cap < 64 && (in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0)) >= 0; cap++)
		if (in && !(keep >> cap & 1)) // dropping needs CAP_SETPCAP even when already gone
			TRY(prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "capbset \"%s\": drop %d", a[0], cap);
}

static void op_capset(char **a)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	unsigned long long e = num64(a[0]), p = num64(a[1]), i = num64(a[2]);

	for (int k = 0; k < 2; k++)
		d[k] = (struct __user_cap_data_struct){(__u32)(e >> 32 * k), (__u32)(p >> 32 * k), (__u32)(i >> 32 * k)};
	TRY(syscall(SYS_capset, &hdr, d), "capset \"%s\" \"%s\" \"%s\"", a[0], a[1], a[2]);
}

static void op_ambient(char **a)
{
	unsigned long long mask = num64(a[0]);

	TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "ambient \"%s\": clear", a[0]);
	for (int cap = 0; cap_known(cap); cap++)
		if (mask >> cap & 1)
			TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0), "ambient \"%s\": raise %d", a[0], cap);
}

static void op_rlimit(char **a)
{
	struct rlimit rl = {.rlim_cur = limit(a[1]), .rlim_max = limit(a[2])};
	TRY(prlimit(0, (int)num(a[0]), &rl, NULL), "rlimit \"%s\" \"%s\" \"%s\"", a[0], a[1], a[2]);
}

static void op_arg(char **a) { prog_argv[prog_argc++] = a[0]; }

// Let go of the spawner's stdio (the caller reads it to EOF): /dev/null on 0, 1 and 2.
static void op_stdio_null(char **a)
{
	int fd;
	(void)a;

	TRY((fd = open("/dev/null", O_RDWR | O_CLOEXEC)), "stdio-null: open \"/dev/null\"");
	for (int i = 0; i <= 2; i++)
		TRY(dup2(fd, i), "stdio-null: dup2 to %d", i);
	close(fd);
}

static void op_gate(char **a)
{
	char c;
	ssize_t n;
	(void)a;

	if (phase != CHILD_SETUP)
		die_err(EINVAL, "gate: only a child can wait at the gate (no \"fork\" before it)");
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
static void op_hookpoint(char **a)
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

static void op_exec(char **a)
{
	(void)a;
	if (prog_argc == 0)
		die_err(EINVAL, "exec: no \"arg\" in the plan");
	cloexec_from_3();
	reset_signals();
	environ = prog_env; // so execvp looks PATH up in the container's environment
	execvp(prog_argv[0], prog_argv);
	die("exec \"%s\"", prog_argv[0]);
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

int main(int argc, char **argv)
{
	sigset_t mask;
	size_t n, i;

	fail_cleanup = monitor_cleanup;
	// `--preserve-fds N`: fds 3 .. 2+N are the process's (runc's flag), the sync channel follows them.
	if (argc == 4 && strcmp(argv[1], "--preserve-fds") == 0 && plan_is_num(argv[2]) && num(argv[2]) < 1024) {
		preserved = (int)num(argv[2]);
		argv += 2;
		argc -= 2;
	}
	// Checked before we open anything, which could otherwise land on the sync fd.
	if (fcntl(3 + preserved, F_GETFD) >= 0) {
		sync_fd = 3 + preserved;
		TRY(fcntl(sync_fd, F_SETFD, FD_CLOEXEC), "fcntl sync pipe");
	}
	if (argc == 2 && strcmp(argv[1], "--probe-seccomp") == 0)
		return seccomp_probe();
	if (argc != 2)
		die_err(EINVAL, "usage: nsinit [--preserve-fds N] PLANFILE | --probe-seccomp");
	// CVE-2019-5736: until it execs the container's program, every process of ours that a
	// container can see (an exec'd process between joining its pid namespace and execve, an
	// init waiting for start) must not be reachable through /proc/<pid>/exe (the host's
	// nsinit), nor its memory or fds. Not dumpable, only CAP_SYS_PTRACE in our user namespace
	// reaches them; execve of the program makes it dumpable again.
	TRY(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl PR_SET_DUMPABLE");
	// The monitor takes these through signalfd; blocked before fork so none is lost.
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	for (i = 0; i < ARRAY_SIZE(forwarded); i++)
		sigaddset(&mask, forwarded[i]);
	TRY(sigprocmask(SIG_BLOCK, &mask, &old_mask), "sigprocmask");
	TRY((sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)), "signalfd");
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
	prog_argv = xcalloc(plan.ntok + 1, sizeof *prog_argv);
	prog_env = xcalloc(plan.ntok + 1, sizeof *prog_env);
	for (i = 0; i < plan.nsteps; i++)
		run[plan.step[i].op](plan.step[i].args);
	die_err(EINVAL, "plan: ended without \"exec\"");
}
