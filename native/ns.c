// Namespaces and what is set in them: unshare, setns, the UTS names, the loopback interface,
// and `write` of a value to a file (sysctls, cgroup.procs, oom_score_adj, ...).
#include "nsinit.h"
#include "ns.h"
#include "plan.h"
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef NS_GET_NSTYPE
#define NS_GET_NSTYPE _IO(0xb7, 0x3)
#endif

void op_unshare(char **a)
{
	int flags = plan_ns_list(a[0]);

	if (flags < 0)
		die_err(EINVAL, "unshare \"%s\"", a[0]);
	TRY(unshare(flags), "unshare \"%s\"", a[0]);
}

// Joining a mount namespace also moves our root and cwd to that namespace's root.
void op_setns(char **a)
{
	int flag = plan_ns_flag(a[1], strlen(a[1])), fd, type;

	if (!flag)
		die_err(EINVAL, "setns \"%s\": unknown namespace type \"%s\"", a[0], a[1]);
	TRY((fd = open(a[0], O_RDONLY | O_CLOEXEC)), "setns \"%s\"", a[0]);
	// Checked first for a clear message; a kernel without NS_GET_NSTYPE leaves it to setns.
	if ((type = ioctl(fd, NS_GET_NSTYPE)) >= 0 && type != flag)
		die_err(EINVAL, "setns \"%s\": not a %s namespace", a[0], a[1]);
	TRY(setns(fd, flag), "setns \"%s\"", a[0]);
	close(fd);
}

void op_sethostname(char **a) { TRY(sethostname(a[0], strlen(a[0])), "sethostname \"%s\"", a[0]); }

void op_setdomainname(char **a)
{
	TRY(setdomainname(a[0], strlen(a[0])), "setdomainname \"%s\"", a[0]);
}

void op_write(char **a)
{
	int fd;

	TRY((fd = open(a[0], O_WRONLY | O_CLOEXEC | O_NOFOLLOW)), "write \"%s\" to \"%s\"", a[1], a[0]);
	TRY(write_all(fd, a[1], strlen(a[1])), "write \"%s\" to \"%s\"", a[1], a[0]);
	TRY(close(fd), "write \"%s\" to \"%s\"", a[1], a[0]);
}

void op_loopback(char **a)
{
	struct ifreq ifr = {.ifr_name = "lo"};
	int fd;
	(void)a;

	TRY((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)), "loopback \"lo\": socket");
	TRY(ioctl(fd, SIOCGIFFLAGS, &ifr), "loopback \"lo\": SIOCGIFFLAGS");
	ifr.ifr_flags |= IFF_UP;
	TRY(ioctl(fd, SIOCSIFFLAGS, &ifr), "loopback \"lo\": SIOCSIFFLAGS");
	close(fd);
}
