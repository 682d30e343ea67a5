// nsinit's error reporting (see errors.h).
#include "errors.h"
#include "io.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum phase phase = MONITOR;
int setup_sock[2] = {-1, -1};
int exec_pipe[2] = {-1, -1};
int sync_fd = -1;
void (*fail_cleanup)(void);

void warn_errno(const char *what)
{
	fprintf(stderr, "nsinit: %s: %s\n", what, strerror(errno));
}

void fail(int err, const char *msg)
{
	char buf[MSG_MAX + 32];

	if (phase == CHILD_SETUP) {
		send(setup_sock[1], buf, fmt(buf, sizeof buf, "%d\t%s", err, msg), MSG_NOSIGNAL);
		_exit(1);
	}
	if (phase == CHILD_RUN) {
		write_all(exec_pipe[1], msg, strlen(msg));
		_exit(127);
	}
	if (fail_cleanup)
		fail_cleanup();
	if (sync_fd >= 0) {
		// One line: the channel is line-based, and a message names paths from the config,
		// which may hold a newline. Control characters are written as \n, \r or \xNN.
		char line[MSG_MAX * 4 + 32];
		size_t n = (size_t)fmt(line, sizeof line, "error\t%d\t", err);
		for (const unsigned char *c = (const unsigned char *)msg; *c && n + 5 < sizeof line; c++) {
			if (*c == '\n') n += (size_t)fmt(line + n, sizeof line - n, "\\n");
			else if (*c == '\r') n += (size_t)fmt(line + n, sizeof line - n, "\\r");
			else if (*c < 0x20 && *c != '\t') n += (size_t)fmt(line + n, sizeof line - n, "\\x%02x", *c);
			else line[n++] = (char)*c;
		}
		line[n++] = '\n';
		write_all(sync_fd, line, n);
	} else
		fprintf(stderr, "nsinit: %s\n", msg);
	exit(1);
}

void die_err(int err, const char *f, ...)
{
	char msg[MSG_MAX];
	va_list ap;

	va_start(ap, f);
	size_t n = vfmt(msg, sizeof msg, f, ap);
	va_end(ap);
	fmt(msg + n, sizeof msg - n, ": %s", strerror(err));
	fail(err, msg);
}
