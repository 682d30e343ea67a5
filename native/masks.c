// linux.maskedPaths and linux.readonlyPaths: each path is resolved inside `/` (the container's
// root once pivoted) and covered with the new mount API (open_tree, fsmount, move_mount,
// mount_setattr), which needs no /proc.
#include "nsinit.h"
#include "masks.h"
#include "mountapi.h"
#include "mounts.h"
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

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
