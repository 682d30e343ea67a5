// The monitor socket's clients (PROTOCOL.md "Monitor socket"): a monitor.hello on connect, then
// monitor.start and monitor.signal requests, one JSON line each, and process.exited to all.
#include "nsinit.h"
#include "clients.h"
#include "request.h"
#include "strace.h"
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINE_MAX_LEN 4096 // longest request line a client may send

struct client {
	int fd;
	size_t len;
	char buf[LINE_MAX_LEN + 1];
};
static struct client clients[MAX_CLIENTS];
static int started;
static int accepted; // clients ever greeted
static char start_error[MSG_MAX]; // --start: why the program did not start ("" when it did)
static int gate_fd = -1; // monitor -> child: one byte opens the gate
static pid_t child = -1;

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

void clients_accept(int listen_fd)
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
			accepted++;
			if (start_error[0])
				reply(&clients[i], "{\"type\":\"monitor.hello\",\"pid\":%d,\"initPid\":%d,\"state\":\"running\",\"startError\":\"%s\"}",
				      (int)getpid(), (int)child, json_esc(start_error));
			else
				reply(&clients[i], "{\"type\":\"monitor.hello\",\"pid\":%d,\"initPid\":%d,\"state\":\"%s\"}",
				      (int)getpid(), (int)child, started ? "running" : "created");
			return;
		}
	}
	close(fd); // full: this client sees EOF instead of a hello
}

// Open the gate and wait for the child's execve (the exec pipe is CLOEXEC): 0 with msg empty
// when it succeeded, 0 with msg saying why it failed, -1 (errno) when the gate would not open.
static int open_gate(char *msg, size_t cap)
{
	size_t len = 0;
	ssize_t n;

	if (write_all(gate_fd, "1", 1) < 0)
		return -1;
	close_fd(&gate_fd);
	started = 1;
	for (;;) {
		strace_await(exec_pipe[0]); // traced, the child stops at each syscall on its way to exec
		n = read(exec_pipe[0], msg + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (len += (size_t)n) == cap - 1)
			break;
	}
	close_fd(&exec_pipe[0]);
	msg[len] = '\0';
	return 0;
}

static void start(struct client *c)
{
	char msg[MSG_MAX];

	if (started) {
		reply_error(c, "monitor.start: the process was already started");
		return;
	}
	if (open_gate(msg, sizeof msg) < 0) {
		reply_error(c, "monitor.start: open the gate: %s", strerror(errno));
		return;
	}
	if (!msg[0])
		reply(c, "{\"type\":\"process.started\"}");
	else
		reply(c, "{\"type\":\"process.failed\",\"message\":\"%s\"}", json_esc(msg));
}

void clients_start_now(void)
{
	if (open_gate(start_error, sizeof start_error) < 0)
		fmt(start_error, sizeof start_error, "open the gate: %s", strerror(errno));
}

int clients_ever(void)
{
	return accepted;
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

void clients_init(int gate, pid_t pid, int running)
{
	gate_fd = gate;
	child = pid;
	started = running;
	for (int i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;
}

void clients_pollfds(struct pollfd p[MAX_CLIENTS])
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		p[i] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
}

void clients_io(const struct pollfd p[MAX_CLIENTS])
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (p[i].revents && clients[i].fd >= 0)
			on_client(&clients[i]);
}

void clients_exited(int status, int sig)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0)
			reply(&clients[i], "{\"type\":\"process.exited\",\"exitStatus\":%d,\"signal\":%d}", status, sig);
}
