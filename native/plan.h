// The plan's grammar and its decoders (PROTOCOL.md "Plan file"): bytes in, ops and argument
// values out. No syscall, no policy, nothing run: nsinit.c runs what plan_decode returns, and
// native/fuzz/plan_fuzz.c feeds these functions arbitrary bytes.
#ifndef PLAN_H
#define PLAN_H
#define _GNU_SOURCE
#include <stddef.h>
#include <sys/types.h>

// Every op: X(id, name, args), args one letter per argument: s string, n number, l number or
// "unlimited", w word (1 to PLAN_WORD_MAX bytes of [A-Za-z0-9_.-]). nsinit.c runs op_<id>.
#define PLAN_OPS(X)                                  \
	X(statedir, "statedir", "s")                 \
	X(unshare, "unshare", "s")                   \
	X(setns, "setns", "ss")                      \
	X(sethostname, "sethostname", "s")           \
	X(loopback, "loopback", "")                  \
	X(pdeathsig, "pdeathsig", "n")               \
	X(fork, "fork", "sn")                        \
	X(mount, "mount", "sssns")                   \
	X(mkdir, "mkdir", "sn")                      \
	X(mknod, "mknod", "snnn")                    \
	X(symlink, "symlink", "ss")                  \
	X(pivot_root, "pivot_root", "s")             \
	X(chdir, "chdir", "s")                       \
	X(umask, "umask", "n")                       \
	X(chdir_early, "chdir-early", "s")           \
	X(chdir_late, "chdir-late", "")              \
	X(fix_stdio, "fix-stdio", "n")               \
	X(hold, "hold", "sn")                        \
	X(mount_held, "mount-held", "nss")           \
	X(write, "write", "ss")                      \
	X(mask, "mask", "s")                         \
	X(readonly, "readonly", "s")                 \
	X(setsid, "setsid", "")                      \
	X(console_connect, "console-connect", "s")   \
	X(console, "console", "")                    \
	X(console_proxy, "console-proxy", "")        \
	X(rlimit, "rlimit", "nll")                   \
	X(nonewprivs, "nonewprivs", "")              \
	X(capbset, "capbset", "n")                   \
	X(keepcaps, "keepcaps", "")                  \
	X(setgroups, "setgroups", "s")               \
	X(setgid, "setgid", "n")                     \
	X(setuid, "setuid", "n")                     \
	X(capset, "capset", "nnn")                   \
	X(ambient, "ambient", "n")                   \
	X(capdrop, "capdrop", "n")                   \
	X(env, "env", "s")                           \
	X(arg, "arg", "s")                           \
	X(gate_signals, "gate-signals", "n")         \
	X(gate, "gate", "")                          \
	X(exec, "exec", "")                          \
	X(userns, "userns", "ss")                    \
	X(mkfile, "mkfile", "sn")                    \
	X(hookpoint, "hookpoint", "w")               \
	X(seccomp, "seccomp", "ns")                  \
	X(seccomp_listener, "seccomp-listener", "ss") \
	X(stdio_null, "stdio-null", "")              \
	X(fork_sibling, "fork-sibling", "sn")        \
	X(mount_copyup, "mount-copyup", "sssns")     \
	X(mount_setattr, "mount-setattr", "snn")     \
	X(rootfs, "rootfs", "s")                     \
	X(userns_rootless, "userns-rootless", "sssss") \
	X(sched, "sched", "nnnnnnn")                 \
	X(ioprio, "ioprio", "n")                     \
	X(affinity, "affinity", "s")                 \
	X(personality, "personality", "n")           \
	X(setdomainname, "setdomainname", "s")       \
	X(lchown, "lchown", "snn")                   \
	X(mkdir_like, "mkdir-like", "ss")            \
	X(keyring, "keyring", "snn")                 \
	X(mempolicy, "mempolicy", "ns")              \
	X(winsize, "winsize", "nn")                  \
	X(pidfd_socket, "pidfd-socket", "s")         \
	X(netdev, "netdev", "ss")                    \
	X(netdev_move, "netdev-move", "")            \
	X(idmap_userns, "idmap-userns", "ss")        \
	X(hold_idmap, "hold-idmap", "nnn")          \
	X(strace, "strace", "swnn")                 \
	X(strace_call, "strace-call", "nws")                 \
	X(criu_restore, "criu-restore", "sn")

#define PLAN_ENUM_(id, name, args) PLAN_##id,
enum plan_op { PLAN_OPS(PLAN_ENUM_) PLAN_NOPS };
#undef PLAN_ENUM_

#define PLAN_WORD_MAX 64
#define PLAN_STR_(x) #x
#define PLAN_STR(x) PLAN_STR_(x)

struct plan_step {
	enum plan_op op;
	char **args; // as many as the op's letters, each NUL-terminated
};

struct plan {
	char **tok; // every token, pointing into the decoded buffer
	struct plan_step *step;
	size_t ntok, nsteps;
};

// Split buf (len bytes, every token NUL-terminated) into steps and check every argument
// before anything runs. The tokens point into buf, which must outlive the plan. Returns 0,
// or -1 with errno (EINVAL; ENOMEM) and msg set to what nsinit reports before ": <strerror>";
// path only names the plan in msg. On failure nothing is left to free.
int plan_decode(char *buf, size_t len, const char *path, struct plan *out, char *msg, size_t size);
void plan_free(struct plan *p);
// An op's name and argument letters, as in PLAN_OPS.
const char *plan_op_name(enum plan_op op);
const char *plan_op_args(enum plan_op op);

// The argument checks plan_decode applies: a number for strtoull(s, NULL, 0), a word.
int plan_is_num(const char *s);
int plan_is_word(const char *s);

// The CLONE_NEW* flag of a namespace type name (len bytes of name), or 0.
int plan_ns_flag(const char *name, size_t len);
// The flags of a comma list of namespace type names ("" is 0), or -1 (EINVAL).
int plan_ns_list(const char *list);
// A comma list of gids ("" is none): a calloc'd array of *n, or NULL with errno (EINVAL; ENOMEM).
gid_t *plan_gids(const char *list, size_t *n);

// A seccomp program in lowercase hex, 16 digits an instruction, 1 to max instructions: a
// malloc'd struct sock_filter array of *insns, or NULL with errno: ERANGE (no multiple of 16
// digits, or none, or too many), EINVAL (not lowercase hex), ENOMEM.
unsigned char *plan_hex_program(const char *hex, size_t max, size_t *insns);
#endif
