// Mounts and the files made for them (mounts.c); a relative path lies inside the `rootfs` root
// (PROTOCOL.md, "Paths in the root").
#ifndef MOUNTS_H
#define MOUNTS_H
#include <stddef.h>

// plan ops
void op_rootfs(char **a);
void op_mount(char **a);
void op_mount_setattr(char **a);
void op_mkdir(char **a);
void op_mknod(char **a);
void op_mkfile(char **a);
void op_lchown(char **a);
void op_mkdir_like(char **a);
void op_symlink(char **a);
void op_pivot_root(char **a);
// --no-pivot: op_pivot_root moves the new root onto `/` (MS_MOVE) and chroots instead.
void mounts_no_pivot(void);

// How a message names a plan path (below the root's host path if relative).
const char *shown(const char *path, char *buf, size_t size);
// An fd of a plan path: inside the root if relative (openat2 RESOLVE_IN_ROOT); -1 and errno on failure.
int open_target(const char *op, const char *path, int flags);
// "/proc/self/fd/N" for mount(2), once /proc is checked to be procfs.
const char *fd_path(int fd, char *buf, size_t size);
// openat2 of path in the root dir (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS and resolve); -1 and errno on failure.
int open_in(int dir, const char *path, int flags, unsigned long long resolve);
// An openat2 of a container path inside `/` (the container's root once pivoted).
int open_in_root(const char *path, int flags);

#endif
