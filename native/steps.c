/* The caller's side of a command: nsinit spawned, its sync channel, waited for (see steps.h). */
#define _GNU_SOURCE
#include "io.h"
#include "json.h"
#include "steps.h"
#include "ws.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t child = -1;
static int sync_fd = -1;
static struct buf pending; /* read from the sync channel past the last line given */
static int wake[2] = { -1, -1 };

static void on_signal(int sig)
{
	int saved = errno;
	if (sig == SIGCHLD) { if (write(wake[1], "", 1) < 0) { /* the pipe is full: a wake-up is pending anyway */ } }
	else if (child > 0) kill(child, sig); /* passed on to the monitor, which passes it to the process */
	errno = saved;
}

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

static void result_str(struct buf *r, const char *ev, const char *key, const char *value)
{
	puts_(r, "{\"ev\":\"");
	puts_(r, ev);
	puts_(r, "\"");
	if (key) { puts_(r, ",\""); puts_(r, key); puts_(r, "\":"); json_str(r, value); }
	puts_(r, "}");
}

static void result_int(struct buf *r, const char *ev, const char *key, long value)
{
	char n[32];
	snprintf(n, sizeof n, "%ld", value);
	puts_(r, "{\"ev\":\"");
	puts_(r, ev);
	puts_(r, "\",\"");
	puts_(r, key);
	puts_(r, "\":");
	puts_(r, n);
	puts_(r, "}");
}

static void close_sync(void)
{
	if (sync_fd >= 0) close(sync_fd);
	sync_fd = -1;
}

/* spawn: nsinit with our stdio, fds 3 .. 2+N as they are, and a socket pair's end at 3+N. */
void step_spawn(int ws, const char *step, struct buf *r)
{
	const char *a = skip_ws(field(step, "argv") ? field(step, "argv") : "");
	const char *pf = field(step, "preserveFds");
	int preserve = pf ? atoi(pf) : 0;
	char *argv[256];
	int n = 0;
	if (*a == '[') {
		a = skip_ws(a + 1);
		while (*a == '"' && n < 255) {
			struct buf s = { 0 };
			if (!json_unquote(a, &s)) break;
			put(&s, "", 1);
			argv[n++] = s.p;
			a = skip_ws(skip_value(a));
			if (*a == ',') a = skip_ws(a + 1);
		}
	}
	argv[n] = NULL;
	if (!n || preserve < 0 || preserve > 1000) { result_str(r, "failed", "message", "bad spawn step"); return; }
	int sv[2], err[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 || pipe2(err, O_CLOEXEC) < 0) {
		result_str(r, "failed", "message", strerror(errno));
		return;
	}
	pid_t pid = fork();
	if (pid < 0) { result_str(r, "failed", "message", strerror(errno)); return; }
	if (pid == 0) {
		int target = 3 + preserve;
		if (sv[1] == target) fcntl(target, F_SETFD, 0);
		else if (dup2(sv[1], target) < 0) goto fail;
		if (err[1] == target) goto fail; /* cannot happen: err was made after sv */
		signal(SIGPIPE, SIG_DFL);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(argv[0], argv);
fail:;
		int e = errno;
		if (write(err[1], &e, sizeof e) < 0) { /* nothing more to say */ }
		_exit(127);
	}
	close(sv[1]);
	close(err[1]);
	int e = 0;
	ssize_t got;
	while ((got = read(err[0], &e, sizeof e)) < 0 && errno == EINTR) {}
	close(err[0]);
	if (got > 0) {
		close(sv[0]);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
		result_str(r, "failed", "message", strerror(e));
		return;
	}
	child = pid;
	sync_fd = sv[0];
	pending.len = 0;
	for (int i = 0; i < n; i++) free(argv[i]);
	/* Its first line comes with the pid: one round trip less (the daemon reads it next anyway). */
	struct buf first = { 0 };
	step_read(ws, &first);
	char num[32];
	snprintf(num, sizeof num, "%ld", (long)pid);
	puts_(r, "{\"ev\":\"spawned\",\"pid\":");
	puts_(r, num);
	puts_(r, ",\"first\":");
	put(r, first.p, first.len);
	puts_(r, "}");
	free(first.p);
}

/* A ping from the daemon while we wait on something else: answered, or the daemon is gone. */
static int serve_pings(int ws)
{
	char *msg;
	size_t len;
	int op = read_frame(ws, &msg, &len);
	if (op < 0 || op == 0x8) return -1;
	if (op == 0x9) send_frame(ws, 0xa, msg, len);
	free(msg);
	return 0;
}

/* read: the next line nsinit writes on its sync channel, without its newline. */
void step_read(int ws, struct buf *r)
{
	int daemon_here = 1;
	for (;;) {
		char *nl = pending.len ? memchr(pending.p, '\n', pending.len) : NULL;
		if (nl) {
			size_t n = (size_t)(nl - pending.p);
			struct buf line = { 0 };
			put(&line, pending.p, n);
			put(&line, "", 1);
			memmove(pending.p, nl + 1, pending.len - n - 1);
			pending.len -= n + 1;
			result_str(r, "line", "text", line.p);
			free(line.p);
			return;
		}
		/* nsinit may take a while (a copy-up): the daemon's pings are answered meanwhile. */
		struct pollfd p[2] = { { .fd = sync_fd, .events = POLLIN }, { .fd = daemon_here ? ws : -1, .events = POLLIN } };
		if (sync_fd >= 0 && poll(p, 2, -1) < 0) continue;
		if (p[1].revents && serve_pings(ws) < 0) daemon_here = 0;
		if (sync_fd >= 0 && !p[0].revents) continue;
		char chunk[4096];
		ssize_t got = sync_fd >= 0 ? read(sync_fd, chunk, sizeof chunk) : 0;
		if (got < 0 && errno == EINTR) continue;
		if (got <= 0) { result_str(r, "eof", NULL, NULL); return; }
		put(&pending, chunk, (size_t)got);
	}
}

/* wait: for the monitor to exit, passing signals on, answering the daemon's pings meanwhile. */
void step_wait(int ws, struct buf *r)
{
	close_sync();
	if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) < 0) { result_int(r, "exited", "status", 1); return; }
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) sigaction(forwarded[i], &sa, NULL);
	int daemon_here = 1;
	for (;;) {
		int st;
		pid_t w = waitpid(child, &st, WNOHANG);
		if (w == child) {
			int status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			child = -1;
			result_int(r, "exited", "status", status);
			return;
		}
		if (w < 0 && errno != EINTR) { result_int(r, "exited", "status", 1); return; }
		struct pollfd p[2] = { { .fd = wake[0], .events = POLLIN }, { .fd = daemon_here ? ws : -1, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) continue;
		if (p[0].revents) { char drain[64]; while (read(wake[0], drain, sizeof drain) > 0) {} }
		if (p[1].revents && serve_pings(ws) < 0) daemon_here = 0; /* the process's status still comes */
	}
}

/* write: text on nsinit's sync channel (a hook's answer). */
void step_write(const char *step, struct buf *r)
{
	struct buf text = { 0 };
	json_unquote(field(step, "text"), &text);
	if (sync_fd >= 0 && text.len) write_all(sync_fd, text.p, text.len);
	result_str(r, "done", NULL, NULL);
}

/* kill: a signal to the spawned nsinit (the monitor passes it on). */
void step_kill(const char *step, struct buf *r)
{
	const char *sig = field(step, "signal");
	if (child > 0 && sig) kill(child, atoi(sig));
	result_str(r, "done", NULL, NULL);
}

/* The daemon went away in the middle of a command: whether it ran is unknown, so it is not
 * run again (the Node CLI's words). An nsinit spawned for it and not yet waited for (a create
 * or an exec the daemon never took note of) is killed, as the Node CLI kills it when the
 * daemon does not answer `container.created`: the command failed, so it leaves no container
 * (the next daemon finds no monitor and rolls the create back). A process being waited for
 * (`run`, `exec` in the foreground) is not here: the wait goes on without the daemon. */
int daemon_gone(void)
{
	fputs("connection to runa daemon closed\n", stderr);
	if (child > 0) {
		kill(child, SIGKILL);
		while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {}
		child = -1;
	}
	return 1;
}
