// libFuzzer harness for nsinit's plan decoder (plan.c): any bytes as a plan file, decoded
// without running anything; a decoded plan's arguments then go through the decoders the ops
// apply to them. The same bytes are also a monitor.sock request line (request.c), parsed and
// escaped back. Build: make -C native fuzz (clang, -fsanitize=fuzzer,address,undefined).
// Crashes, leaks, undefined behaviour and broken invariants (checked below) abort.
#include "../plan.h"
#include "../request.h"
#include <errno.h>
#include <linux/filter.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                              \
	do {                                                                  \
		if (!(c)) {                                                   \
			fprintf(stderr, "plan_fuzz: %s:%d: %s\n", __FILE__, __LINE__, #c); \
			abort();                                              \
		}                                                             \
	} while (0)

// Within [buf, buf + len) and NUL-terminated there.
static int inside(const char *s, const char *buf, size_t len)
{
	return s >= buf && s < buf + len && memchr(s, '\0', (size_t)(buf + len - s));
}

// What the ops do with their arguments before any syscall.
static void decode_args(const struct plan_step *st)
{
	size_t n;
	void *p;

	switch (st->op) {
	case PLAN_unshare:
		CHECK(plan_ns_list(st->args[0]) >= 0 || errno == EINVAL);
		break;
	case PLAN_setns:
		(void)plan_ns_flag(st->args[1], strlen(st->args[1]));
		break;
	case PLAN_setgroups:
		if ((p = plan_gids(st->args[0], &n)))
			CHECK(n <= strlen(st->args[0]) / 2 + 1);
		else
			CHECK(errno == EINVAL || errno == ENOMEM);
		free(p);
		break;
	case PLAN_seccomp:
		// nsinit's limit, and a small one (the first digit of FLAGS) that inputs reach.
		for (size_t max = BPF_MAXINSNS, k = 0; k < 2; max = (size_t)(st->args[0][0] & 7), k++) {
			if ((p = plan_hex_program(st->args[1], max, &n)))
				CHECK(n >= 1 && n <= max && n * 16 == strlen(st->args[1]));
			else
				CHECK(errno == ERANGE || errno == EINVAL || errno == ENOMEM);
			free(p);
		}
		break;
	case PLAN_hookpoint:
		CHECK(plan_is_word(st->args[0]));
		break;
	default:
		break;
	}
}

// The monitor reads a line up to its newline and parses it as a C string.
static void request(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1), out[64], *nl;
	struct request r;

	if (!line)
		return;
	memcpy(line, data, size);
	line[size] = '\0';
	if ((nl = memchr(line, '\n', size)))
		*nl = '\0';
	request_parse(line, &r);
	CHECK(r.kind <= REQ_UNKNOWN);
	if (r.kind == REQ_SIGNAL)
		CHECK(r.signal >= 0 && r.signal <= 64);
	if (r.kind == REQ_UNKNOWN)
		CHECK(r.type > line && r.type + r.type_len <= line + strlen(line) && r.type[r.type_len] == '"');
	// What the monitor sends back: no raw control character or unescaped quote, and it fits.
	json_escape(line, out, sizeof out);
	CHECK(strlen(out) < sizeof out);
	for (size_t i = 0; out[i]; i++) {
		CHECK((unsigned char)out[i] >= 0x20);
		if (out[i] == '\\')
			CHECK(out[++i] != '\0');
		else
			CHECK(out[i] != '"');
	}
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	// An exact-size copy, so that reading one byte past the plan is caught.
	char *buf = malloc(size ? size : 1), msg[2048];
	struct plan plan;

	request(data, size);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	memset(msg, 'x', sizeof msg);
	if (plan_decode(buf, size, "fuzz.plan", &plan, msg, sizeof msg) < 0) {
		CHECK(errno == EINVAL || errno == ENOMEM);
		CHECK(memchr(msg, '\0', sizeof msg));
		CHECK(!plan.tok && !plan.step && !plan.nsteps);
		free(buf);
		return 0;
	}
	CHECK(size == 0 || buf[size - 1] == '\0');
	// The tokens are the buffer's NUL-terminated strings, in order, each one once.
	for (size_t t = 0; t < plan.ntok; t++) {
		CHECK(plan.tok[t] == (t == 0 ? buf : plan.tok[t - 1] + strlen(plan.tok[t - 1]) + 1));
		CHECK(inside(plan.tok[t], buf, size));
	}
	CHECK(plan.ntok == 0 || plan.tok[plan.ntok - 1] + strlen(plan.tok[plan.ntok - 1]) + 1 == buf + size);
	// The steps cover the tokens: an op's name, then exactly its arguments, each as its letter says.
	size_t used = 0;
	for (size_t i = 0; i < plan.nsteps; i++) {
		const struct plan_step *st = &plan.step[i];
		CHECK(st->op < PLAN_NOPS);
		const char *args = plan_op_args(st->op);
		CHECK(used + strlen(args) < plan.ntok);
		CHECK(strcmp(plan.tok[used], plan_op_name(st->op)) == 0);
		CHECK(st->args == &plan.tok[used + 1]);
		for (size_t k = 0; args[k]; k++) {
			const char *a = st->args[k];
			CHECK(args[k] == 's' || (args[k] == 'w' ? plan_is_word(a) : plan_is_num(a) || (args[k] == 'l' && strcmp(a, "unlimited") == 0)));
		}
		used += 1 + strlen(args);
		decode_args(st);
	}
	CHECK(used == plan.ntok);
	plan_free(&plan);
	free(buf);
	return 0;
}
