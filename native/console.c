// Consoles: a pty from the container's /dev/ptmx, handed either to a --console-socket
// receiver (runc's protocol) or to the monitor, which relays it to its own stdio.
#include "nsinit.h"
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

static int console_sock = -1; // from console-connect, used by console

int send_fd(int sock, const char *data, int fd)
{
	char ctl[CMSG_SPACE(sizeof fd)];
	struct iovec iov = {.iov_base = (void *)data, .iov_len = strlen(data)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
	struct cmsghdr *c;
	ssize_t n;

	memset(ctl, 0, sizeof ctl);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof fd);
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	while ((n = sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	if (n >= 0 && (size_t)n != iov.iov_len) {
		errno = EMSGSIZE;
		return -1;
	}
	return n < 0 ? -1 : 0;
}

// Receive one message into buf (NUL-terminated); *fd is the fd it carried (CLOEXEC) or -1.
ssize_t recv_fd(int sock, char *buf, size_t size, int *fd)
{
	char ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = buf, .iov_len = size - 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
	ssize_t n;

	*fd = -1;
	while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return -1;
	buf[n] = '\0';
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	return n;
}

// ---- child side ----

// A new pty from the container's /dev/ptmx (after pivot_root and the /dev/pts mount). The
// rootfs decides what /dev/ptmx is: it is opened inside the root and must be a pty multiplexer
// (character device 5:2), checked before and after it is opened for real; the slave comes from
// the master itself (TIOCGPTPEER), never by its name, which could lead anywhere
// (CVE-2025-52565: a /dev/pts/N or /dev/console symlink).
static void check_ptmx(const char *op, int fd)
{
	struct stat st;

	TRY(fstat(fd, &st), "%s: fstat \"/dev/ptmx\"", op);
	if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(5, 2))
		die_err(ENOTTY, "%s: \"/dev/ptmx\" is not a pty multiplexer (character device 5:2): refused", op);
}

static void open_pty(const char *op, int *master, int *slave, char *name, size_t size)
{
	int fd;

	TRY((fd = open_in_root("/dev/ptmx", O_PATH)), "%s: open \"/dev/ptmx\"", op);
	check_ptmx(op, fd);
	close(fd);
	TRY((*master = open_in_root("/dev/ptmx", O_RDWR | O_NOCTTY)), "%s: open \"/dev/ptmx\"", op);
	check_ptmx(op, *master);
	TRY(grantpt(*master), "%s: grantpt", op);
	TRY(unlockpt(*master), "%s: unlockpt", op);
	int err = ptsname_r(*master, name, size); // only to name it: runc's console socket sends it
	if (err)
		die_err(err, "%s: ptsname", op);
	TRY((*slave = ioctl(*master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC)), "%s: open the slave of \"/dev/ptmx\" (%s)", op, name);
}

// Make the slave our controlling terminal (in a new session) and our stdio.
static void become_tty(const char *op, int slave, const char *name)
{
	if (getsid(0) != getpid())
		TRY(setsid(), "%s: setsid", op);
	TRY(ioctl(slave, TIOCSCTTY, 0), "%s: TIOCSCTTY \"%s\"", op, name);
	for (int fd = 0; fd <= 2; fd++) {
		if (fd == slave)
			TRY(fcntl(fd, F_SETFD, 0), "%s: fcntl \"%s\"", op, name);
		else
			TRY(dup2(slave, fd), "%s: dup2 \"%s\" to %d", op, name, fd);
	}
	if (slave > 2)
		close(slave);
}

// Connect to the AF_UNIX stream socket at path (op names the caller in errors). sun_path is
// too short for long paths: those are connected relative to the socket's directory.
int unix_connect(const char *op, const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	const char *slash = strrchr(path, '/'), *name = path;
	int cwd = -1, r, sock;

	TRY((sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)), "%s \"%s\": socket", op, path);
	if (strlen(path) >= sizeof addr.sun_path && slash && slash != path) {
		char *dir = strndup(path, (size_t)(slash - path));
		if (!dir)
			die("%s \"%s\"", op, path);
		TRY((cwd = open(".", O_PATH | O_CLOEXEC)), "open \".\"");
		TRY(chdir(dir), "%s \"%s\": chdir \"%s\"", op, path, dir);
		free(dir);
		name = slash + 1;
	}
	if (strlen(name) >= sizeof addr.sun_path)
		die_err(ENAMETOOLONG, "%s \"%s\"", op, path);
	memcpy(addr.sun_path, name, strlen(name));
	while ((r = connect(sock, (struct sockaddr *)&addr, sizeof addr)) < 0 && errno == EINTR)
		;
	TRY(r, "%s \"%s\"", op, path);
	if (cwd >= 0) {
		TRY(fchdir(cwd), "fchdir back from \"%s\"", path);
		close(cwd);
	}
	return sock;
}

void op_console_connect(char **a)
{
	close_fd(&console_sock);
	console_sock = unix_connect("console-connect", a[0]);
}

// A console-connect in the monitor is for the child only.
void console_drop_socket(void) { close_fd(&console_sock); }

void op_console(char **a)
{
	char name[64];
	int master, slave;
	(void)a;

	if (console_sock < 0)
		die_err(EINVAL, "console: no \"console-connect\" before it");
	open_pty("console", &master, &slave, name, sizeof name);
	TRY(send_fd(console_sock, name, master), "console: send \"%s\" to the console socket", name);
	close(master);
	close_fd(&console_sock);
	become_tty("console", slave, name);
}

void op_console_proxy(char **a)
{
	char name[64];
	int master, slave;
	(void)a;

	if (phase != CHILD_SETUP)
		die_err(EINVAL, "console-proxy: only a child can hand its console to the monitor (no \"fork\" before it)");
	open_pty("console-proxy", &master, &slave, name, sizeof name);
	TRY(send_fd(setup_sock[1], "pty", master), "console-proxy: send \"%s\" to the monitor", name);
	close(master);
	become_tty("console-proxy", slave, name);
}

// winsize ROWS COLS: the size of the terminal on our stdin (process.consoleSize, set as runc
// sets it once the pty exists; a caller may resize it later).
void op_winsize(char **a)
{
	struct winsize ws = {.ws_row = (unsigned short)strtoul(a[0], NULL, 0), .ws_col = (unsigned short)strtoul(a[1], NULL, 0)};
	TRY(ioctl(0, TIOCSWINSZ, &ws), "winsize %s %s: TIOCSWINSZ", a[0], a[1]);
}

// ---- the monitor's relay: its stdin -> master, master -> its stdout ----

static int master = -1, master_open, stdin_open = 1, raw;
static struct termios saved;
static char in_buf[4096];
static size_t in_off, in_len;

int proxy_resize(void)
{
	struct winsize ws;

	if (master < 0)
		return 0;
	if (ioctl(0, TIOCGWINSZ, &ws) == 0 && ioctl(master, TIOCSWINSZ, &ws) < 0)
		warn_errno("TIOCSWINSZ on the pty master");
	return 1;
}

void proxy_attach(int fd)
{
	int fl;

	close_fd(&master);
	master = fd;
	master_open = 1;
	TRY((fl = fcntl(master, F_GETFL)), "fcntl pty master");
	TRY(fcntl(master, F_SETFL, fl | O_NONBLOCK), "fcntl pty master");
	if (!raw && tcgetattr(0, &saved) == 0) { // stdin is a terminal: pass every key through
		struct termios t = saved;
		cfmakeraw(&t);
		TRY(tcsetattr(0, TCSANOW, &t), "tcsetattr stdin");
		raw = 1;
	}
	proxy_resize();
}

void proxy_pollfds(struct pollfd p[2])
{
	p[0] = (struct pollfd){.fd = master_open && stdin_open && !in_len ? 0 : -1, .events = POLLIN};
	p[1] = (struct pollfd){.fd = master_open ? master : -1, .events = POLLIN | (in_len ? POLLOUT : 0)};
}

// Copy one chunk from the master to stdout; > 0 while there was something to copy.
static ssize_t pump_output(void)
{
	char buf[8192];
	ssize_t n = read(master, buf, sizeof buf);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) { // EIO: nobody has the slave open any more
		master_open = 0;
		return 0;
	}
	if (write_all(1, buf, (size_t)n) < 0 && errno != EPIPE)
		warn_errno("write stdout");
	return n;
}

void proxy_io(const struct pollfd p[2])
{
	if (p[0].revents) {
		ssize_t n = read(0, in_buf, sizeof in_buf);
		if (n > 0) {
			in_off = 0;
			in_len = (size_t)n;
		} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
			stdin_open = 0; // a pty has no EOF to pass on; stop reading
		}
	}
	if (p[1].revents & POLLOUT) {
		ssize_t n = write(master, in_buf + in_off, in_len);
		if (n > 0) {
			in_off += (size_t)n;
			in_len -= (size_t)n;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			in_len = 0;
		}
	}
	if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
		pump_output();
}

void proxy_restore(void)
{
	if (raw && tcsetattr(0, TCSANOW, &saved) < 0)
		warn_errno("tcsetattr stdin");
	raw = 0;
}

void proxy_finish(void)
{
	if (master >= 0)
		while (master_open && pump_output() > 0)
			;
	proxy_restore();
}
