// Test helper (test/strace.test.ts): one thread besides the main one writes "thread <tid>\n" and
// ends; the main thread joins it and writes "joined\n". Static, so that it runs in any test rootfs.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *run(void *arg)
{
	char buf[64];
	int n = snprintf(buf, sizeof buf, "thread %ld\n", (long)syscall(SYS_gettid));
	if (write(1, buf, (size_t)n) != n)
		return NULL;
	return arg;
}

int main(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, run, NULL) != 0 || pthread_join(t, NULL) != 0)
		return 1;
	return write(1, "joined\n", 7) == 7 ? 0 : 1;
}
