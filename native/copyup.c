// mount-copyup: a mount over a directory that starts with the directory's content (runc's
// `tmpcopyup` for tmpfs). The directory is opened before the mount, so the copy reads the tree
// the mount covers; files keep their mode, owner and type.
#include "nsinit.h"
#include "copyup.h"
#include "mounts.h"
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static void copy_file(int from, int to, const char *name, const struct stat *st, const char *dst)
{
	char buf[65536];
	ssize_t n;
	int in, out;

	TRY((in = openat(from, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)), "mount-copyup \"%s\": open \"%s\"", dst, name);
	TRY((out = openat(to, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st->st_mode & 07777)),
	    "mount-copyup \"%s\": create \"%s\"", dst, name);
	while ((n = read(in, buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		TRY(n, "mount-copyup \"%s\": read \"%s\"", dst, name);
		TRY(write_all(out, buf, (size_t)n), "mount-copyup \"%s\": write \"%s\"", dst, name);
	}
	TRY(fchown(out, st->st_uid, st->st_gid), "mount-copyup \"%s\": chown \"%s\"", dst, name);
	TRY(fchmod(out, st->st_mode & 07777), "mount-copyup \"%s\": chmod \"%s\"", dst, name);
	close(in);
	close(out);
}

static void copy_tree(int from, int to, const char *dst)
{
	int fd = dup(from);
	DIR *d;
	struct dirent *e;

	TRY(fd, "mount-copyup \"%s\": dup", dst);
	if (!(d = fdopendir(fd)))
		die("mount-copyup \"%s\": opendir", dst);
	while ((errno = 0, e = readdir(d))) {
		struct stat st;
		const char *name = e->d_name;

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		TRY(fstatat(from, name, &st, AT_SYMLINK_NOFOLLOW), "mount-copyup \"%s\": stat \"%s\"", dst, name);
		if (S_ISDIR(st.st_mode)) {
			int a, b;
			if (mkdirat(to, name, st.st_mode & 07777) < 0 && errno != EEXIST)
				die("mount-copyup \"%s\": mkdir \"%s\"", dst, name);
			TRY((a = openat(from, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)), "mount-copyup \"%s\": open \"%s\"", dst, name);
			TRY((b = openat(to, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)), "mount-copyup \"%s\": open \"%s\"", dst, name);
			copy_tree(a, b, dst);
			TRY(fchown(b, st.st_uid, st.st_gid), "mount-copyup \"%s\": chown \"%s\"", dst, name);
			TRY(fchmod(b, st.st_mode & 07777), "mount-copyup \"%s\": chmod \"%s\"", dst, name);
			close(a);
			close(b);
		} else if (S_ISREG(st.st_mode)) {
			copy_file(from, to, name, &st, dst);
		} else if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t n = readlinkat(from, name, target, sizeof target - 1);
			TRY(n, "mount-copyup \"%s\": readlink \"%s\"", dst, name);
			target[n] = '\0';
			TRY(symlinkat(target, to, name), "mount-copyup \"%s\": symlink \"%s\"", dst, name);
			TRY(fchownat(to, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW), "mount-copyup \"%s\": chown \"%s\"", dst, name);
		} else {
			TRY(mknodat(to, name, st.st_mode, st.st_rdev), "mount-copyup \"%s\": mknod \"%s\"", dst, name);
			TRY(fchownat(to, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW), "mount-copyup \"%s\": chown \"%s\"", dst, name);
		}
	}
	if (errno)
		die("mount-copyup \"%s\": readdir", dst);
	closedir(d);
}

// SRC DST FSTYPE FLAGS DATA, as `mount`, then DST's former content copied into the new mount.
// A relative DST is inside the root (see mounts.c): opened there, and mounted on through its fd.
void op_mount_copyup(char **a)
{
	const char *src = *a[0] ? a[0] : NULL, *type = *a[2] ? a[2] : NULL, *data = *a[4] ? a[4] : NULL;
	char buf[PATH_MAX + 64], proc[64];
	const char *dst = shown(a[1], buf, sizeof buf);
	struct stat below, above;
	int under, over;

	TRY((under = open_target("mount-copyup", a[1], O_RDONLY | O_DIRECTORY)), "mount-copyup \"%s\": open", dst);
	TRY(mount(src, *a[1] == '/' ? a[1] : fd_path(under, proc, sizeof proc), type, strtoul(a[3], NULL, 0), data),
	    "mount \"%s\" on \"%s\"", src ? src : a[2], dst);
	TRY((over = open_target("mount-copyup", a[1], O_RDONLY | O_DIRECTORY)), "mount-copyup \"%s\": open the mount", dst);
	// Opened by its path again: it must be the new mount, not what a swap put there meanwhile.
	TRY(fstat(under, &below), "mount-copyup \"%s\": fstat", dst);
	TRY(fstat(over, &above), "mount-copyup \"%s\": fstat the mount", dst);
	if (above.st_dev == below.st_dev)
		die_err(EXDEV, "mount-copyup \"%s\": the path no longer leads to the new mount", dst);
	copy_tree(under, over, dst);
	close(under);
	close(over);
}
