// Shared between nsinit.c (plan, monitor) and the files of its ops (console.c, mounts.c, …);
// error reporting is errors.c's, fd and buffer helpers io.c's.
#ifndef NSINIT_H
#define NSINIT_H
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <sys/types.h>

#include "errors.h"
#include "io.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

// console.c: fd passing (one message carrying data and one fd)
int send_fd(int sock, const char *data, int fd);
ssize_t recv_fd(int sock, char *buf, size_t size, int *fd);

// console.c: connect to an AF_UNIX stream socket by path (any length); dies on failure
int unix_connect(const char *op, const char *path);

// console.c: plan ops
void op_console_connect(char **a);
void op_console(char **a);
void op_console_proxy(char **a);
void console_drop_socket(void); // the monitor, after fork: a console-connect is for the child

// console.c: the monitor's relay between its stdio and a proxied pty master
void proxy_attach(int master);
void proxy_pollfds(struct pollfd p[2]);
void proxy_io(const struct pollfd p[2]);
int proxy_resize(void); // on SIGWINCH: 1 if a pty is proxied (then the signal is not forwarded)
void proxy_finish(void); // drain the master, restore the terminal
void proxy_restore(void); // restore the terminal only
// copyup.c: a mount that starts with the content of the directory it covers
void op_mount_copyup(char **a);

// mounts.c: mounts and the files made for them; a relative path is inside the `rootfs` root
void op_rootfs(char **a);
void op_mount(char **a);
void op_mount_setattr(char **a);
void op_mkdir(char **a);
void op_mknod(char **a);
void op_mkfile(char **a);
void op_lchown(char **a);
void op_symlink(char **a);
void op_hold(char **a);
void op_mount_held(char **a);
void op_mask(char **a);
void op_readonly(char **a);
// How a message names a plan path (below the root's host path if relative).
const char *shown(const char *path, char *buf, size_t size);
// An fd of a plan path: inside the root if relative (openat2 RESOLVE_IN_ROOT); -1 and errno on failure.
int open_target(const char *op, const char *path, int flags);
// "/proc/self/fd/N" for mount(2), once /proc is checked to be procfs.
const char *fd_path(int fd, char *buf, size_t size);
// console.c: an openat2 of a container path inside `/` (the container's root once pivoted)
int open_in_root(const char *path, int flags);

// seccomp.c: plan ops, the listener handover (monitor) and the kernel probe
void op_seccomp(char **a);
void op_seccomp_listener(char **a);
void seccomp_handover(int listener, pid_t pid);
int seccomp_probe(void);
// process.c: process attributes (see there)
void op_sched(char **a);
void op_ioprio(char **a);
void op_affinity(char **a);
void op_personality(char **a);
void op_setdomainname(char **a);
void op_keyring(char **a);
void op_mempolicy(char **a);
void op_winsize(char **a);
// netdev.c: linux.netDevices
void op_netdev(char **a);
void op_netdev_move(char **a);
// mounts.c: idmapped mounts
void op_idmap_userns(char **a);
void op_hold_idmap(char **a);
// Close every fd from 3 up but keep[0] and keep[1] (sorted; may be equal).
void close_all_but(const int keep[2]);

#endif
