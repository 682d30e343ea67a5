// Mounts and the files made for them, and the paths they act on (PROTOCOL.md, "Paths in the
// root"). A relative PATH lies inside the container's root (the `rootfs` op): the process that
// acts on it resolves it with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) from an fd of the
// root, and acts on the fd it got, so a symlink swapped into the rootfs meanwhile (a volume
// another container shares) can never lead outside it (runc's CVE-2021-30465). An absolute PATH
// is the process's own. The root switch (pivot_root) is here too; held and idmapped mounts are
// held.c's, masked and read-only paths masks.c's.
#include "nsinit.h"
#include "mountapi.h"
#include "mounts.h"
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define PROC_SUPER_MAGIC_ 0x9fa0

static int root_fd = -1;      // the `rootfs` op's directory
static const char *root_path; // its host path, for messages

// rootfs PATH: the root relative paths are resolved in, opened once (after its bind mount).
void op_rootfs(char **a)
{
	close_fd(&root_fd);
	TRY((root_fd = open(a[0], O_PATH | O_DIRECTORY | O_CLOEXEC)), "rootfs \"%s\"", a[0]);
	root_path = a[0];
}

// openat2 in the root `dir`: ".." and absolute symlinks stop at it, /proc magic links are
// refused. EAGAIN (a rename raced with "..") is retried, as the kernel asks.
int open_in(int dir, const char *path, int flags, unsigned long long resolve)
{
	struct open_how how = {.flags = (unsigned long long)(flags | O_CLOEXEC), .resolve = resolve | RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	int fd, tries = 0;

	while ((fd = (int)syscall(SYS_openat2, dir, path, &how, sizeof how)) < 0 && errno == EAGAIN && ++tries < 128)
		;
	return fd;
}

// How a message names PATH: as it is, or where it is below the root.
const char *shown(const char *path, char *buf, size_t size)
{
	if (*path == '/')
		return path;
	snprintf(buf, size, "%s%s%s", root_path ? root_path : "<no rootfs>", strcmp(path, ".") ? "/" : "", strcmp(path, ".") ? path : "");
	return buf;
}

static void need_root(const char *op, const char *path)
{
	if (root_fd < 0)
		die_err(EINVAL, "%s \"%s\": a path inside the root, but no \"rootfs\" before it", op, path);
}

// An fd of PATH (flags: O_PATH, or O_RDONLY | O_DIRECTORY, ...): opened inside the root if
// relative, as the process sees it if absolute. -1 with errno on failure.
int open_target(const char *op, const char *path, int flags)
{
	if (*path == '/')
		return open(path, flags | O_CLOEXEC);
	need_root(op, path);
	return open_in(root_fd, path, flags, 0);
}

// The parent directory of PATH (an fd, AT_FDCWD for an absolute PATH) and its last component:
// what mkdirat, mknodat, symlinkat and openat(O_CREAT) act on without following it.
struct at {
	int dir;
	const char *name;
};
static struct at parent_of(const char *op, const char *path)
{
	char buf[PATH_MAX + 64];
	const char *slash = strrchr(path, '/');
	struct at at = {AT_FDCWD, path};

	if (*path == '/')
		return at;
	need_root(op, path);
	if (!slash) {
		TRY((at.dir = fcntl(root_fd, F_DUPFD_CLOEXEC, 3)), "%s \"%s\": dup", op, shown(path, buf, sizeof buf));
		return at;
	}
	char *dir = strndup(path, (size_t)(slash - path));
	if (!dir)
		die("%s \"%s\"", op, shown(path, buf, sizeof buf));
	TRY((at.dir = open_in(root_fd, dir, O_PATH | O_DIRECTORY, 0)), "%s \"%s\": open \"%s\" in the root", op, shown(path, buf, sizeof buf), dir);
	free(dir);
	at.name = slash + 1;
	return at;
}

static void done(struct at *at)
{
	if (at->dir >= 0)
		close(at->dir);
}

// The path mount(2) takes for an fd: its /proc magic link. Only the host's /proc (before
// pivot_root) is to be trusted with it: the container's could be anything the rootfs holds.
const char *fd_path(int fd, char *buf, size_t size)
{
	struct statfs sf;

	TRY(statfs("/proc/self/fd", &sf), "statfs \"/proc/self/fd\"");
	if (sf.f_type != PROC_SUPER_MAGIC_)
		die_err(ENOTSUP, "\"/proc/self/fd\" is not on procfs: a mount inside the root needs the host's /proc (before pivot_root)");
	snprintf(buf, size, "/proc/self/fd/%d", fd);
	return buf;
}

void op_mount(char **a)
{
	const char *src = *a[0] ? a[0] : NULL, *type = *a[2] ? a[2] : NULL, *data = *a[4] ? a[4] : NULL;
	char buf[PATH_MAX + 64], proc[64];
	int fd;

	if (*a[1] == '/') {
		TRY(mount(src, a[1], type, strtoul(a[3], NULL, 0), data), "mount \"%s\" on \"%s\"", src ? src : a[2], a[1]);
		return;
	}
	TRY((fd = open_target("mount", a[1], O_PATH)), "mount \"%s\" on \"%s\"", src ? src : a[2], shown(a[1], buf, sizeof buf));
	TRY(mount(src, fd_path(fd, proc, sizeof proc), type, strtoul(a[3], NULL, 0), data), "mount \"%s\" on \"%s\"", src ? src : a[2], shown(a[1], buf, sizeof buf));
	close(fd);
}

void op_mkdir(char **a)
{
	char buf[PATH_MAX + 64];
	struct at at = parent_of("mkdir", a[0]);

	if (mkdirat(at.dir, at.name, (mode_t)strtoul(a[1], NULL, 0)) < 0 && errno != EEXIST)
		die("mkdir \"%s\"", shown(a[0], buf, sizeof buf));
	done(&at);
}

// The node is made with the umask cleared, so that no chmod (which would follow a symlink
// swapped in meanwhile) is needed for its exact mode.
void op_mknod(char **a)
{
	char buf[PATH_MAX + 64];
	mode_t mode = (mode_t)strtoul(a[1], NULL, 0), old = umask(0);
	struct at at = parent_of("mknod", a[0]);
	int r = mknodat(at.dir, at.name, mode, makedev(strtoul(a[2], NULL, 0), strtoul(a[3], NULL, 0)));

	umask(old);
	TRY(r, "mknod \"%s\"", shown(a[0], buf, sizeof buf));
	done(&at);
}

// lchown PATH UID GID: the owner of a node made here, never through a symlink.
void op_lchown(char **a)
{
	char buf[PATH_MAX + 64];
	struct at at = parent_of("lchown", a[0]);

	TRY(fchownat(at.dir, at.name, (uid_t)strtoul(a[1], NULL, 0), (gid_t)strtoul(a[2], NULL, 0), AT_SYMLINK_NOFOLLOW),
	    "lchown \"%s\" %s:%s", shown(a[0], buf, sizeof buf), a[1], a[2]);
	done(&at);
}

// mkdir-like PATH REF: a directory with REF's owner and mode (stat, following symlinks, as a
// layer's path is taken): an overlay's upper layer, whose attributes its merged root shows.
// Made with the umask cleared; owner then mode (a chown clears set-id bits), by fd.
void op_mkdir_like(char **a)
{
	char buf[PATH_MAX + 64];
	struct stat st;
	struct at at = parent_of("mkdir-like", a[0]);
	mode_t old;
	int fd;

	TRY(stat(a[1], &st), "mkdir-like \"%s\": stat \"%s\"", shown(a[0], buf, sizeof buf), a[1]);
	old = umask(0);
	if (mkdirat(at.dir, at.name, st.st_mode & 07777) < 0) {
		umask(old);
		die("mkdir-like \"%s\"", shown(a[0], buf, sizeof buf));
	}
	umask(old);
	TRY((fd = openat(at.dir, at.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)), "mkdir-like \"%s\": open", shown(a[0], buf, sizeof buf));
	TRY(fchown(fd, st.st_uid, st.st_gid), "mkdir-like \"%s\": chown %u:%u (the owner of \"%s\")", shown(a[0], buf, sizeof buf),
	    (unsigned)st.st_uid, (unsigned)st.st_gid, a[1]);
	TRY(fchmod(fd, st.st_mode & 07777), "mkdir-like \"%s\": chmod", shown(a[0], buf, sizeof buf));
	close(fd);
	done(&at);
}

// An empty regular file, e.g. a bind-mount target for a device node where mknod is refused.
void op_mkfile(char **a)
{
	char buf[PATH_MAX + 64];
	struct at at = parent_of("mkfile", a[0]);
	int fd = openat(at.dir, at.name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, (mode_t)strtoul(a[1], NULL, 0));

	if (fd < 0 && errno != EEXIST)
		die("mkfile \"%s\"", shown(a[0], buf, sizeof buf));
	if (fd >= 0)
		close(fd);
	done(&at);
}

void op_symlink(char **a)
{
	char buf[PATH_MAX + 64];
	struct at at = parent_of("symlink", a[1]);

	TRY(symlinkat(a[0], at.dir, at.name), "symlink \"%s\" -> \"%s\"", shown(a[1], buf, sizeof buf), a[0]);
	done(&at);
}

// PATH SET CLEAR: mount_setattr(2) on the mount at PATH and every mount below it (runc's rro, …).
void op_mount_setattr(char **a)
{
	struct mount_attr_arg attr = {.attr_set = strtoull(a[1], NULL, 0), .attr_clr = strtoull(a[2], NULL, 0)};
	char buf[PATH_MAX + 64];
	int fd;

	TRY((fd = open_target("mount_setattr", a[0], O_PATH)), "mount_setattr \"%s\"", shown(a[0], buf, sizeof buf));
	TRY(syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr),
	    "mount_setattr \"%s\" (set 0x%llx, clear 0x%llx)", shown(a[0], buf, sizeof buf), attr.attr_set, attr.attr_clr);
	close(fd);
}

// A container path opened inside `/` (the container's root once pivoted); -1 and errno on failure.
int open_in_root(const char *path, int flags)
{
	int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), fd, err;

	if (root < 0)
		return -1;
	fd = open_in(root, path, flags, 0);
	err = errno;
	close(root);
	errno = err;
	return fd;
}

// --no-pivot (nsinit's flag): `pivot_root` moves the root with MS_MOVE and chroots instead.
static int no_pivot;
void mounts_no_pivot(void) { no_pivot = 1; }

// A mountinfo field, its \ooo escapes (space, tab, newline, backslash) undone in place.
static char *unescape(char *s)
{
	char *in = s, *out = s;
	for (; *in; in++, out++) {
		if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' && in[3] >= '0' && in[3] <= '7') {
			*out = (char)((in[1] - '0') << 6 | (in[2] - '0') << 3 | (in[3] - '0'));
			in += 3;
		} else
			*out = *in;
	}
	*out = '\0';
	return s;
}

// runc's msMoveRoot, before the move: every full proc or sysfs mount (its root is the file
// system's) outside the new root goes, made a slave first so nothing propagates, or is covered
// with a tmpfs when it cannot be unmounted (EINVAL, EPERM: locked in a user namespace). Else the
// host's /proc stays reachable past the chroot, and with it a fresh procfs mount.
static void hide_host_proc_sysfs(const char *newroot)
{
	char *line = NULL, *f[10], *save, *fstype;
	size_t cap = 0, n = 0, max = 0, k;
	char **points = NULL, **more;
	FILE *mi = fopen("/proc/self/mountinfo", "re");
	ssize_t len;

	if (!mi)
		die("no-pivot: open \"/proc/self/mountinfo\"");
	while ((errno = 0, len = getline(&line, &cap, mi)) > 0) {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
		for (k = 0, f[0] = strtok_r(line, " \n", &save); f[k] && k < 5; f[++k] = strtok_r(NULL, " \n", &save))
			;
		if (k < 5)
			continue;
		while ((fstype = strtok_r(NULL, " \n", &save)) && strcmp(fstype, "-") != 0)
			;
		if (!fstype || !(fstype = strtok_r(NULL, " \n", &save)))
			continue;
		if (strcmp(unescape(f[3]), "/") != 0 || (strcmp(fstype, "proc") != 0 && strcmp(fstype, "sysfs") != 0))
			continue;
		if (strncmp(unescape(f[4]), newroot, strlen(newroot)) == 0) // runc's test, a string prefix
			continue;
		if (n == max) {
			max = max ? 2 * max : 16;
			if (!(more = realloc(points, max * sizeof *points)))
				die("no-pivot: read \"/proc/self/mountinfo\"");
			points = more;
		}
		if (!(points[n++] = strdup(f[4])))
			die("no-pivot: read \"/proc/self/mountinfo\"");
	}
	if (errno)
		die("no-pivot: read \"/proc/self/mountinfo\"");
	fclose(mi);
	free(line);
	for (k = 0; k < n; k++) {
		if (mount("", points[k], NULL, MS_SLAVE | MS_REC, NULL) < 0) {
			if (errno == ENOENT) // under one unmounted already
				continue;
			die("no-pivot: make \"%s\" a slave mount", points[k]);
		}
		if (umount2(points[k], MNT_DETACH) < 0) {
			if (errno != EINVAL && errno != EPERM)
				die("no-pivot: unmount \"%s\"", points[k]);
			TRY(mount("tmpfs", points[k], "tmpfs", 0, NULL), "no-pivot: cover \"%s\" with a tmpfs", points[k]);
		}
		free(points[k]);
	}
	free(points);
}

// pivot_root NEWROOT; with --no-pivot, runc's MS_MOVE of NEWROOT onto `/` and chroot (for a root
// on ramfs or initramfs, where pivot_root is refused).
void op_pivot_root(char **a)
{
	TRY(chdir(a[0]), "chdir \"%s\"", a[0]);
	if (no_pivot) {
		hide_host_proc_sysfs(a[0]);
		// "." is NEWROOT's mount (our cwd): moved without resolving its path again.
		TRY(mount(".", "/", NULL, MS_MOVE, NULL), "no-pivot: move \"%s\" onto \"/\"", a[0]);
		TRY(chroot("."), "no-pivot: chroot \"%s\"", a[0]);
		TRY(chdir("/"), "chdir \"/\"");
		return;
	}
	// pivot_root(".", ".") stacks the old root on top of the new one; detach it right away.
	TRY(syscall(SYS_pivot_root, ".", "."), "pivot_root \"%s\"", a[0]);
	TRY(umount2(".", MNT_DETACH), "pivot_root \"%s\": umount old root", a[0]);
	TRY(chdir("/"), "chdir \"/\"");
}
