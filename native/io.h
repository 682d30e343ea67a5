// Small fd and buffer helpers shared by nsinit and the front end (runa.c).
#ifndef IO_H
#define IO_H
#include <stdarg.h>
#include <stddef.h>

// write(2) all of buf, again after EINTR; 0, or -1 with errno.
int write_all(int fd, const void *buf, size_t len);
// Close *fd if open, and mark it closed (-1).
void close_fd(int *fd);
// vsnprintf that reports what it wrote, never what it would have written.
size_t vfmt(char *buf, size_t size, const char *f, va_list ap);
size_t __attribute__((format(printf, 3, 4))) fmt(char *buf, size_t size, const char *f, ...);

#endif
