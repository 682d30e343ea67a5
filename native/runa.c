/*
 * runa's front end: a command line that starts in a millisecond. It decides nothing: it
 * finds the daemon of the state root the command names (--root, else the default), hands it
 * the command line and the current directory (`cli.run` on the daemon's bus, WebSocket on
 * <root>/runa.sock), prints what comes back and exits with the status it is given. The
 * daemon runs the commands that only talk to it (src/daemon/front-end.ts) and answers
 * `fallback` for the rest; then, as when no daemon answers (the first command starts it),
 * this execs the Node.js CLI (bin/runa.js) with the same arguments.
 *
 * This file: the command line, the state root, the request and the replies; json.c, ws.c,
 * steps.c (what the daemon asks done here) and daemon-start.c hold the rest.
 */
#define _GNU_SOURCE
#include "daemon-start.h"
#include "io.h"
#include "json.h"
#include "steps.h"
#include "ws.h"
#include "global-flags.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static char **args;
extern char **environ;
/* runc's global --log and --log-format, for an error only this process can report. */
static const char *log_file;
static int log_json;

/* Exec the Node.js CLI with our arguments: bin/runa.js beside native/ (where this binary is). */
static void fallback(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0) {
		fprintf(stderr, "runa: readlink /proc/self/exe: %s\n", strerror(errno));
		exit(1);
	}
	self[n] = 0;
	char *slash = strrchr(self, '/');
	if (slash) *slash = 0;
	char script[PATH_MAX + 32];
	snprintf(script, sizeof script, "%s/../bin/runa.js", self);
	args[0] = script;
	/* Node.js reads and parses NODE_EXTRA_CA_CERTS at start (60 ms here) and the CLI makes no
	 * TLS connection: it goes under another name, which the CLI puts back for whatever it
	 * starts (src/cli/main.ts). */
	const char *ca = getenv("NODE_EXTRA_CA_CERTS");
	if (ca) {
		setenv("RUNA_NODE_EXTRA_CA_CERTS", ca, 1);
		unsetenv("NODE_EXTRA_CA_CERTS");
	}
	execv(script, args);
	fprintf(stderr, "runa: exec %s: %s\n", script, strerror(errno));
	exit(1);
}

/* Inside a user namespace that does not map the whole id range (rootless podman runs its
 * runtime in one): /proc/self/uid_map is not the single line "0 0 4294967295". */
static int in_partial_userns(void)
{
	char text[256];
	int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
	if (fd < 0) return 0;
	ssize_t n = read(fd, text, sizeof text - 1);
	close(fd);
	if (n <= 0) return 0;
	text[n] = 0;
	unsigned long a, b, c;
	int used = 0;
	if (sscanf(text, " %lu %lu %lu %n", &a, &b, &c, &used) != 3) return 1;
	return !(a == 0 && b == 0 && c == 4294967295UL && text[used] == 0);
}

/* The state root the command line names: runc's global --root, else the default. */
static int root_of(int argc, char **argv, char *root, size_t size, const char **command)
{
	const char *given = NULL;
	*command = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || !strcmp(a, "-") || !strcmp(a, "--")) { *command = a; break; } /* the command: globals end */
		const char *name = a + (a[1] == '-' ? 2 : 1);
		const char *eq = strchr(name, '=');
		size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
		int takes = 0; /* a global flag with a value (GLOBAL_VALUE_FLAGS, generated from the TypeScript list) */
		for (size_t k = 0; k < sizeof GLOBAL_VALUE_FLAGS / sizeof *GLOBAL_VALUE_FLAGS; k++)
			if (strlen(GLOBAL_VALUE_FLAGS[k]) == nlen && !strncmp(name, GLOBAL_VALUE_FLAGS[k], nlen))
				takes = 1;
		const char *value = NULL;
		if (takes) {
			if (eq) value = eq + 1;
			else if (i + 1 < argc) value = argv[++i];
			else return -1;
		}
		if (nlen == 4 && !strncmp(name, "root", 4)) given = value;
		if (nlen == 3 && !strncmp(name, "log", 3)) log_file = value;
		if (nlen == 10 && !strncmp(name, "log-format", 10)) log_json = value && !strcmp(value, "json");
	}
	if (!given) {
		/* runc's shouldHonorXDGRuntimeDir, as src/rootless.ts has it: root gets /run/runa, a user
		 * $XDG_RUNTIME_DIR/runa, and uid 0 of a user namespace that does not map everything the
		 * latter when XDG_RUNTIME_DIR is set and USER is not root. No usable XDG_RUNTIME_DIR for
		 * a user: the Node CLI says so. */
		const char *xdg = getenv("XDG_RUNTIME_DIR"), *user = getenv("USER");
		if (geteuid() == 0 && (!in_partial_userns() || !xdg || !*xdg || (user && !strcmp(user, "root")))) given = "/run/runa";
		else {
			if (!xdg || xdg[0] != '/') return -1;
			size_t n = strlen(xdg);
			while (n > 1 && xdg[n - 1] == '/') n--; /* as path.join normalizes it */
			if ((size_t)snprintf(root, size, "%.*s/runa", (int)n, xdg) >= size) return -1;
			return 0;
		}
	}
	if (given[0] == '/') {
		if ((size_t)snprintf(root, size, "%s", given) >= size) return -1;
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof cwd) || (size_t)snprintf(root, size, "%s/%s", cwd, given) >= size) return -1;
	}
	return 0;
}

/* An error in --log as the daemon writes its own (src/cli/log.ts: pino's JSON, or logrus's
 * text): containerd's shim reports the last error there as the runtime's, not its stderr. */
static void log_error(const char *msg)
{
	if (!log_file || !*log_file) return;
	struct timespec ts;
	struct tm tm;
	char when[40];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + n, sizeof when - n, ".%03ldZ", ts.tv_nsec / 1000000);
	struct buf line = { 0 };
	if (log_json) {
		puts_(&line, "{\"level\":\"error\",\"time\":\"");
		puts_(&line, when);
		puts_(&line, "\",\"msg\":");
		json_str(&line, msg);
		puts_(&line, "}\n");
	} else {
		puts_(&line, "time=\"");
		puts_(&line, when);
		puts_(&line, "\" level=error msg=");
		json_str(&line, msg);
		puts_(&line, "\n");
	}
	int fd = open(log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		write_all(fd, line.p, line.len);
		close(fd);
	}
	free(line.p);
}

/* The daemon went away mid-command (steps.c says so and cleans up); --log hears it too. */
static int gone(void)
{
	log_error("connection to runa daemon closed");
	return daemon_gone();
}

int main(int argc, char **argv)
{
	args = argv;
	signal(SIGPIPE, SIG_IGN);
	char root[PATH_MAX];
	const char *command;
	if (root_of(argc, argv, root, sizeof root, &command) < 0) fallback();
	for (int i = 1; i < argc; i++)
		if (!utf8_ok((const unsigned char *)argv[i])) fallback();

	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if ((size_t)snprintf(sa.sun_path, sizeof sa.sun_path, "%s/runa.sock", root) >= sizeof sa.sun_path) fallback();
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) fallback();
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		if ((errno != ENOENT && errno != ECONNREFUSED) || !starts_daemon(command)) fallback();
		if (daemon_connect(fd, &sa, root) < 0) fallback();
	}

	static const char hello[] = "GET / HTTP/1.1\r\nHost: runa\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Key: cnVuYS1mcm9udC1lbmQtMQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
	if (write_all(fd, hello, sizeof hello - 1) < 0) fallback();
	/* The response head up to its blank line, and not a byte more: the frames after it stay in
	 * the socket. Peeked, then read exactly (byte by byte cost a syscall each). */
	char head[4096];
	size_t hn = 0;
	for (;;) {
		ssize_t n = recv(fd, head, sizeof head - 1, MSG_PEEK);
		if (n <= 0) fallback();
		head[n] = 0;
		char *end = strstr(head, "\r\n\r\n");
		if (end) { hn = (size_t)(end + 4 - head); break; }
		if ((size_t)n == sizeof head - 1) fallback();
		usleep(200); /* the rest of the head is on its way (peeked data keeps POLLIN set) */
	}
	if (read_full(fd, head, hn) < 0) fallback();
	if (strncmp(head, "HTTP/1.1 101", 12)) fallback();

	/* A directory that is gone (containerd's shim stands in its pod's first bundle) is `null`:
	 * only a relative path needs it, and then the daemon says what the CLI would. */
	char cwd[PATH_MAX];
	int have_cwd = getcwd(cwd, sizeof cwd) != NULL;
	if (have_cwd && !utf8_ok((const unsigned char *)cwd)) fallback();
	struct buf req = { 0 };
	puts_(&req, "{\"kind\":\"request\",\"cid\":\"1\",\"body\":{\"type\":\"cli.run\",\"cwd\":");
	if (have_cwd) json_str(&req, cwd);
	else puts_(&req, "null");
	puts_(&req, ",\"argv\":[");
	for (int i = 1; i < argc; i++) {
		if (i > 1) put(&req, ",", 1);
		json_str(&req, argv[i]);
	}
	/* The environment (`do` gives it to the container); one that is not UTF-8 goes to the CLI. */
	puts_(&req, "],\"env\":[");
	for (char **e = environ; *e; e++) {
		if (!utf8_ok((const unsigned char *)*e)) fallback();
		if (e != environ) put(&req, ",", 1);
		json_str(&req, *e);
	}
	puts_(&req, "]}}");
	if (req.len > MAX_FRAME || send_frame(fd, 0x1, req.p, req.len) < 0) fallback();

	/* Each reply is the end, or a step to take here and answer with `cli.step`. */
	int seq = 1;
	for (;;) {
		char *msg;
		size_t len;
		int op = read_frame(fd, &msg, &len);
		/* Sent and gone: whether it ran is unknown, so it is not run again. The Node CLI's words. */
		if (op < 0 || op == 0x8) return gone();
		if (op == 0x9) { send_frame(fd, 0xa, msg, len); free(msg); continue; } /* ping */
		if (op != 0x1) { free(msg); continue; }
		struct buf kind = { 0 }, cid = { 0 };
		if (!json_unquote(field(msg, "kind"), &kind) || !json_unquote(field(msg, "cid"), &cid)) { free(msg); continue; }
		put(&kind, "", 1);
		put(&cid, "", 1);
		char want[16];
		snprintf(want, sizeof want, "%d", seq);
		if (strcmp(cid.p, want)) { free(kind.p); free(cid.p); free(msg); continue; }
		if (!strcmp(kind.p, "error")) {
			/* The first request refused unread (a daemon without cli.run): nothing ran. */
			if (seq == 1) fallback();
			struct buf m = { 0 };
			json_unquote(field(field(msg, "error"), "message"), &m);
			put(&m, "", 1);
			fprintf(stderr, "runa: %s\n", m.p);
			return 1;
		}
		if (strcmp(kind.p, "reply")) { free(kind.p); free(cid.p); free(msg); continue; }
		/* `fallback`: not a command the daemon runs; the CLI does it. */
		const char *body = field(msg, "body");
		if (!body || (seq == 1 && field(body, "fallback"))) fallback();
		struct buf out = { 0 }, err = { 0 };
		if (!json_unquote(field(body, "stdout"), &out) || !json_unquote(field(body, "stderr"), &err)) fallback();
		if (out.len) write_all(1, out.p, out.len);
		if (err.len) write_all(2, err.p, err.len);
		const char *step = field(body, "step");
		if (!step) {
			const char *status = field(body, "status");
			close(fd);
			return status ? atoi(status) : 1;
		}
		struct buf what = { 0 }, session = { 0 }, result = { 0 };
		json_unquote(field(step, "op"), &what);
		json_unquote(field(body, "session"), &session);
		put(&what, "", 1);
		put(&session, "", 1);
		if (!strcmp(what.p, "spawn")) {
			step_spawn(fd, step, &result);
			/* Fault injection for the crash tests: dies as a crash (or a caller's kill -9) would,
			 * with nsinit up and the daemon not yet told. Nothing happens without the variable. */
			const char *kp = getenv("RUNA_FRONT_END_KILL_POINT");
			if (kp && !strcmp(kp, "spawned")) kill(getpid(), SIGKILL);
		}
		else if (!strcmp(what.p, "read")) step_read(fd, &result);
		else if (!strcmp(what.p, "write")) step_write(step, &result);
		else if (!strcmp(what.p, "kill")) step_kill(step, &result);
		else if (!strcmp(what.p, "wait")) step_wait(fd, &result);
		else { fprintf(stderr, "runa: the daemon asked for an unknown step %s\n", what.p); return 1; }
		struct buf req2 = { 0 };
		snprintf(want, sizeof want, "%d", ++seq);
		puts_(&req2, "{\"kind\":\"request\",\"cid\":\"");
		puts_(&req2, want);
		puts_(&req2, "\",\"body\":{\"type\":\"cli.step\",\"session\":");
		json_str(&req2, session.p);
		puts_(&req2, ",\"result\":");
		put(&req2, result.p, result.len);
		puts_(&req2, "}}");
		if (send_frame(fd, 0x1, req2.p, req2.len) < 0) return gone();
		free(req2.p); free(result.p); free(what.p); free(session.p); free(out.p); free(err.p);
		free(kind.p); free(cid.p); free(msg);
	}
}
