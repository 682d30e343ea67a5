// The process's credentials and limits: supplementary groups, gid and uid, capabilities (the
// bounding, effective, permitted, inheritable and ambient sets), no_new_privs, rlimits, and the
// ownership of its stdio.
#include "nsinit.h"
#include "creds.h"
#include "plan.h"
#include <grp.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static rlim_t limit(const char *s) { return strcmp(s, "unlimited") == 0 ? RLIM_INFINITY : (rlim_t)num64(s); }

void op_setgroups(char **a)
{
	size_t n;
	gid_t *gids = plan_gids(a[0], &n);

	if (!gids && errno == EINVAL)
		die_err(EINVAL, "setgroups \"%s\"", a[0]);
	if (!gids)
		die("setgroups \"%s\": calloc", a[0]);
	TRY(setgroups(n, gids), "setgroups \"%s\"", a[0]);
	free(gids);
}

void op_setgid(char **a) { TRY(setgid((gid_t)num(a[0])), "setgid \"%s\"", a[0]); }
void op_setuid(char **a) { TRY(setuid((uid_t)num(a[0])), "setuid \"%s\"", a[0]); }
void op_keepcaps(char **a) { (void)a; TRY(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "keepcaps"); }
void op_nonewprivs(char **a) { (void)a; TRY(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "nonewprivs"); }

// Capabilities the kernel knows: PR_CAPBSET_READ fails (EINVAL) past the last one, as
// /proc/sys/kernel/cap_last_cap would say, without needing /proc. Mask bits above are ignored.
static int cap_known(int cap) { return cap < 64 && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; }

void op_capbset(char **a)
{
	unsigned long long keep = num64(a[0]);
	int in;

	for (int cap = 0; cap < 64 && (in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0)) >= 0; cap++)
		if (in && !(keep >> cap & 1)) // dropping needs CAP_SETPCAP even when already gone
			TRY(prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "capbset \"%s\": drop %d", a[0], cap);
}

void op_capset(char **a)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	unsigned long long e = num64(a[0]), p = num64(a[1]), i = num64(a[2]);

	for (int k = 0; k < 2; k++)
		d[k] = (struct __user_cap_data_struct){(__u32)(e >> 32 * k), (__u32)(p >> 32 * k), (__u32)(i >> 32 * k)};
	TRY(syscall(SYS_capset, &hdr, d), "capset \"%s\" \"%s\" \"%s\"", a[0], a[1], a[2]);
}

void op_ambient(char **a)
{
	unsigned long long mask = num64(a[0]);

	TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "ambient \"%s\": clear", a[0]);
	for (int cap = 0; cap_known(cap); cap++)
		if (mask >> cap & 1)
			TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0), "ambient \"%s\": raise %d", a[0], cap);
}

// Drop the capabilities in MASK from every set the process has, whatever the others hold: the
// bounding set (PR_CAPBSET_DROP, needs CAP_SETPCAP), then effective, permitted and inheritable
// (capget, capset; the kernel lowers the ambient set with them).
void op_capdrop(char **a)
{
	unsigned long long mask = num64(a[0]);
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	int in;

	for (int cap = 0; cap < 64 && (in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0)) >= 0; cap++)
		if (in && (mask >> cap & 1))
			TRY(prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "capdrop \"%s\": drop %d from the bounding set", a[0], cap);
	TRY(syscall(SYS_capget, &hdr, d), "capdrop \"%s\": capget", a[0]);
	for (int k = 0; k < 2; k++) {
		__u32 keep = ~(__u32)(mask >> 32 * k);
		d[k].effective &= keep;
		d[k].permitted &= keep;
		d[k].inheritable &= keep;
	}
	TRY(syscall(SYS_capset, &hdr, d), "capdrop \"%s\": capset", a[0]);
}

void op_rlimit(char **a)
{
	struct rlimit rl = {.rlim_cur = limit(a[1]), .rlim_max = limit(a[2])};
	TRY(prlimit(0, (int)num(a[0]), &rl, NULL), "rlimit \"%s\" \"%s\" \"%s\"", a[0], a[1], a[2]);
}

// fix-stdio UID, before the credential change: fds 0-2 (the console's pty, the caller's pipes)
// become the process's user's, unless they already are or are /dev/null; EINVAL/EPERM (an
// owner or uid not mapped in a user namespace) leave them as they are (runc's fixStdioPermissions).
void op_fix_stdio(char **a)
{
	uid_t uid = (uid_t)num(a[0]);
	struct stat null, st;

	TRY(stat("/dev/null", &null), "fix-stdio: stat \"/dev/null\"");
	for (int fd = 0; fd <= 2; fd++) {
		if (fstat(fd, &st) < 0) {
			if (errno == EBADF)
				continue;
			die("fix-stdio: fstat %d", fd);
		}
		if (st.st_uid == uid || (S_ISCHR(st.st_mode) && st.st_rdev == null.st_rdev))
			continue;
		if (fchown(fd, uid, (gid_t)-1) < 0 && errno != EINVAL && errno != EPERM)
			die("fix-stdio: chown %d", fd);
	}
}
