// The text of a traced syscall (strace-fmt.c): a growing buffer, strace's quoting of strings and
// buffers, and the names of flags, signals and errnos. Pure: no syscall but allocation.
#ifndef STRACE_FMT_H
#define STRACE_FMT_H
#include <stddef.h>
#include <stdint.h>

struct sbuf {
	char *p;
	size_t len, cap;
};

void sb_add(struct sbuf *b, const char *s, size_t n);
void sb_str(struct sbuf *b, const char *s);
void __attribute__((format(printf, 2, 3))) sb_printf(struct sbuf *b, const char *f, ...);
// n bytes as strace quotes them ("a\nb\0"), then `...` if more were left out.
void sb_quoted(struct sbuf *b, const unsigned char *s, size_t n, int more);
// A JSON string's inside: `"` and `\` escaped, control bytes as \u00XX.
void sb_json(struct sbuf *b, const char *s, size_t n);

// The sets of names a value may be printed with.
enum flagset {
	FS_OPEN,   // O_RDONLY|O_CREAT|... (access mode first)
	FS_FDFL,   // O_CLOEXEC|O_NONBLOCK|... (no access mode: dup3, pipe2)
	FS_PROT,   // PROT_*
	FS_MAP,    // MAP_SHARED|MAP_ANONYMOUS|...
	FS_CLONE,  // CLONE_* (and the exit signal in the low byte)
	FS_NS,     // CLONE_* as unshare and setns take them (CLONE_NEWTIME is 0x80)
	FS_AT,     // AT_*
	FS_ACCESS, // F_OK, R_OK|W_OK|X_OK
	FS_WHENCE, // SEEK_*
	FS_HOW,    // SIG_BLOCK, ...
	FS_FCNTL,  // F_GETFD, ...
	FS_IOCTL,  // TCGETS, ... (else hex)
};
void sb_flagset(struct sbuf *b, enum flagset set, uint64_t v);

// SIGTERM, SIGRT_3, or the number.
void sb_signal(struct sbuf *b, int sig);
// The name of a signal's si_code (SI_USER, CLD_EXITED, ...), or the number.
void sb_si_code(struct sbuf *b, int sig, int code);
// The result of a failed syscall, as strace prints it after `= `: `-1 ENOENT (No such file or
// directory)`, or `? ERESTARTSYS (To be restarted if SA_RESTART is set)` for the kernel's own.
void sb_errno(struct sbuf *b, int err);
// A wait status: {WIFEXITED(s) && WEXITSTATUS(s) == 0}, ...
void sb_wait_status(struct sbuf *b, int st);

#endif
