// A traced syscall's arguments by kind (see strace-args.h). Memory is read with
// process_vm_readv, page by page (a string may end just before an unmapped page), or word by
// word with PTRACE_PEEKDATA where the tracee's memory is not ours to read otherwise.
#define _GNU_SOURCE
#include "strace-args.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <time.h>

#define PAGE 4096
#define ARRAY_MAX 32    // elements of an argv or iovec array printed (strace's default)
#define ENV_COUNT 65536 // environment entries counted

static const char *const kind_names[] = {
#define STRACE_NAME_(id, name) name,
	STRACE_KINDS(STRACE_NAME_)
#undef STRACE_NAME_
};

int kind_parse(const char *s, size_t len)
{
	for (size_t k = 0; k < K_NKINDS; k++)
		if (strlen(kind_names[k]) == len && strncmp(kind_names[k], s, len) == 0)
			return (int)k;
	return -1;
}

int ret_kind_parse(const char *s)
{
	return !strcmp(s, "d") ? R_D : !strcmp(s, "x") ? R_X : !strcmp(s, "o") ? R_O : !strcmp(s, "n") ? R_NONE : -1;
}

// Up to len bytes at addr in the tracee; how many were read (a fault ends it), or -1.
static ssize_t peek(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		size_t chunk = PAGE - (size_t)((addr + done) % PAGE);
		if (chunk > len - done)
			chunk = len - done;
		struct iovec l = {(char *)buf + done, chunk}, r = {(void *)(uintptr_t)(addr + done), chunk};
		ssize_t n = process_vm_readv(pid, &l, 1, &r, 1, 0);
		if (n < 0 && (errno == EPERM || errno == ENOSYS))
			break; // not ours to read so: through ptrace, as its tracer
		if (n <= 0)
			return done ? (ssize_t)done : -1;
		done += (size_t)n;
		if ((size_t)n < chunk)
			return (ssize_t)done;
	}
	while (done < len) {
		uint64_t at = addr + done, word = at & ~(uint64_t)(sizeof(long) - 1);
		size_t off = (size_t)(at - word), take = sizeof(long) - off;
		errno = 0;
		long w = ptrace(PTRACE_PEEKDATA, pid, (void *)(uintptr_t)word, NULL);
		if (errno)
			break;
		if (take > len - done)
			take = len - done;
		memcpy((char *)buf + done, (char *)&w + off, take);
		done += take;
	}
	return done ? (ssize_t)done : -1;
}

// A scratch buffer of at least n bytes, kept for the next call.
static unsigned char *scratch(size_t n)
{
	static unsigned char *buf;
	static size_t cap;
	if (n > cap) {
		unsigned char *p = realloc(buf, n);
		if (!p)
			abort();
		buf = p;
		cap = n;
	}
	return buf;
}

static void sb_ptr(struct sbuf *b, uint64_t v)
{
	if (v)
		sb_printf(b, "%#llx", (unsigned long long)v);
	else
		sb_str(b, "NULL");
}

// The NUL-terminated string at addr, quoted, cut after max bytes; its address if unreadable.
static void sb_string(struct sbuf *b, pid_t pid, uint64_t addr, size_t max)
{
	unsigned char *buf = scratch(max + 1);
	size_t n = 0;

	if (!addr) {
		sb_str(b, "NULL");
		return;
	}
	// Page by page, so that a short string is read in one go and a long one no further than needed.
	while (n <= max) {
		size_t want = PAGE - (size_t)((addr + n) % PAGE);
		if (want > max + 1 - n)
			want = max + 1 - n;
		ssize_t got = peek(pid, addr + n, buf + n, want);
		if (got <= 0)
			break;
		void *nul = memchr(buf + n, '\0', (size_t)got);
		if (nul) {
			sb_quoted(b, buf, (size_t)((unsigned char *)nul - buf), 0);
			return;
		}
		n += (size_t)got;
		if ((size_t)got < want)
			break;
	}
	if (n == 0)
		sb_ptr(b, addr);
	else
		sb_quoted(b, buf, n > max ? max : n, 1);
}

// len bytes at addr, quoted, cut after max; its address if unreadable.
static void sb_buffer(struct sbuf *b, pid_t pid, uint64_t addr, uint64_t len, size_t max)
{
	size_t want = len > max ? max : (size_t)len;
	unsigned char *buf = scratch(want + 1);
	ssize_t got = want ? peek(pid, addr, buf, want) : 0;

	if (got < 0 || (size_t)got < want)
		sb_ptr(b, addr);
	else
		sb_quoted(b, buf, want, len > max);
}

// An iovec array: each element's buffer (its first `total` bytes in all, for what a read filled).
static void sb_iovec(struct sbuf *b, pid_t pid, uint64_t addr, uint64_t count, uint64_t total, size_t max)
{
	struct iovec iov[ARRAY_MAX];
	size_t n = count > ARRAY_MAX ? ARRAY_MAX : (size_t)count;

	if (n && peek(pid, addr, iov, n * sizeof *iov) != (ssize_t)(n * sizeof *iov)) {
		sb_ptr(b, addr);
		return;
	}
	sb_str(b, "[");
	for (size_t i = 0; i < n; i++) {
		uint64_t len = iov[i].iov_len, shown = len < total ? len : total;
		sb_str(b, i ? ", {iov_base=" : "{iov_base=");
		sb_buffer(b, pid, (uintptr_t)iov[i].iov_base, shown, max);
		sb_printf(b, ", iov_len=%llu}", (unsigned long long)len);
		total -= shown;
	}
	sb_str(b, count > n ? ", ...]" : "]");
}

// A NULL-terminated array of strings (argv), or only how many (envp).
static void sb_strv(struct sbuf *b, pid_t pid, uint64_t addr, size_t max, int count_only)
{
	uint64_t p = 0;
	size_t i = 0;

	if (!addr) {
		sb_str(b, "NULL");
		return;
	}
	for (; i < (count_only ? ENV_COUNT : ARRAY_MAX); i++) {
		void *ptr = NULL;
		if (peek(pid, addr + i * sizeof ptr, &ptr, sizeof ptr) != sizeof ptr) {
			if (i == 0) {
				sb_ptr(b, addr);
				return;
			}
			break;
		}
		if (!(p = (uintptr_t)ptr))
			break;
		if (!count_only) {
			sb_str(b, i ? ", " : "[");
			sb_string(b, pid, p, max);
		}
	}
	if (count_only)
		sb_printf(b, "%#llx /* %zu var%s */", (unsigned long long)addr, i, i == 1 ? "" : "s");
	else
		sb_str(b, !i ? "[]" : p ? ", ...]" : "]");
}

static void sb_stat(struct sbuf *b, pid_t pid, uint64_t addr)
{
	static const struct { mode_t type; const char *name; } types[] = {
		{S_IFREG, "S_IFREG"}, {S_IFDIR, "S_IFDIR"}, {S_IFLNK, "S_IFLNK"}, {S_IFCHR, "S_IFCHR"},
		{S_IFBLK, "S_IFBLK"}, {S_IFIFO, "S_IFIFO"}, {S_IFSOCK, "S_IFSOCK"},
	};
	struct stat st;
	const char *type = NULL;

	if (peek(pid, addr, &st, sizeof st) != sizeof st) {
		sb_ptr(b, addr);
		return;
	}
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if ((st.st_mode & S_IFMT) == types[i].type)
			type = types[i].name;
	sb_printf(b, "{st_mode=%s|%#03o, ", type ? type : "0", st.st_mode & 07777);
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
		sb_printf(b, "st_rdev=makedev(%#x, %#x), ...}", major(st.st_rdev), minor(st.st_rdev));
	else
		sb_printf(b, "st_size=%lld, ...}", (long long)st.st_size);
}

// struct clone_args: the fields strace shows first.
static void sb_clone_args(struct sbuf *b, pid_t pid, uint64_t addr)
{
	uint64_t ca[7];

	if (peek(pid, addr, ca, sizeof ca) != sizeof ca) {
		sb_ptr(b, addr);
		return;
	}
	sb_str(b, "{flags=");
	sb_flagset(b, FS_NS, ca[0]);
	sb_str(b, ", exit_signal=");
	sb_signal(b, (int)ca[4]);
	sb_printf(b, ", stack=%#llx, stack_size=%#llx, ...}", (unsigned long long)ca[5], (unsigned long long)ca[6]);
}

static int fcntl_arg(struct sbuf *b, uint64_t cmd, uint64_t v)
{
	switch (cmd) {
	case F_GETFD: case F_GETFL: case F_GETOWN: case F_GETSIG: case F_GETLEASE: case F_GETPIPE_SZ: case F_GET_SEALS:
		return 0;
	case F_SETFD:
		sb_str(b, v == FD_CLOEXEC ? "FD_CLOEXEC" : v ? "" : "0");
		if (v && v != FD_CLOEXEC)
			sb_printf(b, "%#llx", (unsigned long long)v);
		return 1;
	case F_SETFL:
		sb_flagset(b, FS_OPEN, v);
		return 1;
	case F_DUPFD: case F_DUPFD_CLOEXEC: case F_SETOWN: case F_SETSIG: case F_SETPIPE_SZ:
		sb_printf(b, "%d", (int)v);
		return 1;
	default:
		sb_ptr(b, v);
		return 1;
	}
}

int arg_print(struct sbuf *b, const struct call_args *c, int i, enum kind k)
{
	uint64_t v = c->args[i];

	// What a failed syscall did not write is only an address.
	if (k >= K_OUT && c->failed) {
		sb_ptr(b, v);
		return 1;
	}
	switch (k) {
	case K_D: case K_FD: sb_printf(b, "%d", (int)v); break;
	case K_LD: sb_printf(b, "%lld", (long long)v); break;
	case K_U: sb_printf(b, "%llu", (unsigned long long)v); break;
	case K_X: sb_printf(b, "%#llx", (unsigned long long)v); break;
	case K_O: sb_printf(b, "%#03llo", (unsigned long long)v); break;
	case K_P: sb_ptr(b, v); break;
	case K_ATFD:
		if ((int)v == AT_FDCWD)
			sb_str(b, "AT_FDCWD");
		else
			sb_printf(b, "%d", (int)v);
		break;
	case K_S: sb_string(b, c->pid, v, c->max); break;
	case K_IB: sb_buffer(b, c->pid, v, c->args[i + 1], c->max); break;
	case K_IV: sb_iovec(b, c->pid, v, c->args[i + 1], UINT64_MAX, c->max); break;
	case K_OF: sb_flagset(b, FS_OPEN, v); break;
	case K_OM:
		if (!i || (!(c->args[i - 1] & O_CREAT) && (c->args[i - 1] & O_TMPFILE) != O_TMPFILE))
			return 0;
		sb_printf(b, "%#03llo", (unsigned long long)v);
		break;
	case K_FL: sb_flagset(b, FS_FDFL, v); break;
	case K_PROT: sb_flagset(b, FS_PROT, v); break;
	case K_MAPF: sb_flagset(b, FS_MAP, v); break;
	case K_CLONE: sb_flagset(b, FS_CLONE, v); break;
	case K_CF: sb_flagset(b, FS_NS, v); break;
	case K_SIG: sb_signal(b, (int)v); break;
	case K_ARGV: sb_strv(b, c->pid, v, c->max, 0); break;
	case K_ENVP: sb_strv(b, c->pid, v, c->max, 1); break;
	case K_WHENCE: sb_flagset(b, FS_WHENCE, v); break;
	case K_AMODE: sb_flagset(b, FS_ACCESS, v); break;
	case K_ATF: sb_flagset(b, FS_AT, v); break;
	case K_HOW: sb_flagset(b, FS_HOW, v); break;
	case K_FCNTL: sb_flagset(b, FS_FCNTL, v); break;
	case K_FARG: return i ? fcntl_arg(b, c->args[i - 1], v) : (sb_ptr(b, v), 1);
	case K_IOCTL: sb_flagset(b, FS_IOCTL, v); break;
	case K_TS: {
		struct timespec ts;
		if (v && peek(c->pid, v, &ts, sizeof ts) == sizeof ts)
			sb_printf(b, "{tv_sec=%lld, tv_nsec=%ld}", (long long)ts.tv_sec, ts.tv_nsec);
		else
			sb_ptr(b, v);
		break;
	}
	case K_CL3: sb_clone_args(b, c->pid, v); break;
	case K_OUT: sb_buffer(b, c->pid, v, c->ret > 0 ? (uint64_t)c->ret : 0, c->max); break;
	case K_OV: sb_iovec(b, c->pid, v, c->args[i + 1], c->ret > 0 ? (uint64_t)c->ret : 0, c->max); break;
	case K_OS: sb_string(b, c->pid, v, c->max); break;
	case K_WST: {
		int st;
		if (v && c->ret > 0 && peek(c->pid, v, &st, sizeof st) == sizeof st) {
			sb_str(b, "[");
			sb_wait_status(b, st);
			sb_str(b, "]");
		} else {
			sb_ptr(b, v);
		}
		break;
	}
	case K_ST: sb_stat(b, c->pid, v); break;
	case K_PFD: {
		int fds[2];
		if (peek(c->pid, v, fds, sizeof fds) == sizeof fds)
			sb_printf(b, "[%d, %d]", fds[0], fds[1]);
		else
			sb_ptr(b, v);
		break;
	}
	case K_NKINDS: break;
	}
	return 1;
}
