// Consoles: a pty from the container's /dev/ptmx, handed either to a --console-socket
// receiver (runc's protocol) or to the monitor, which relays it to its own stdio.
#include "nsinit.h"
#include "console.h"
#include "mounts.h"
#include "unixsock.h"
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

static int console_sock = -1; // from console-connect, used by console

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
