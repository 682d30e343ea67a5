/*
 * runa's front end: a command line that starts in a millisecond. It decides nothing: it
 * finds the daemon of the state root the command names (--root, else the default), hands it
 * the command line and the current directory (`cli.run` on the daemon's bus, WebSocket on
 * <root>/runa.sock), prints what comes back and exits with the status it is given. The
 * daemon runs the commands that only talk to it (src/daemon/front-end.ts) and answers
 * `fallback` for the rest; then, as when no daemon answers (the first command starts it),
 * this execs the Node.js CLI (bin/runa.js) with the same arguments.
 */
#define _GNU_SOURCE
#include "io.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_FRAME (1u << 20) /* the daemon's own cap (src/bus/socket-server.ts) */

static char **args;
extern char **environ;

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

/* ---- output buffer ---- */

struct buf { char *p; size_t len, cap; };

static void put(struct buf *b, const void *data, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n) cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) { perror("runa: realloc"); exit(1); }
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

/* Whether s is valid UTF-8 (a WebSocket text frame must be; otherwise the Node CLI takes it). */
static int utf8_ok(const unsigned char *s)
{
	while (*s) {
		int n = *s < 0x80 ? 0 : (*s & 0xe0) == 0xc0 ? 1 : (*s & 0xf0) == 0xe0 ? 2 : (*s & 0xf8) == 0xf0 ? 3 : -1;
		if (n < 0 || (n == 1 && *s < 0xc2)) return 0;
		s++;
		for (int i = 0; i < n; i++, s++)
			if ((*s & 0xc0) != 0x80) return 0;
	}
	return 1;
}

static void json_str(struct buf *b, const char *s)
{
	put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') { char e[2] = { '\\', (char)c }; put(b, e, 2); }
		else if (c < 0x20) { char e[8]; snprintf(e, sizeof e, "\\u%04x", c); puts_(b, e); }
		else put(b, s, 1);
	}
	put(b, "\"", 1);
}

/* ---- the reply: just enough JSON to take three fields out of one object ---- */

static const char *skip_ws(const char *p) { while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++; return p; }

/* The end of the JSON value at p (or NULL if malformed). */
static const char *skip_value(const char *p)
{
	p = skip_ws(p);
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++)
			if (*p == '\\' && !*++p) return NULL;
		return *p ? p + 1 : NULL;
	}
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		p = skip_ws(p + 1);
		if (*p == close) return p + 1;
		for (;;) {
			if (close == '}') {
				if (!(p = skip_value(p))) return NULL; /* key */
				p = skip_ws(p);
				if (*p++ != ':') return NULL;
			}
			if (!(p = skip_value(p))) return NULL;
			p = skip_ws(p);
			if (*p == ',') { p = skip_ws(p + 1); continue; }
			return *p == close ? p + 1 : NULL;
		}
	}
	while (*p && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n') p++;
	return p;
}

/* The value of `key` in the object at p, or NULL. */
static const char *field(const char *p, const char *key)
{
	p = skip_ws(p);
	if (*p != '{') return NULL;
	p = skip_ws(p + 1);
	size_t klen = strlen(key);
	while (*p == '"') {
		const char *k = p + 1;
		const char *end = skip_value(p);
		if (!end) return NULL;
		p = skip_ws(end);
		if (*p++ != ':') return NULL;
		p = skip_ws(p);
		if ((size_t)(end - 1 - k) == klen && !memcmp(k, key, klen)) return p;
		if (!(p = skip_value(p))) return NULL;
		p = skip_ws(p);
		if (*p != ',') return NULL;
		p = skip_ws(p + 1);
	}
	return NULL;
}

static int hexval(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; }

static void put_utf8(struct buf *b, unsigned cp)
{
	char o[4];
	if (cp < 0x80) { o[0] = (char)cp; put(b, o, 1); }
	else if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f)); put(b, o, 2); }
	else if (cp < 0x10000) { o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[2] = (char)(0x80 | (cp & 0x3f)); put(b, o, 3); }
	else { o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f)); o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f)); put(b, o, 4); }
}

/* Decode the JSON string at p into b; 0 if it is not one. */
static int json_unquote(const char *p, struct buf *b)
{
	if (!p || *p != '"') return 0;
	for (p++; *p != '"'; p++) {
		if (!*p) return 0;
		if (*p != '\\') { put(b, p, 1); continue; }
		p++;
		switch (*p) {
		case 'n': put(b, "\n", 1); break;
		case 't': put(b, "\t", 1); break;
		case 'r': put(b, "\r", 1); break;
		case 'b': put(b, "\b", 1); break;
		case 'f': put(b, "\f", 1); break;
		case 'u': {
			unsigned cp = 0;
			for (int i = 1; i <= 4; i++) { int h = hexval(p[i]); if (h < 0) return 0; cp = cp << 4 | (unsigned)h; }
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && p[1] == '\\' && p[2] == 'u') {
				unsigned lo = 0;
				for (int i = 3; i <= 6; i++) { int h = hexval(p[i]); if (h < 0) return 0; lo = lo << 4 | (unsigned)h; }
				if (lo >= 0xdc00 && lo < 0xe000) { cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00); p += 6; }
			}
			put_utf8(b, cp);
			break;
		}
		case 0: return 0;
		default: put(b, p, 1); /* \" \\ \/ */
		}
	}
	return 1;
}

/* ---- the socket ---- */

static int read_full(int fd, void *data, size_t n)
{
	char *p = data;
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* A client frame: masked (RFC 6455 §5.3). */
static int send_frame(int fd, int opcode, const char *payload, size_t len)
{
	unsigned char head[14];
	size_t h = 0;
	head[h++] = (unsigned char)(0x80 | opcode);
	if (len < 126) head[h++] = (unsigned char)(0x80 | len);
	else if (len < 65536) { head[h++] = 0x80 | 126; head[h++] = (unsigned char)(len >> 8); head[h++] = (unsigned char)len; }
	else { head[h++] = 0x80 | 127; for (int i = 7; i >= 0; i--) head[h++] = (unsigned char)((uint64_t)len >> (8 * i)); }
	unsigned char mask[4];
	uint32_t r = (uint32_t)getpid() * 2654435761u ^ (uint32_t)(uintptr_t)&r;
	memcpy(mask, &r, 4);
	memcpy(head + h, mask, 4);
	h += 4;
	char *masked = malloc(len ? len : 1);
	if (!masked) return -1;
	for (size_t i = 0; i < len; i++) masked[i] = (char)(payload[i] ^ mask[i & 3]);
	int rc = write_all(fd, head, h) < 0 || write_all(fd, masked, len) < 0 ? -1 : 0;
	free(masked);
	return rc;
}

/* Read one frame into *out (NUL-terminated); returns its opcode, or -1. */
static int read_frame(int fd, char **out, size_t *outlen)
{
	unsigned char h[2];
	if (read_full(fd, h, 2) < 0) return -1;
	uint64_t len = h[1] & 0x7f;
	if (len == 126) { unsigned char e[2]; if (read_full(fd, e, 2) < 0) return -1; len = (uint64_t)e[0] << 8 | e[1]; }
	else if (len == 127) { unsigned char e[8]; if (read_full(fd, e, 8) < 0) return -1; len = 0; for (int i = 0; i < 8; i++) len = len << 8 | e[i]; }
	if (len > MAX_FRAME || (h[1] & 0x80)) return -1; /* servers do not mask */
	char *p = malloc(len + 1);
	if (!p || read_full(fd, p, len) < 0) { free(p); return -1; }
	p[len] = 0;
	*out = p;
	*outlen = len;
	return h[0] & 0x0f;
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
		int takes = (nlen == 4 && !strncmp(name, "root", 4)) || (nlen == 3 && !strncmp(name, "log", 3)) ||
			(nlen == 10 && !strncmp(name, "log-format", 10)) || (nlen == 8 && !strncmp(name, "rootless", 8)) ||
			(nlen == 4 && !strncmp(name, "criu", 4));
		const char *value = NULL;
		if (takes) {
			if (eq) value = eq + 1;
			else if (i + 1 < argc) value = argv[++i];
			else return -1;
		}
		if (nlen == 4 && !strncmp(name, "root", 4)) given = value;
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

/* ---- the caller's side of a command: nsinit spawned, its sync channel, waited for ---- */

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
static void step_read(int ws, struct buf *r);

static void step_spawn(int ws, const char *step, struct buf *r)
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
static void step_read(int ws, struct buf *r)
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
static void step_wait(int ws, struct buf *r)
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

/* ---- no daemon answers: start it, for the commands that need one ---- */

/* The commands that start the daemon when none runs (generated from src/daemon/front-end.ts). */
#include "starts-daemon.h"

static int starts_daemon(const char *command)
{
	if (!command) return 0;
	for (size_t i = 0; i < sizeof STARTS_DAEMON / sizeof *STARTS_DAEMON; i++)
		if (!strcmp(command, STARTS_DAEMON[i])) return 1;
	return 0;
}

/* mkdir -p, the new directories 0700 (as the Node CLI makes the root). Unchecked: a root that
 * cannot be made leaves no daemon, and the Node CLI then says why. */
static void mkdirs(const char *dir)
{
	char p[PATH_MAX];
	snprintf(p, sizeof p, "%s", dir);
	for (char *s = p + 1; *s; s++)
		if (*s == '/') { *s = 0; mkdir(p, 0700); *s = '/'; }
	mkdir(p, 0700);
}

/* What the Node CLI does when no daemon answers, without starting Node.js twice: run
 * bin/runa-daemon.cjs (`runa daemon` with its code cache) in a session of its own, its output
 * appended to <root>/daemon.log, orphaned at once (a double fork) so that it is not this
 * caller's child. NODE_EXTRA_CA_CERTS is left out: the daemon makes no TLS connection, and
 * Node.js reads and parses that file at start (60 ms here). Two commands starting daemons at
 * once is fine: one takes the root's lock and the other leaves. */
/* Returns an fd that gives the errno if the daemon could not be executed (no `node` on PATH,
 * no log) and EOF once it was, or -1. */
static int start_daemon(const char *root)
{
	char self[PATH_MAX], entry[PATH_MAX + 32], log[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0) return -1;
	self[n] = 0;
	for (int up = 0; up < 2; up++) { /* <package>/native/runa */
		char *slash = strrchr(self, '/');
		if (slash) *slash = 0;
	}
	snprintf(entry, sizeof entry, "%s/bin/runa-daemon.cjs", self);
	mkdirs(root);
	snprintf(log, sizeof log, "%s/daemon.log", root);
	int failed[2];
	if (pipe2(failed, O_CLOEXEC) < 0) return -1;
	pid_t pid = fork();
	if (pid < 0) { close(failed[0]); close(failed[1]); return -1; }
	if (pid == 0) {
		if (fork() != 0) _exit(0);
		close(failed[0]);
		setsid();
		int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
		int out = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (in >= 0 && out >= 0 && dup2(in, 0) >= 0 && dup2(out, 1) >= 0 && dup2(out, 2) >= 0) {
			unsetenv("NODE_EXTRA_CA_CERTS");
			char *argv[] = { "node", entry, "--root", (char *)root, "daemon", NULL };
			execvp("node", argv);
		}
		int e = errno;
		if (write(failed[1], &e, sizeof e) < 0) {} /* the front end falls back either way */
		_exit(127);
	}
	close(failed[1]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
	return failed[0];
}

/* Whether a daemon holds this root's lock (a flock on <root>/daemon.lock, src/daemon/daemon.ts):
 * read from /proc/locks, which tests without taking (a probing flock could make a starting
 * daemon believe another one holds it). A lock file not there yet counts as not held. */
static int lock_held(const char *root)
{
	char file[PATH_MAX + 16], line[256];
	struct stat st;
	snprintf(file, sizeof file, "%s/daemon.lock", root);
	if (stat(file, &st) < 0) return 0;
	char id[64];
	snprintf(id, sizeof id, " %02x:%02x:%lu ", major(st.st_dev), minor(st.st_dev), (unsigned long)st.st_ino);
	FILE *f = fopen("/proc/locks", "re");
	if (!f) return 1; /* cannot tell: assume it is */
	int held = 0;
	while (!held && fgets(line, sizeof line, f))
		held = strstr(line, "FLOCK") && strstr(line, "WRITE") && strstr(line, id);
	fclose(f);
	return held;
}

/* One front end at a time starts a daemon: a flock on <root>/daemon.start, held from the start
 * until it connects (or gives up). Without it every command that found no daemon started one,
 * a herd of Node.js processes of which all but one leave at once (the daemon's own lock). */
static int start_lock = -1;
static int may_start(const char *root)
{
	if (start_lock >= 0) return 1;
	char file[PATH_MAX + 16];
	snprintf(file, sizeof file, "%s/daemon.start", root);
	int fd = open(file, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0) return 1; /* cannot tell: start one */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) { close(fd); return 0; }
	start_lock = fd;
	return 1;
}
static void started_done(void) { if (start_lock >= 0) { close(start_lock); start_lock = -1; } }

/* Connect once the daemon listens: every millisecond for half a second (Node.js takes 80 ms
 * or more to listen), then every 10 ms. A daemon that dies before it listens (killed, or the
 * machine's OOM killer) leaves the lock free: then a new one is started at once, every 300 ms at
 * most, so a command recovers within a fraction of a second. A daemon that could not be executed
 * (`failed` gives its errno), or 10 s (the Node CLI's wait) without one, and the Node CLI takes
 * over and says what went wrong. */
static int await_daemon(int fd, const struct sockaddr_un *sa, int failed, const char *root)
{
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long started = 0;
	for (;;) {
		if (failed >= 0) {
			struct pollfd p = { .fd = failed, .events = POLLIN };
			int e;
			if (poll(&p, 1, 0) > 0) {
				ssize_t r = read(failed, &e, sizeof e);
				close(failed);
				failed = -1;
				if (r > 0) return -1; /* not executed */
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		long ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms > 10000) break;
		usleep(ms > 500 ? 10000 : 1000);
		if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0) { if (failed >= 0) close(failed); started_done(); return 0; }
		if (errno != ENOENT && errno != ECONNREFUSED) break;
		if (ms - started >= 300 && !lock_held(root) && may_start(root)) {
			if (failed >= 0) close(failed);
			failed = start_daemon(root);
			started = ms;
		}
	}
	if (failed >= 0) close(failed);
	started_done();
	return -1;
}

/* The daemon went away in the middle of a command: whether it ran is unknown, so it is not
 * run again (the Node CLI's words). An nsinit spawned for it and not yet waited for (a create
 * or an exec the daemon never took note of) is killed, as the Node CLI kills it when the
 * daemon does not answer `container.created`: the command failed, so it leaves no container
 * (the next daemon finds no monitor and rolls the create back). A process being waited for
 * (`run`, `exec` in the foreground) is not here: the wait goes on without the daemon. */
static int daemon_gone(void)
{
	fputs("connection to runa daemon closed\n", stderr);
	if (child > 0) {
		kill(child, SIGKILL);
		while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {}
		child = -1;
	}
	return 1;
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
		if (await_daemon(fd, &sa, may_start(root) ? start_daemon(root) : -1, root) < 0) fallback();
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
		if (op < 0 || op == 0x8) return daemon_gone();
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
		else if (!strcmp(what.p, "write")) {
			struct buf text = { 0 };
			json_unquote(field(step, "text"), &text);
			if (sync_fd >= 0 && text.len) write_all(sync_fd, text.p, text.len);
			result_str(&result, "done", NULL, NULL);
		} else if (!strcmp(what.p, "kill")) {
			const char *sig = field(step, "signal");
			if (child > 0 && sig) kill(child, atoi(sig));
			result_str(&result, "done", NULL, NULL);
		} else if (!strcmp(what.p, "wait")) step_wait(fd, &result);
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
		if (send_frame(fd, 0x1, req2.p, req2.len) < 0) return daemon_gone();
		free(req2.p); free(result.p); free(what.p); free(session.p); free(out.p); free(err.p);
		free(kind.p); free(cid.p); free(msg);
	}
}
