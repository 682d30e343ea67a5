// linux.netDevices: network interfaces moved from the runtime's network namespace into the
// container's (PROTOCOL.md, `netdev` and `netdev-move`). The move is made with rtnetlink by a
// helper forked by the monitor before it enters any namespace: it stays in the runtime's network
// and user namespaces with their capabilities (a monitor in the container's user namespace has
// none over the host's interfaces, and rtnetlink checks the sender's as well as the socket's).
// `netdev HOST NAME` queues an interface with the helper; `netdev-move`, once the monitor is in
// the container's network namespace, has the helper move them all into it (as runc does it:
// down, its permanent global addresses noted, moved and renamed in one RTM_NEWLINK with
// IFLA_NET_NS_FD, the addresses put back inside, up) and report the first failure.
#include "nsinit.h"
#include "netdev.h"
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NETDEV_MAX 256
#define ADDR_MAX 64

// recv(2) of a netlink reply, again when interrupted.
static ssize_t nl_recv(int fd, char *buf, size_t size)
{
	ssize_t n;
	while ((n = recv(fd, buf, size, 0)) < 0 && errno == EINTR)
		;
	return n;
}

static int helper_sock = -1;
static pid_t helper = -1;

struct nlreq {
	struct nlmsghdr h;
	union {
		struct ifinfomsg ifi;
		struct ifaddrmsg ifa;
	};
	char attrs[256];
};

static void addattr(struct nlreq *r, unsigned short type, const void *data, size_t len)
{
	struct rtattr *rta = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->h.nlmsg_len));
	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

static int nl_open(void)
{
	return socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
}

// Send one request with NLM_F_ACK; 0, or -1 with errno the kernel's answer.
static int nl_talk(int fd, struct nlreq *r)
{
	char buf[8192];
	ssize_t n;

	r->h.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	r->h.nlmsg_seq++;
	if (send(fd, r, r->h.nlmsg_len, 0) < 0)
		return -1;
	for (;;) {
		if ((n = nl_recv(fd, buf, sizeof buf)) < 0)
			return -1;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_ERROR) {
				int e = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
				if (e == 0)
					return 0;
				errno = -e;
				return -1;
			}
		}
	}
}

static void link_req(struct nlreq *r, int index)
{
	memset(r, 0, sizeof *r);
	r->h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	r->h.nlmsg_type = RTM_NEWLINK;
	r->ifi.ifi_family = AF_UNSPEC;
	r->ifi.ifi_index = index;
}

static int link_up(int fd, int index, int up)
{
	struct nlreq r;
	link_req(&r, index);
	r.ifi.ifi_change = IFF_UP;
	r.ifi.ifi_flags = up ? IFF_UP : 0;
	return nl_talk(fd, &r);
}

// The index of interface NAME in fd's namespace, or -1 with errno (ENODEV).
static int link_index(int fd, const char *name)
{
	struct nlreq r;
	char buf[8192];
	ssize_t n;

	link_req(&r, 0);
	r.h.nlmsg_type = RTM_GETLINK;
	r.h.nlmsg_flags = NLM_F_REQUEST;
	addattr(&r, IFLA_IFNAME, name, strlen(name) + 1);
	if (send(fd, &r, r.h.nlmsg_len, 0) < 0)
		return -1;
	while ((n = recv(fd, buf, sizeof buf, 0)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return -1;
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	if (!NLMSG_OK(h, (unsigned)n))
		return errno = EPROTO, -1;
	if (h->nlmsg_type == NLMSG_ERROR) {
		errno = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
		return -1;
	}
	return ((struct ifinfomsg *)NLMSG_DATA(h))->ifi_index;
}

struct addr {
	unsigned char family, prefixlen;
	unsigned char local[16], address[16];
	int has_local, has_address, len;
};

// The permanent addresses of global scope on interface INDEX (what runc carries over).
static int link_addrs(int fd, int index, struct addr *out, int max)
{
	struct nlreq r;
	char buf[16384];
	ssize_t n;
	int count = 0;

	memset(&r, 0, sizeof r);
	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
	r.h.nlmsg_type = RTM_GETADDR;
	r.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	r.ifa.ifa_family = AF_UNSPEC;
	if (send(fd, &r, r.h.nlmsg_len, 0) < 0)
		return -1;
	for (;;) {
		if ((n = nl_recv(fd, buf, sizeof buf)) < 0)
			return -1;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return count;
			if (h->nlmsg_type == NLMSG_ERROR) {
				errno = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
				return -1;
			}
			if (h->nlmsg_type != RTM_NEWADDR)
				continue;
			struct ifaddrmsg *ifa = NLMSG_DATA(h);
			unsigned flags = ifa->ifa_flags;
			struct addr a = {.family = ifa->ifa_family, .prefixlen = ifa->ifa_prefixlen};
			int alen = IFA_PAYLOAD(h);
			for (struct rtattr *rta = IFA_RTA(ifa); RTA_OK(rta, alen); rta = RTA_NEXT(rta, alen)) {
				size_t len = RTA_PAYLOAD(rta);
				if (rta->rta_type == IFA_FLAGS && len >= 4)
					memcpy(&flags, RTA_DATA(rta), 4);
				if ((rta->rta_type == IFA_LOCAL || rta->rta_type == IFA_ADDRESS) && len <= 16) {
					memcpy(rta->rta_type == IFA_LOCAL ? a.local : a.address, RTA_DATA(rta), len);
					*(rta->rta_type == IFA_LOCAL ? &a.has_local : &a.has_address) = 1;
					a.len = (int)len;
				}
			}
			if ((int)ifa->ifa_index != index || !(flags & IFA_F_PERMANENT) || ifa->ifa_scope != RT_SCOPE_UNIVERSE)
				continue;
			if (count == max)
				return errno = E2BIG, -1;
			out[count++] = a;
		}
	}
}

static int addr_add(int fd, int index, const struct addr *a)
{
	struct nlreq r;

	memset(&r, 0, sizeof r);
	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
	r.h.nlmsg_type = RTM_NEWADDR;
	r.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	r.ifa.ifa_family = a->family;
	r.ifa.ifa_prefixlen = a->prefixlen;
	r.ifa.ifa_index = (unsigned)index;
	if (a->has_local)
		addattr(&r, IFA_LOCAL, a->local, (size_t)a->len);
	if (a->has_address)
		addattr(&r, IFA_ADDRESS, a->address, (size_t)a->len);
	return nl_talk(fd, &r);
}

// Move HOST (seen through `fd`, a socket of the runtime's network namespace) into the namespace
// NSFD as NAME, then put its addresses back and set it up through `in`, a socket of that
// namespace. 0, or an errno with msg set (what failed, without the errno's text).
static int move_one(int fd, int in, const char *host, const char *name, int nsfd, char *msg, size_t size)
{
	struct addr addrs[ADDR_MAX];
	struct nlreq r;
	int index, naddr;
	uint32_t ns = (uint32_t)nsfd;

#define FAIL(...)                                        \
	do {                                             \
		int err_ = errno;                        \
		snprintf(msg, size, __VA_ARGS__);        \
		return err_;                             \
	} while (0)
	if ((index = link_index(fd, host)) < 0)
		FAIL("netdev \"%s\": no such network interface in the runtime's network namespace", host);
	// The kernel would move it in under its own name and then refuse the rename: refused first.
	if (!strchr(name, '%') && link_index(in, name) >= 0) {
		errno = EEXIST;
		FAIL("netdev \"%s\": \"%s\" already exists in the container's network namespace", host, name);
	}
	// Listed before it goes down: IPv6 drops its addresses then (keep_addr_on_down 0).
	if ((naddr = link_addrs(fd, index, addrs, ADDR_MAX)) < 0)
		FAIL("netdev \"%s\": list its addresses", host);
	if (link_up(fd, index, 0) < 0)
		FAIL("netdev \"%s\": set it down", host);
	// Moved and renamed at once: no moment where its name could clash on either side.
	link_req(&r, index);
	addattr(&r, IFLA_IFNAME, name, strlen(name) + 1);
	addattr(&r, IFLA_NET_NS_FD, &ns, sizeof ns);
	if (nl_talk(fd, &r) < 0)
		FAIL("netdev \"%s\": move into the container's network namespace as \"%s\"", host, name);
	// A NAME with %d got a name chosen by the kernel: found by the index it kept (new namespace).
	if (!strchr(name, '%') && (index = link_index(in, name)) < 0)
		FAIL("netdev \"%s\": \"%s\" not found in the container's network namespace", host, name);
	for (int k = 0; k < naddr; k++)
		if (addr_add(in, index, &addrs[k]) < 0)
			FAIL("netdev \"%s\": put address %d back on \"%s\"", host, k, name);
	if (link_up(in, index, 1) < 0)
		FAIL("netdev \"%s\": set \"%s\" up", host, name);
	return 0;
#undef FAIL
}

// The helper: collects the queued interfaces, and on "m" moves them into its parent's (the
// monitor's) network namespace, answers "0" or "<errno>\t<message>", and exits.
static void __attribute__((noreturn)) netdev_helper(int sock)
{
	static char *host[NETDEV_MAX], *name[NETDEV_MAX];
	char rec[64], msg[MSG_MAX], path[64];
	size_t count = 0;
	ssize_t n;
	int nsfd = -1, fd = -1, in = -1, err;

	for (;;) {
		if ((n = recv(sock, rec, sizeof rec - 1, 0)) < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0); // the monitor is gone, or let go of us
		rec[n] = '\0';
		if (rec[0] == 'd' && count < NETDEV_MAX) {
			host[count] = strdup(rec + 1);
			name[count] = strdup(rec + 1 + strlen(rec + 1) + 1);
			if (!host[count] || !name[count])
				_exit(1);
			count++;
			continue;
		}
		if (rec[0] != 'm')
			_exit(1);
		// A socket here first, then one there: each stays in its namespace (no way back needed).
		snprintf(path, sizeof path, "/proc/%d/ns/net", (int)getppid());
		const char *what = "netlink socket";
		if ((fd = nl_open()) < 0 || (what = path, nsfd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
		    (what = "setns into it", setns(nsfd, CLONE_NEWNET)) < 0 ||
		    (what = "netlink socket in the container's network namespace", in = nl_open()) < 0) {
			err = errno;
			n = snprintf(msg, sizeof msg, "%d\tnetdev-move: %s", err, what);
			send(sock, msg, (size_t)n, MSG_NOSIGNAL);
			_exit(1);
		}
		for (size_t k = 0; k < count; k++) {
			char text[MSG_MAX - 16];
			if ((err = move_one(fd, in, host[k], name[k], nsfd, text, sizeof text))) {
				n = snprintf(msg, sizeof msg, "%d\t%s", err, text);
				send(sock, msg, (size_t)n, MSG_NOSIGNAL);
				_exit(1);
			}
		}
		send(sock, "0", 1, MSG_NOSIGNAL);
		_exit(0);
	}
}


// netdev HOST NAME (monitor, before `userns`, any `setns` of a network namespace and `unshare`):
// queue HOST, to be named NAME in the container, with the helper (forked by the first one).
void op_netdev(char **a)
{
	int sv[2];
	char rec[40];

	if (strlen(a[0]) >= IFNAMSIZ || strlen(a[1]) >= IFNAMSIZ || !*a[0] || !*a[1])
		die_err(EINVAL, "netdev \"%s\" \"%s\": an interface name is 1 to %d bytes", a[0], a[1], IFNAMSIZ - 1);
	if (helper_sock < 0) {
		TRY(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), "netdev \"%s\": socketpair", a[0]);
		TRY((helper = fork()), "netdev \"%s\": fork", a[0]);
		if (helper == 0) {
			int keep[2] = {sv[1], sv[1]};
			close_all_but(keep); // the sync channel above all: its EOF must come from the monitor
			netdev_helper(sv[1]);
		}
		close(sv[1]);
		helper_sock = sv[0];
	}
	size_t len = (size_t)snprintf(rec, sizeof rec, "d%s%c%s", a[0], 0, a[1]);
	if (send(helper_sock, rec, len, MSG_NOSIGNAL) != (ssize_t)len)
		die("netdev \"%s\": hand it to the helper", a[0]);
}

// netdev-move (monitor, in the container's network namespace, before `fork`): the helper moves
// every queued interface into it; its first failure fails the op.
void op_netdev_move(char **a)
{
	char msg[MSG_MAX + 1], *text;
	ssize_t n;
	int st;
	(void)a;

	if (helper_sock < 0)
		die_err(EINVAL, "netdev-move: no \"netdev\" before it");
	if (send(helper_sock, "m", 1, MSG_NOSIGNAL) != 1)
		die("netdev-move: wake the helper");
	while ((n = recv(helper_sock, msg, sizeof msg - 1, 0)) < 0 && errno == EINTR)
		;
	close_fd(&helper_sock);
	while (waitpid(helper, &st, 0) < 0)
		if (errno != EINTR)
			die("netdev-move: waitpid %d", (int)helper);
	if (n <= 0)
		die_err(ECHILD, "netdev-move: the helper died without a report");
	msg[n] = '\0';
	long e = strtol(msg, &text, 10);
	if (e == 0 && !*text)
		return;
	if (e <= 0 || *text != '\t')
		die_err(EPROTO, "netdev-move: garbled report from the helper");
	die_err((int)e, "%s", text + 1);
}
