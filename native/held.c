// Held mounts: bind sources cloned into detached mounts while the monitor is still host root,
// attached later in the container's mount namespace; and idmapped mounts made of them.
#include "nsinit.h"
#include "held.h"
#include "mountapi.h"
#include "mounts.h"
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

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
