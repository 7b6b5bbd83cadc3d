// renameat2(RENAME_EXCHANGE) by its system call number: glibc declares renameat2 only with
// _GNU_SOURCE (and only since 2.28), and Swift's Glibc module does not import it.
#define _GNU_SOURCE
#include "rrlog_support.h"

#include <errno.h>

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#endif

int rrlog_rename_exchange(int dirfd, const char *a, const char *b) {
#if defined(__linux__) && defined(SYS_renameat2)
    return (int)syscall(SYS_renameat2, dirfd, a, dirfd, b, RENAME_EXCHANGE);
#else
    (void)dirfd;
    (void)a;
    (void)b;
    errno = ENOSYS;
    return -1;
#endif
}
