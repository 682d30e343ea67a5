// mount-setattr: recursive mount attributes. mount-copyup: a mount over a directory that starts with the directory's content (runc's
// `tmpcopyup` for tmpfs). The directory is opened before the mount, so the copy reads the tree
// the mount covers; files keep their mode, owner and type.
#include "nsinit.h"
#include <dirent.h>
#include <fcntl.h>
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

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

struct mount_attr_arg {
	unsigned long long attr_set, attr_clr, propagation, userns_fd;
};

// PATH SET CLEAR: mount_setattr(2) on the mount at PATH and every mount below it (runc's rro, …).
void op_mount_setattr(char **a)
{
	struct mount_attr_arg attr = {.attr_set = strtoull(a[1], NULL, 0), .attr_clr = strtoull(a[2], NULL, 0)};

	TRY(syscall(SYS_mount_setattr, AT_FDCWD, a[0], AT_RECURSIVE, &attr, sizeof attr),
	    "mount_setattr \"%s\" (set 0x%llx, clear 0x%llx)", a[0], attr.attr_set, attr.attr_clr);
}

// SRC DST FSTYPE FLAGS DATA, as `mount`, then DST's former content copied into the new mount.
void op_mount_copyup(char **a)
{
	const char *src = *a[0] ? a[0] : NULL, *type = *a[2] ? a[2] : NULL, *data = *a[4] ? a[4] : NULL;
	int under, over;

	TRY((under = open(a[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC)), "mount-copyup \"%s\": open", a[1]);
	TRY(mount(src, a[1], type, strtoul(a[3], NULL, 0), data), "mount \"%s\" on \"%s\"", src ? src : a[2], a[1]);
	TRY((over = open(a[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC)), "mount-copyup \"%s\": open the mount", a[1]);
	copy_tree(under, over, a[1]);
	close(under);
	close(over);
}
