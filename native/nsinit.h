// What every file of nsinit shares: error reporting (errors.h), the fd and buffer helpers
// (io.h), and a few small helpers. Each module declares its own functions in its own header.
#ifndef NSINIT_H
#define NSINIT_H
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/types.h>

#include "errors.h"
#include "io.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

// A plan number (checked by plan_decode): strtoul/strtoull base 0.
static inline unsigned long num(const char *s) { return strtoul(s, NULL, 0); }
static inline unsigned long long num64(const char *s) { return strtoull(s, NULL, 0); }

#endif
