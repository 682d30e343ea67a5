// The text of a traced syscall (see strace-fmt.h): what strace prints for a value, by its kind.
#define _GNU_SOURCE
#include "strace-fmt.h"
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

// The buffer grows by doubling; without memory the monitor cannot go on (it is not the container).
static void grow(struct sbuf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (b->len + more + 1 > cap)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		abort();
	b->p = p;
	b->cap = cap;
}

void sb_add(struct sbuf *b, const char *s, size_t n)
{
	grow(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void sb_str(struct sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

void sb_printf(struct sbuf *b, const char *f, ...)
{
	va_list ap;
	char tmp[128];

	va_start(ap, f);
	int n = vsnprintf(tmp, sizeof tmp, f, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof tmp) {
		sb_add(b, tmp, (size_t)n);
		return;
	}
	grow(b, (size_t)n);
	va_start(ap, f);
	vsnprintf(b->p + b->len, (size_t)n + 1, f, ap);
	va_end(ap);
	b->len += (size_t)n;
}

// strace's string_quote: C escapes, printable ASCII as is, the rest in octal (three digits when
// an octal digit follows, so that it reads back the same).
void sb_quoted(struct sbuf *b, const unsigned char *s, size_t n, int more)
{
	grow(b, 4 * n + 5);
	char *o = b->p + b->len;
	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\t' ? "\\t"
			: c == '\r' ? "\\r" : c == '\v' ? "\\v" : c == '\f' ? "\\f" : NULL;
		if (esc) {
			*o++ = esc[0];
			*o++ = esc[1];
		} else if (c >= 0x20 && c < 0x7f) {
			*o++ = (char)c;
		} else {
			*o++ = '\\';
			if (i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '7') {
				*o++ = (char)('0' + (c >> 6));
				*o++ = (char)('0' + ((c >> 3) & 7));
			} else if (c >> 3) {
				if (c >> 6)
					*o++ = (char)('0' + (c >> 6));
				*o++ = (char)('0' + ((c >> 3) & 7));
			}
			*o++ = (char)('0' + (c & 7));
		}
	}
	*o++ = '"';
	b->len = (size_t)(o - b->p);
	b->p[b->len] = '\0';
	if (more)
		sb_str(b, "...");
}

void sb_json(struct sbuf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			sb_add(b, (const char[]){'\\', (char)c}, 2);
		else if (c < 0x20)
			sb_printf(b, "\\u%04x", c);
		else
			sb_add(b, (const char *)&c, 1);
	}
}

struct flag {
	uint64_t value;
	const char *name;
};
#define F(x) {x, #x}

// The kernel's O_LARGEFILE (glibc's is 0 on 64-bit arches, where the kernel still reports it).
#if defined(__x86_64__)
#define K_O_LARGEFILE 0100000
#elif defined(__aarch64__)
#define K_O_LARGEFILE 0400000
#else
#define K_O_LARGEFILE 0
#endif

static const struct flag open_flags[] = {
	F(O_TMPFILE), F(O_SYNC), F(O_CREAT), F(O_EXCL), F(O_NOCTTY), F(O_TRUNC), F(O_APPEND), F(O_NONBLOCK),
	F(O_DSYNC), F(O_ASYNC), F(O_DIRECT), {K_O_LARGEFILE, "O_LARGEFILE"}, F(O_DIRECTORY), F(O_NOFOLLOW),
	F(O_NOATIME), F(O_CLOEXEC), F(O_PATH),
};
static const struct flag prot_flags[] = {
	F(PROT_READ), F(PROT_WRITE), F(PROT_EXEC), {0x8, "PROT_SEM"}, F(PROT_GROWSDOWN), F(PROT_GROWSUP),
};
static const struct flag map_flags[] = {
	{0x3, "MAP_SHARED_VALIDATE"}, F(MAP_SHARED), F(MAP_PRIVATE), F(MAP_FIXED), F(MAP_ANONYMOUS),
#ifdef MAP_32BIT
	F(MAP_32BIT),
#endif
	F(MAP_GROWSDOWN), F(MAP_DENYWRITE), F(MAP_EXECUTABLE), F(MAP_LOCKED), F(MAP_NORESERVE), F(MAP_POPULATE),
	F(MAP_NONBLOCK), F(MAP_STACK), F(MAP_HUGETLB), {0x80000, "MAP_SYNC"}, {0x100000, "MAP_FIXED_NOREPLACE"},
	{0x4000000, "MAP_UNINITIALIZED"},
};
static const struct flag clone_flags[] = {
	F(CLONE_VM), F(CLONE_FS), F(CLONE_FILES), F(CLONE_SIGHAND), {0x1000, "CLONE_PIDFD"}, F(CLONE_PTRACE),
	F(CLONE_VFORK), F(CLONE_PARENT), F(CLONE_THREAD), F(CLONE_NEWNS), F(CLONE_SYSVSEM), F(CLONE_SETTLS),
	F(CLONE_PARENT_SETTID), F(CLONE_CHILD_CLEARTID), {0x400000, "CLONE_DETACHED"}, F(CLONE_UNTRACED),
	F(CLONE_CHILD_SETTID), F(CLONE_NEWCGROUP), F(CLONE_NEWUTS), F(CLONE_NEWIPC), F(CLONE_NEWUSER),
	F(CLONE_NEWPID), F(CLONE_NEWNET), F(CLONE_IO), {0x100000000ULL, "CLONE_CLEAR_SIGHAND"},
	{0x200000000ULL, "CLONE_INTO_CGROUP"}, {0x80, "CLONE_NEWTIME"},
};
static const struct flag at_flags[] = {
	{0x100, "AT_SYMLINK_NOFOLLOW"}, {0x200, "AT_REMOVEDIR"}, {0x400, "AT_SYMLINK_FOLLOW"},
	{0x800, "AT_NO_AUTOMOUNT"}, {0x1000, "AT_EMPTY_PATH"}, {0x2000, "AT_STATX_FORCE_SYNC"},
	{0x4000, "AT_STATX_DONT_SYNC"}, {0x8000, "AT_RECURSIVE"},
};
static const struct flag access_modes[] = {F(R_OK), F(W_OK), F(X_OK)};
static const struct flag whences[] = {F(SEEK_SET), F(SEEK_CUR), F(SEEK_END), F(SEEK_DATA), F(SEEK_HOLE)};
static const struct flag hows[] = {F(SIG_BLOCK), F(SIG_UNBLOCK), F(SIG_SETMASK)};
static const struct flag fcntls[] = {
	F(F_DUPFD), F(F_GETFD), F(F_SETFD), F(F_GETFL), F(F_SETFL), F(F_GETLK), F(F_SETLK), F(F_SETLKW),
	F(F_SETOWN), F(F_GETOWN), F(F_SETSIG), F(F_GETSIG), F(F_SETOWN_EX), F(F_GETOWN_EX), F(F_OFD_GETLK),
	F(F_OFD_SETLK), F(F_OFD_SETLKW), F(F_SETLEASE), F(F_GETLEASE), F(F_NOTIFY), F(F_DUPFD_CLOEXEC),
	F(F_SETPIPE_SZ), F(F_GETPIPE_SZ), F(F_ADD_SEALS), F(F_GET_SEALS),
};
static const struct flag ioctls[] = {
	F(TCGETS), F(TCSETS), F(TCSETSW), F(TCSETSF), F(TIOCSCTTY), F(TIOCGPGRP), F(TIOCSPGRP), F(TIOCGWINSZ),
	F(TIOCSWINSZ), F(FIONREAD), F(FIONBIO), F(FIONCLEX), F(FIOCLEX), F(TIOCGPTN), F(TIOCSPTLCK),
};

// Names whose every bit is in v, in table order, each taken out; what is left in hex.
static void sb_bits(struct sbuf *b, uint64_t v, const struct flag *t, size_t n, int any)
{
	for (size_t i = 0; i < n && v; i++) {
		if (t[i].value && (v & t[i].value) == t[i].value) {
			sb_printf(b, "%s%s", any++ ? "|" : "", t[i].name);
			v &= ~t[i].value;
		}
	}
	if (v || !any)
		sb_printf(b, "%s%#llx", any ? "|" : "", (unsigned long long)v);
}

static void sb_one_of(struct sbuf *b, uint64_t v, const struct flag *t, size_t n, int hex)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].value == v) {
			sb_str(b, t[i].name);
			return;
		}
	sb_printf(b, hex ? "%#llx" : "%lld", (unsigned long long)v);
}

void sb_flagset(struct sbuf *b, enum flagset set, uint64_t v)
{
	switch (set) {
	case FS_OPEN: {
		uint64_t acc = v & O_ACCMODE;
		sb_str(b, acc == O_RDONLY ? "O_RDONLY" : acc == O_WRONLY ? "O_WRONLY" : acc == O_RDWR ? "O_RDWR" : "O_ACCMODE");
		if (v & ~(uint64_t)O_ACCMODE)
			sb_bits(b, v & ~(uint64_t)O_ACCMODE, open_flags, N(open_flags), 1);
		break;
	}
	case FS_FDFL:
		if (v)
			sb_bits(b, v, open_flags, N(open_flags), 0);
		else
			sb_str(b, "0");
		break;
	case FS_PROT:
		if (v)
			sb_bits(b, v, prot_flags, N(prot_flags), 0);
		else
			sb_str(b, "PROT_NONE");
		break;
	case FS_MAP: {
		// The type (the low two bits) first, then the flags.
		uint64_t type = v & 3;
		sb_one_of(b, type, map_flags, 3, 1);
		if (v & ~(uint64_t)3)
			sb_bits(b, v & ~(uint64_t)3, map_flags + 3, N(map_flags) - 3, 1);
		break;
	}
	case FS_CLONE: {
		uint64_t fl = v & ~(uint64_t)0xff;
		int sig = (int)(v & 0xff), any = 0;
		if (fl) {
			sb_bits(b, fl, clone_flags, N(clone_flags) - 1, 0);
			any = 1;
		}
		if (sig || !any) {
			if (any)
				sb_str(b, "|");
			sb_signal(b, sig);
		}
		break;
	}
	case FS_NS:
		if (v)
			sb_bits(b, v, clone_flags, N(clone_flags), 0);
		else
			sb_str(b, "0");
		break;
	case FS_AT:
		if (v)
			sb_bits(b, v, at_flags, N(at_flags), 0);
		else
			sb_str(b, "0");
		break;
	case FS_ACCESS:
		if (v)
			sb_bits(b, v, access_modes, N(access_modes), 0);
		else
			sb_str(b, "F_OK");
		break;
	case FS_WHENCE:
		sb_one_of(b, v, whences, N(whences), 0);
		break;
	case FS_HOW:
		sb_one_of(b, v, hows, N(hows), 0);
		break;
	case FS_FCNTL:
		sb_one_of(b, v, fcntls, N(fcntls), 0);
		break;
	case FS_IOCTL:
		sb_one_of(b, v & 0xffffffff, ioctls, N(ioctls), 1);
		break;
	}
}

void sb_signal(struct sbuf *b, int sig)
{
	const char *abbrev = sig > 0 && sig < SIGRTMIN ? sigabbrev_np(sig) : NULL;
	if (abbrev)
		sb_printf(b, "SIG%s", abbrev);
	else if (sig >= 32 && sig <= 64)
		sb_printf(b, sig == 32 ? "SIGRTMIN" : "SIGRT_%d", sig - 32);
	else
		sb_printf(b, "%d", sig);
}

void sb_si_code(struct sbuf *b, int sig, int code)
{
	static const struct flag any[] = {
		{(uint64_t)SI_USER, "SI_USER"}, {(uint64_t)SI_KERNEL, "SI_KERNEL"}, {(uint64_t)(int64_t)SI_QUEUE, "SI_QUEUE"},
		{(uint64_t)(int64_t)SI_TIMER, "SI_TIMER"}, {(uint64_t)(int64_t)SI_MESGQ, "SI_MESGQ"},
		{(uint64_t)(int64_t)SI_ASYNCIO, "SI_ASYNCIO"}, {(uint64_t)(int64_t)SI_SIGIO, "SI_SIGIO"},
		{(uint64_t)(int64_t)SI_TKILL, "SI_TKILL"},
	};
	static const struct flag chld[] = {
		F(CLD_EXITED), F(CLD_KILLED), F(CLD_DUMPED), F(CLD_TRAPPED), F(CLD_STOPPED), F(CLD_CONTINUED),
	};
	if (code <= 0 || code == SI_KERNEL || sig != SIGCHLD)
		sb_one_of(b, (uint64_t)(int64_t)code, any, N(any), 0);
	else
		sb_one_of(b, (uint64_t)code, chld, N(chld), 0);
}

void sb_errno(struct sbuf *b, int err)
{
	// The kernel's restart codes never reach a program; strace names them all the same.
	static const char *const restart[] = {
		"ERESTARTSYS (To be restarted if SA_RESTART is set)", "ERESTARTNOINTR (To be restarted)",
		"ERESTARTNOHAND (To be restarted if no handler)", "ENOIOCTLCMD (No ioctl command)",
		"ERESTART_RESTARTBLOCK (Interrupted by signal)",
	};
	if (err >= 512 && err <= 516) {
		sb_printf(b, "? %s", restart[err - 512]);
		return;
	}
	const char *name = strerrorname_np(err);
	if (name)
		sb_printf(b, "-1 %s (%s)", name, strerror(err));
	else
		sb_printf(b, "-1 E%d", err);
}

void sb_wait_status(struct sbuf *b, int st)
{
	if (WIFEXITED(st)) {
		sb_printf(b, "{WIFEXITED(s) && WEXITSTATUS(s) == %d}", WEXITSTATUS(st));
	} else if (WIFSIGNALED(st)) {
		sb_str(b, "{WIFSIGNALED(s) && WTERMSIG(s) == ");
		sb_signal(b, WTERMSIG(st));
		sb_str(b, WCOREDUMP(st) ? " && WCOREDUMP(s)}" : "}");
	} else if (WIFSTOPPED(st)) {
		sb_str(b, "{WIFSTOPPED(s) && WSTOPSIG(s) == ");
		sb_signal(b, WSTOPSIG(st));
		sb_str(b, "}");
	} else if (WIFCONTINUED(st)) {
		sb_str(b, "{WIFCONTINUED(s)}");
	} else {
		sb_printf(b, "%#x", (unsigned)st);
	}
}
