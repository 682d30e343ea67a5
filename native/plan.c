// The plan decoder (see plan.h): pure functions of their input, no syscall but allocation.
#include "plan.h"
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x80
#endif

static const struct {
	const char *name, *args;
} grammar[] = {
#define PLAN_GRAMMAR_(id, name, args) [PLAN_##id] = {name, args},
	PLAN_OPS(PLAN_GRAMMAR_)
#undef PLAN_GRAMMAR_
};

const char *plan_op_name(enum plan_op op) { return grammar[op].name; }
const char *plan_op_args(enum plan_op op) { return grammar[op].args; }

int plan_is_num(const char *s)
{
	char *end;
	errno = 0;
	strtoull(s, &end, 0);
	return *s && !*end && errno == 0;
}

int plan_is_word(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");
	return n > 0 && n <= PLAN_WORD_MAX && !s[n];
}

static int valid_arg(char type, const char *s)
{
	if (type == 'w')
		return plan_is_word(s);
	return type == 's' || plan_is_num(s) || (type == 'l' && strcmp(s, "unlimited") == 0);
}

static int find_op(const char *name)
{
	for (size_t i = 0; i < PLAN_NOPS; i++)
		if (strcmp(grammar[i].name, name) == 0)
			return (int)i;
	return -1;
}

void plan_free(struct plan *p)
{
	free(p->tok);
	free(p->step);
	*p = (struct plan){0};
}

static int __attribute__((format(printf, 5, 6))) refuse(struct plan *p, int err, char *msg, size_t size, const char *f, ...)
{
	va_list ap;

	plan_free(p);
	va_start(ap, f);
	vsnprintf(msg, size, f, ap);
	va_end(ap);
	errno = err;
	return -1;
}

int plan_decode(char *buf, size_t len, const char *path, struct plan *out, char *msg, size_t size)
{
	struct plan p = {0};
	size_t i, t, s;
	int op;

	*out = p;
	if (len > 0 && buf[len - 1] != '\0')
		return refuse(&p, EINVAL, msg, size, "plan \"%s\": truncated (last token lacks its NUL)", path);
	for (i = 0; i < len; i++)
		p.ntok += buf[i] == '\0';
	// At most one step a token; +1 so that an empty plan allocates too.
	if (!(p.tok = calloc(p.ntok + 1, sizeof *p.tok)) || !(p.step = calloc(p.ntok + 1, sizeof *p.step)))
		return refuse(&p, ENOMEM, msg, size, "plan \"%s\": calloc", path);
	for (i = 0, t = 0; i < len; i += strlen(buf + i) + 1)
		p.tok[t++] = buf + i;
	for (t = 0, s = 0; t < p.ntok; t += 1 + strlen(grammar[op].args), s++) {
		if ((op = find_op(p.tok[t])) < 0)
			return refuse(&p, EINVAL, msg, size, "plan: unknown op \"%s\"", p.tok[t]);
		const char *args = grammar[op].args;
		if (strlen(args) > p.ntok - t - 1)
			return refuse(&p, EINVAL, msg, size, "plan: op \"%s\" truncated", p.tok[t]);
		for (size_t k = 0; args[k]; k++)
			if (!valid_arg(args[k], p.tok[t + 1 + k]))
				return refuse(&p, EINVAL, msg, size, "%s \"%s\": %s", p.tok[t], p.tok[t + 1 + k], args[k] == 'w'
					? "not a word of 1 to " PLAN_STR(PLAN_WORD_MAX) " letters, digits, '_', '.', '-'" : "not a number");
		p.step[s] = (struct plan_step){.op = (enum plan_op)op, .args = &p.tok[t + 1]};
	}
	p.nsteps = s;
	*out = p;
	return 0;
}

int plan_ns_flag(const char *name, size_t len)
{
	static const struct { const char *name; int flag; } ns[] = {
		{"mnt", CLONE_NEWNS}, {"uts", CLONE_NEWUTS}, {"ipc", CLONE_NEWIPC}, {"net", CLONE_NEWNET},
		{"pid", CLONE_NEWPID}, {"cgroup", CLONE_NEWCGROUP}, {"user", CLONE_NEWUSER}, {"time", CLONE_NEWTIME},
	};
	for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
		if (strlen(ns[i].name) == len && strncmp(name, ns[i].name, len) == 0)
			return ns[i].flag;
	return 0;
}

int plan_ns_list(const char *list)
{
	int flags = 0, f;

	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ",");
		if (!(f = plan_ns_flag(p, len))) {
			errno = EINVAL;
			return -1;
		}
		flags |= f;
		p += len + (p[len] == ',');
	}
	return flags;
}

gid_t *plan_gids(const char *list, size_t *n)
{
	size_t count = *list ? 1 : 0;
	const char *p = list;
	gid_t *gids;

	for (; *p; p++)
		count += *p == ',';
	if (!(gids = calloc(count ? count : 1, sizeof *gids)))
		return NULL;
	p = list;
	for (size_t i = 0; i < count; i++, p++) {
		char *end;
		errno = 0;
		gids[i] = (gid_t)strtoul(p, &end, 0);
		if (end == p || (*end && *end != ',') || errno) {
			free(gids);
			errno = EINVAL;
			return NULL;
		}
		p = end;
	}
	*n = count;
	return gids;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

unsigned char *plan_hex_program(const char *hex, size_t max, size_t *insns)
{
	size_t digits = strlen(hex), len = digits / 16;
	unsigned char *bytes;

	if (digits == 0 || digits % 16 || len > max) {
		errno = ERANGE;
		return NULL;
	}
	if (!(bytes = malloc(digits / 2)))
		return NULL;
	for (size_t i = 0; i < digits / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(bytes);
			errno = EINVAL;
			return NULL;
		}
		bytes[i] = (unsigned char)(hi << 4 | lo);
	}
	*insns = len;
	return bytes;
}
