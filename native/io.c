// Small fd and buffer helpers shared by nsinit and the front end (runa.c and its files).
#define _GNU_SOURCE
#include "io.h"
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int write_all(int fd, const void *data, size_t len)
{
	const char *buf = data;
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int read_full(int fd, void *data, size_t n)
{
	char *p = data;
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

// Close every fd >= 3 but keep[0] < keep[1] (hygiene only: errors are ignored).
void close_all_but(const int keep[2])
{
	unsigned lo = 3;
	for (int k = 0; k < 2; k++) {
		if ((unsigned)keep[k] < lo)
			continue;
		if ((unsigned)keep[k] > lo)
			syscall(SYS_close_range, lo, (unsigned)keep[k] - 1, 0U);
		lo = (unsigned)keep[k] + 1;
	}
	syscall(SYS_close_range, lo, ~0U, 0U);
}

size_t vfmt(char *buf, size_t size, const char *f, va_list ap)
{
	int n = vsnprintf(buf, size, f, ap);
	return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

size_t fmt(char *buf, size_t size, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	size_t n = vfmt(buf, size, f, ap);
	va_end(ap);
	return n;
}
