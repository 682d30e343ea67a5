// Small fd and buffer helpers shared by nsinit and the front end (runa.c).
#ifndef IO_H
#define IO_H
#include <stdarg.h>
#include <stddef.h>

// write(2) all of buf, again after EINTR; 0, or -1 with errno.
int write_all(int fd, const void *buf, size_t len);
// read(2) exactly len bytes, again after EINTR; 0, or -1 (with errno, or at EOF).
int read_full(int fd, void *buf, size_t len);
// Close *fd if open, and mark it closed (-1).
void close_fd(int *fd);
// Close every fd from 3 up but keep[0] and keep[1] (sorted; may be equal). Hygiene only: errors are ignored.
void close_all_but(const int keep[2]);
// vsnprintf that reports what it wrote, never what it would have written.
size_t vfmt(char *buf, size_t size, const char *f, va_list ap);
size_t __attribute__((format(printf, 3, 4))) fmt(char *buf, size_t size, const char *f, ...);

#endif
