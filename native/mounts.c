// Mounts and the files made for them, and the paths they act on (PROTOCOL.md, "Paths in the
// root"). A relative PATH lies inside the container's root (the `rootfs` op): the process that
// acts on it resolves it with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) from an fd of the
// root, and acts on the fd it got, so a symlink swapped into the rootfs meanwhile (a volume
// another container shares) can never lead outside it (runc's CVE-2021-30465). An absolute PATH
// is the process's own. mask and readonly always resolve inside `/` (the container's, once
// pivoted) and use the new mount API, which needs no /proc.
#include "nsinit.h"
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_fsconfig
#define SYS_fsconfig 431
#endif
#ifndef SYS_fsmount
#define SYS_fsmount 432
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x4
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x40
#endif
#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 1
#endif
#ifndef FSMOUNT_CLOEXEC
#define FSMOUNT_CLOEXEC 1
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x1
#endif
#define FSCONFIG_SET_FLAG_ 0
#define FSCONFIG_SET_STRING_ 1
#define FSCONFIG_CMD_CREATE_ 6
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
static int open_in(int dir, const char *path, int flags, unsigned long long resolve)
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

// hold PATH RECURSIVE: while still host root (before the user namespace), clone the mount tree
// at PATH into a detached mount (open_tree OPEN_TREE_CLONE, AT_RECURSIVE for rbind);
// mount-held K DST attaches the Kth one at DST (move_mount), as runc does for mount sources the
// user namespace's root cannot reach. A detached mount may be attached in another mount namespace.
#define HELD_MAX 256
static int held[HELD_MAX];
static const char *held_path[HELD_MAX]; // for messages
static size_t nheld;
void op_hold(char **a)
{
	unsigned int flags = OPEN_TREE_CLONE | O_CLOEXEC | (strtoul(a[1], NULL, 0) ? AT_RECURSIVE : 0);

	if (nheld == HELD_MAX)
		die_err(E2BIG, "hold \"%s\": more than %d held mounts", a[0], HELD_MAX);
	TRY((held[nheld] = (int)syscall(SYS_open_tree, AT_FDCWD, a[0], flags)), "hold \"%s\": open_tree", a[0]);
	held_path[nheld++] = a[0];
}

void op_mount_held(char **a)
{
	unsigned long k = strtoul(a[0], NULL, 0);
	char buf[PATH_MAX + 64];
	int fd;

	if (k >= nheld)
		die_err(EINVAL, "mount-held %lu: no such held mount", k);
	TRY((fd = open_target("mount-held", a[1], O_PATH)), "mount held \"%s\" on \"%s\"", a[2], shown(a[1], buf, sizeof buf));
	TRY(syscall(SYS_move_mount, held[k], "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH),
	    "mount held \"%s\" on \"%s\": move_mount", a[2], shown(a[1], buf, sizeof buf));
	close(fd);
	close(held[k]);
}

struct mount_attr_arg {
	unsigned long long attr_set, attr_clr, propagation, userns_fd;
};

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

// Attach the detached mount `tree` on the fd `target`, and let go of it.
static void attach(int tree, int target, const char *op, const char *path, const char *what)
{
	TRY(syscall(SYS_move_mount, tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH),
	    "%s \"%s\": attach %s", op, path, what);
	close(tree);
}

// The container's /dev/null, checked on the fd that will be bound (CVE-2025-31133: a symlink
// there, or another file, would put what it names over the masked path).
static int open_null(int root, const char *path)
{
	struct stat st;
	int fd = open_in(root, "/dev/null", O_PATH | O_NOFOLLOW, RESOLVE_NO_SYMLINKS);

	if (fd < 0 && errno == ELOOP)
		die_err(ELOOP, "mask \"%s\": \"/dev/null\" is a symlink or lies under one: refused", path);
	TRY(fd, "mask \"%s\": open \"/dev/null\"", path);
	TRY(fstat(fd, &st), "mask \"%s\": fstat \"/dev/null\"", path);
	if (S_ISLNK(st.st_mode)) // O_NOFOLLOW with O_PATH opens the link itself
		die_err(ELOOP, "mask \"%s\": \"/dev/null\" is a symlink or lies under one: refused", path);
	if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
		die_err(EINVAL, "mask \"%s\": \"/dev/null\" is not the null device (character device 1:3): refused", path);
	return fd;
}

// An empty read-only tmpfs, detached (fsopen/fsmount: no path, no /proc).
static int empty_tmpfs(const char *path)
{
	int fs, tree;

	TRY((fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC)), "mask \"%s\": fsopen tmpfs", path);
	TRY(syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING_, "source", "tmpfs", 0), "mask \"%s\": fsconfig source", path);
	TRY(syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG_, "ro", NULL, 0), "mask \"%s\": fsconfig ro", path);
	TRY(syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE_, NULL, NULL, 0), "mask \"%s\": create tmpfs", path);
	TRY((tree = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY)), "mask \"%s\": fsmount tmpfs", path);
	close(fs);
	return tree;
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

// PATH inside `/`; -1 (nothing to do) if it does not exist.
static int open_in_slash(const char *op, const char *path, int *root)
{
	int fd;

	TRY((*root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)), "%s \"%s\": open \"/\"", op, path);
	if ((fd = open_in(*root, path, O_PATH, 0)) < 0 && errno != ENOENT)
		die("%s \"%s\"", op, path);
	return fd;
}

// linux.maskedPaths: a directory gets an empty read-only tmpfs, anything else the container's
// /dev/null. A missing PATH is fine.
void op_mask(char **a)
{
	struct stat st;
	int root, fd;

	if ((fd = open_in_slash("mask", a[0], &root)) >= 0) {
		TRY(fstat(fd, &st), "mask \"%s\": fstat", a[0]);
		if (S_ISDIR(st.st_mode)) {
			attach(empty_tmpfs(a[0]), fd, "mask", a[0], "tmpfs");
		} else {
			int null = open_null(root, a[0]), tree;
			TRY((tree = (int)syscall(SYS_open_tree, null, "", OPEN_TREE_CLONE | AT_EMPTY_PATH | O_CLOEXEC)),
			    "mask \"%s\": bind \"/dev/null\"", a[0]);
			attach(tree, fd, "mask", a[0], "\"/dev/null\"");
			close(null);
		}
		close(fd);
	}
	close(root);
}

// linux.readonlyPaths: a read-only bind of PATH onto itself. mount_setattr only sets ro, so the
// mount keeps its other flags (in a user namespace the kernel refuses to clear locked ones).
void op_readonly(char **a)
{
	struct mount_attr_arg ro = {.attr_set = MOUNT_ATTR_RDONLY};
	int root, fd, tree;

	if ((fd = open_in_slash("readonly", a[0], &root)) >= 0) {
		TRY((tree = (int)syscall(SYS_open_tree, fd, "", OPEN_TREE_CLONE | AT_RECURSIVE | AT_EMPTY_PATH | O_CLOEXEC)),
		    "readonly \"%s\": bind", a[0]);
		TRY(syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &ro, sizeof ro), "readonly \"%s\": remount", a[0]);
		attach(tree, fd, "readonly", a[0], "the read-only bind");
		close(fd);
	}
	close(root);
}

// ---- idmapped mounts ----

#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x100000
#endif
#define MAPNS_MAX 256
static int mapns[MAPNS_MAX];
static size_t nmapns;

// Write MAP to /proc/PID/FILE in one write; 0 or an errno.
static int write_map(pid_t pid, const char *file, const char *map)
{
	char path[64];
	int fd, err = 0;
	ssize_t n;

	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return errno;
	if ((n = write(fd, map, strlen(map))) < 0)
		err = errno;
	else if ((size_t)n != strlen(map))
		err = EIO;
	close(fd);
	return err;
}

// idmap-userns UIDMAP GIDMAP (while host root): a user namespace with exactly these maps, for
// MOUNT_ATTR_IDMAP, kept as the next index (0, 1, ...). A child unshares it and waits while we
// write its maps and open /proc/<child>/ns/user, then is killed and reaped: no process is left
// in it, the fd keeps it alive.
void op_idmap_userns(char **a)
{
	int ready[2], hold[2], err = 0, st;
	char c = 0, path[64];
	pid_t pid;

	if (nmapns == MAPNS_MAX)
		die_err(E2BIG, "idmap-userns: more than %d user namespaces", MAPNS_MAX);
	TRY(pipe2(ready, O_CLOEXEC), "idmap-userns: pipe2");
	TRY(pipe2(hold, O_CLOEXEC), "idmap-userns: pipe2");
	TRY((pid = fork()), "idmap-userns: fork");
	if (pid == 0) {
		close(ready[0]);
		close(hold[1]);
		c = unshare(CLONE_NEWUSER) < 0 ? (char)errno : 0;
		if (write(ready[1], &c, 1) != 1 || c)
			_exit(1);
		while (read(hold[0], &c, 1) < 0 && errno == EINTR) // EOF: the parent is done (or gone)
			;
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	while (read(ready[0], &c, 1) < 0 && errno == EINTR)
		;
	if (c)
		err = c;
	else if (!(err = write_map(pid, "uid_map", a[0])) && !(err = write_map(pid, "gid_map", a[1]))) {
		snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
		if ((mapns[nmapns] = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			err = errno;
	}
	close(ready[0]);
	close(hold[1]);
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (err)
		die_err(err, "idmap-userns: a user namespace with uid_map \"%s\" and gid_map \"%s\"", a[0], a[1]);
	nmapns++;
}

// hold-idmap INDEX USERNS RECURSIVE: make the INDEXth held mount (still detached) an idmapped
// one, with the USERNSth idmap-userns; RECURSIVE: every mount of the held tree (ridmap).
void op_hold_idmap(char **a)
{
	unsigned long k = strtoul(a[0], NULL, 0), u = strtoul(a[1], NULL, 0);
	struct mount_attr_arg attr = {.attr_set = MOUNT_ATTR_IDMAP};

	if (k >= nheld)
		die_err(EINVAL, "hold-idmap %lu: no such held mount", k);
	if (u >= nmapns)
		die_err(EINVAL, "hold-idmap \"%s\": no user namespace %lu", held_path[k], u);
	attr.userns_fd = (unsigned long long)mapns[u];
	if (syscall(SYS_mount_setattr, held[k], "", AT_EMPTY_PATH | (strtoul(a[2], NULL, 0) ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0) {
		int err = errno;
		die_err(err, "idmapped mount of \"%s\": mount_setattr MOUNT_ATTR_IDMAP%s", held_path[k],
			err == EINVAL ? " (its file system may not support idmapped mounts on this kernel)" : "");
	}
}
