// Small fd and buffer helpers shared by nsinit and the front end (runa.c).
#include "io.h"
#include <errno.h>
#include <stdio.h>
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

void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
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
