// The tracer's tasks and lines (see strace-log.h). One line per syscall, written when it returns,
// as strace prints it with -f: `[pid N] openat(AT_FDCWD, "/etc/hostname", O_RDONLY) = 3`, N the
// pid the container's pid namespace gives; a syscall that another task's line interrupts is split
// into `<unfinished ...>` and `<... NAME resumed>`, as strace splits it. Lines begin with the first
// execve: what nsinit does between the gate and the program is not the program's.
#define _GNU_SOURCE
#include "nsinit.h"
#include "strace.h"
#include "strace-args.h"
#include "strace-log.h"
#include <fcntl.h>
#include <linux/audit.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "strace: no audit arch for this architecture"
#endif

#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1 // si_code of a filter's SIGSYS (asm-generic/siginfo.h)
#endif

#define NR_MAX 1024 // syscall numbers a `strace-call` may name
#define NBUCKETS 256

struct call {
	const char *name; // NULL: not traced
	unsigned char nargs, ret, kind[6];
};
static struct call calls[NR_MAX];

static int log_fd = -1, proc_fd = -1, json, trace_all, shown;
static size_t max_size;
static pid_t me;
static struct task *buckets[NBUCKETS];
static struct task *held; // its syscall's entry waits for its exit, unless another line comes first
static struct sbuf text, line;

void slog_setup(int fd, int as_json, size_t max, int all, int proc, pid_t pid)
{
	log_fd = fd;
	json = as_json;
	max_size = max;
	trace_all = all;
	proc_fd = proc;
	me = pid;
}

// strace-call NR NAME KINDS: KINDS is `k1,k2,...` (up to 6), then `=R` for the return kind.
void op_strace_call(char **a)
{
	unsigned long nr = num(a[0]);
	struct call c = {.name = a[1], .ret = R_D};
	const char *p = a[2], *eq = strchr(p, '=');
	size_t end = eq ? (size_t)(eq - p) : strlen(p);
	int k;

	if (nr >= NR_MAX)
		die_err(EINVAL, "strace-call \"%s\": syscall numbers go up to %d", a[0], NR_MAX - 1);
	if (eq && (k = ret_kind_parse(eq + 1)) < 0)
		die_err(EINVAL, "strace-call %s \"%s\": unknown return kind", a[1], eq + 1);
	if (eq)
		c.ret = (unsigned char)k;
	for (size_t i = 0; i < end;) {
		size_t len = strcspn(p + i, ",");
		if (len > end - i)
			len = end - i;
		if ((k = kind_parse(p + i, len)) < 0)
			die_err(EINVAL, "strace-call %s \"%s\": unknown argument kind \"%.*s\"", a[1], p, (int)len, p + i);
		if (c.nargs == 6)
			die_err(EINVAL, "strace-call %s \"%s\": more than 6 arguments", a[1], p);
		c.kind[c.nargs++] = (unsigned char)k;
		i += len + 1;
	}
	calls[nr] = c;
}

// The pid of a task as the container's pid namespace gives it: NSpid lists it from the monitor's
// namespace inwards; the first task seen (the container's process) says which field is the
// container's (a pid namespace the program makes inside is deeper). The monitor's view if unknown.
static pid_t ns_pid(pid_t pid)
{
	static int level; // fields of the first task's NSpid
	char path[32], buf[4096], *l, *end, *f;
	pid_t ids[32]; // pid namespaces nest 32 deep at most
	int fd, fields = 0;
	ssize_t n;

	fmt(path, sizeof path, "%d/status", (int)pid);
	if ((fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC)) < 0)
		return pid;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return pid;
	buf[n] = '\0';
	if (!(l = strstr(buf, "\nNSpid:")))
		return pid;
	if ((end = strchr(l + 1, '\n')))
		*end = '\0';
	for (f = strtok(l + 7, " \t"); f && fields < (int)ARRAY_SIZE(ids); f = strtok(NULL, " \t"))
		ids[fields++] = (pid_t)atoi(f);
	if (!fields)
		return pid;
	if (!level)
		level = fields;
	return ids[(fields < level ? fields : level) - 1];
}

struct task *task_find(pid_t pid)
{
	for (struct task *t = buckets[(unsigned)pid % NBUCKETS]; t; t = t->next)
		if (t->pid == pid)
			return t;
	return NULL;
}

struct task *task_get(pid_t pid)
{
	struct task *t = task_find(pid);
	if (t)
		return t;
	if (!(t = calloc(1, sizeof *t)))
		abort();
	t->pid = pid;
	t->vpid = ns_pid(pid);
	t->next = buckets[(unsigned)pid % NBUCKETS];
	buckets[(unsigned)pid % NBUCKETS] = t;
	return t;
}

static void task_drop(struct task *t)
{
	for (struct task **p = &buckets[(unsigned)t->pid % NBUCKETS]; *p; p = &(*p)->next)
		if (*p == t) {
			*p = t->next;
			break;
		}
	if (held == t)
		held = NULL;
	free(t->entry.p);
	free(t);
}

// One line of the debug log, in its format (runsc's glog text, or JSON as runa's CLI writes it).
static void emit(const struct task *t, const struct sbuf *msg)
{
	struct timespec now;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &now);
	line.len = 0;
	if (json) {
		gmtime_r(&now.tv_sec, &tm);
		sb_printf(&line, "{\"msg\":\"[pid %d] ", (int)t->vpid);
		sb_json(&line, msg->p, msg->len);
		sb_printf(&line, "\",\"level\":\"info\",\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"source\":\"strace\"}\n",
			  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
	} else {
		localtime_r(&now.tv_sec, &tm);
		sb_printf(&line, "I%02d%02d %02d:%02d:%02d.%06ld %7d strace] [pid %d] ", tm.tm_mon + 1, tm.tm_mday,
			  tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000, (int)me, (int)t->vpid);
		sb_add(&line, msg->p, msg->len);
		sb_str(&line, "\n");
	}
	(void)write_all(log_fd, line.p, line.len); // a log is best effort: the container goes on
}

static const struct call *call_of(const struct task *t)
{
	return t->nr < NR_MAX && calls[t->nr].name ? &calls[t->nr] : NULL;
}

static void name_of(struct sbuf *b, const struct task *t)
{
	const struct call *c = call_of(t);
	if (c)
		sb_str(b, c->name);
	else
		sb_printf(b, "syscall_%#llx", (unsigned long long)t->nr);
}

// Argument i after those printed (", " between), unless strace leaves it out.
static void put_arg(struct sbuf *b, const struct call_args *a, int i, enum kind k, int *printed)
{
	size_t at = b->len;
	if (*printed)
		sb_str(b, ", ");
	if (arg_print(b, a, i, k))
		(*printed)++;
	else
		b->p[b->len = at] = '\0';
}

// The entry of another task's syscall, which ends later: `read(0,  <unfinished ...>`.
static void flush_held(const struct task *except)
{
	struct task *t = held;
	if (!t || t == except)
		return;
	held = NULL;
	text.len = 0;
	sb_add(&text, t->entry.p, t->entry.len);
	sb_str(&text, " <unfinished ...>");
	emit(t, &text);
	t->unfinished = 1;
}

static void on_entry(struct task *t, const struct __ptrace_syscall_info *info)
{
	const struct call *c;
	int printed = 0;

	if (info->arch == NATIVE_ARCH && (info->entry.nr == SYS_execve || info->entry.nr == SYS_execveat))
		shown = 1; // the program begins (nsinit's execvp tries each PATH entry: each one is the program's)
	t->in_call = 1;
	t->unfinished = 0;
	t->nr = info->arch == NATIVE_ARCH ? info->entry.nr : UINT64_MAX;
	memcpy(t->args, info->entry.args, sizeof t->args);
	c = call_of(t);
	if ((t->skip = !shown || (!c && !trace_all)))
		return;
	flush_held(t);
	struct call_args a = {.pid = t->pid, .args = t->args, .max = max_size};
	int n = c ? c->nargs : 6;
	t->entry.len = 0;
	name_of(&t->entry, t);
	sb_str(&t->entry, "(");
	for (t->rest = 0; t->rest < n; t->rest++) {
		enum kind k = c ? (enum kind)c->kind[t->rest] : K_X;
		if (k >= K_OUT)
			break; // what the syscall writes, and everything after it: at the exit
		put_arg(&t->entry, &a, t->rest, k, &printed);
	}
	if (t->rest < n && printed)
		sb_str(&t->entry, ", ");
	held = t;
}

// A filter's SECCOMP_RET_KILL_*: the syscall is skipped with its registers rolled back (the
// result reads as its own number) and SIGSYS, fatal, is pending: it never returned.
static int killed_by_seccomp(const struct task *t, long long ret)
{
	struct __ptrace_peeksiginfo_args q = {.off = 0, .flags = 0, .nr = 16};
	siginfo_t si[16];
	int n;

	if (ret < 0 || (uint64_t)ret != t->nr)
		return 0; // only then can it be the rolled-back number
	if ((n = ptrace(PTRACE_PEEKSIGINFO, t->pid, &q, si)) <= 0)
		return 0;
	for (int i = 0; i < n; i++)
		if (si[i].si_signo == SIGSYS && si[i].si_code == SYS_SECCOMP)
			return 1;
	return 0;
}

// The start of a call's line at its end: its entry as shown, or, once another line came between
// (`<unfinished ...>`), strace's `<... NAME resumed>`.
static void call_head(struct task *t)
{
	text.len = 0;
	if (t->unfinished) {
		sb_str(&text, "<... ");
		name_of(&text, t);
		sb_str(&text, " resumed>");
	} else {
		sb_add(&text, t->entry.p, t->entry.len);
	}
}

static void on_exit_stop(struct task *t, const struct __ptrace_syscall_info *info)
{
	const struct call *c = call_of(t);
	struct call_args a = {.pid = t->pid, .args = t->args, .max = max_size, .ret = info->exit.rval, .failed = info->exit.is_error};
	int printed = 0, n = c ? c->nargs : 6;

	t->in_call = 0;
	if (t->skip)
		return;
	flush_held(t);
	held = NULL;
	call_head(t);
	for (int i = t->rest; i < n; i++)
		put_arg(&text, &a, i, c ? (enum kind)c->kind[i] : K_X, &printed);
	sb_str(&text, ") = ");
	if (killed_by_seccomp(t, a.ret))
		sb_str(&text, "?");
	else if (a.failed)
		sb_errno(&text, (int)-a.ret);
	else
		sb_printf(&text, c && c->ret == R_X ? "%#llx" : c && c->ret == R_O ? "%#llo" : "%lld", a.ret);
	emit(t, &text);
}

void slog_syscall(struct task *t)
{
	struct __ptrace_syscall_info info;

	if (ptrace(PTRACE_GET_SYSCALL_INFO, t->pid, (void *)sizeof info, &info) <= 0)
		return;
	if (info.op == PTRACE_SYSCALL_INFO_ENTRY)
		on_entry(t, &info);
	else if (info.op == PTRACE_SYSCALL_INFO_EXIT && t->in_call)
		on_exit_stop(t, &info);
}

void slog_signal(struct task *t, int sig)
{
	siginfo_t si;

	if (shown && ptrace(PTRACE_GETSIGINFO, t->pid, NULL, &si) == 0) {
		flush_held(t);
		text.len = 0;
		sb_str(&text, "--- ");
		sb_signal(&text, sig);
		sb_str(&text, " {si_signo=");
		sb_signal(&text, si.si_signo);
		sb_str(&text, ", si_code=");
		sb_si_code(&text, si.si_signo, si.si_code);
		if (si.si_code <= 0 || si.si_signo == SIGCHLD)
			sb_printf(&text, ", si_pid=%d, si_uid=%u", (int)si.si_pid, (unsigned)si.si_uid);
		if (si.si_signo == SIGCHLD && si.si_code == CLD_EXITED) {
			sb_printf(&text, ", si_status=%d", si.si_status);
		} else if (si.si_signo == SIGCHLD) {
			sb_str(&text, ", si_status=");
			sb_signal(&text, si.si_status);
		} else if (si.si_code > 0 && (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE)) {
			sb_printf(&text, ", si_addr=%p", si.si_addr);
		}
		sb_str(&text, "} ---");
		emit(t, &text);
	}
}

void slog_stopped(struct task *t, int sig)
{
	if (!shown)
		return;
	flush_held(t);
	text.len = 0;
	sb_str(&text, "--- stopped by ");
	sb_signal(&text, sig);
	sb_str(&text, " ---");
	emit(t, &text);
}

void slog_exited(struct task *t, int st)
{
	if (shown) {
		flush_held(t);
		if (t->in_call && !t->skip) {
			const struct call *c = call_of(t);
			call_head(t);
			// A call that never returns (exit, exit_group) ends as strace ends it; any other is unfinished.
			sb_str(&text, !t->unfinished && c && c->ret == R_NONE ? ") = ?" : " <unfinished ...>) = ?");
			emit(t, &text);
		}
		text.len = 0;
		if (WIFEXITED(st)) {
			sb_printf(&text, "+++ exited with %d +++", WEXITSTATUS(st));
		} else {
			sb_str(&text, "+++ killed by ");
			sb_signal(&text, WTERMSIG(st));
			sb_str(&text, WCOREDUMP(st) ? " (core dumped) +++" : " +++");
		}
		emit(t, &text);
	}
	task_drop(t);
}

void slog_exec(struct task *t)
{
	unsigned long old;
	struct task *o;

	if (ptrace(PTRACE_GETEVENTMSG, t->pid, NULL, &old) < 0 || (pid_t)old == t->pid || !(o = task_find((pid_t)old)))
		return;
	struct sbuf entry = t->entry;
	t->entry = o->entry;
	o->entry = entry;
	t->in_call = o->in_call;
	t->skip = o->skip;
	t->unfinished = o->unfinished;
	t->rest = o->rest;
	t->nr = o->nr;
	memcpy(t->args, o->args, sizeof t->args);
	if (held == o || held == t)
		held = held == o ? t : NULL;
	task_drop(o);
}
