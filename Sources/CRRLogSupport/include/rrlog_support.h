#ifndef RRLOG_SUPPORT_H
#define RRLOG_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/// Extends a CRC32C (Castagnoli, reflected polynomial 0x82F63B78) over `length` bytes.
/// `crc` is the running value as returned by a previous call, 0 to start.
/// The pre- and post-inversion are done inside, so `rrlog_crc32c(0, "123456789", 9)` is 0xE3069283.
/// Uses the SSE4.2 instruction when the CPU has it, a slice-by-8 table otherwise.
uint32_t rrlog_crc32c(uint32_t crc, const void *data, size_t length);

/// The table-driven implementation only, so tests can compare both paths.
uint32_t rrlog_crc32c_portable(uint32_t crc, const void *data, size_t length);

/// 1 when `rrlog_crc32c` uses the hardware instruction.
int rrlog_crc32c_hardware(void);

/// Swaps the directory entries `a` and `b` (both relative to `dirfd`, or absolute) in one step:
/// Linux renameat2(2) with RENAME_EXCHANGE. Both must exist. Returns 0, or -1 with errno set
/// (EINVAL when the file system cannot exchange, ENOSYS off Linux).
int rrlog_rename_exchange(int dirfd, const char *a, const char *b);

#endif
