// CRC32C (Castagnoli). FORMAT.md section "Checksums" defines the function;
// this file only makes it fast.
#include "rrlog_support.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <nmmintrin.h>
#define RRLOG_X86 1
#endif

static uint32_t table[8][256];
static int table_ready = 0;
static int hw_state = -1;  // -1 unknown, 0 no, 1 yes

static void build_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = table[0][n];
        for (int k = 1; k < 8; k++) {
            c = table[0][c & 0xFF] ^ (c >> 8);
            table[k][n] = c;
        }
    }
    __atomic_store_n(&table_ready, 1, __ATOMIC_RELEASE);
}

uint32_t rrlog_crc32c_portable(uint32_t crc, const void *data, size_t length) {
    if (!__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE)) build_table();
    const uint8_t *p = (const uint8_t *)data;
    uint32_t c = ~crc;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        word ^= c;
        c = table[7][word & 0xFF] ^ table[6][(word >> 8) & 0xFF] ^
            table[5][(word >> 16) & 0xFF] ^ table[4][(word >> 24) & 0xFF] ^
            table[3][(word >> 32) & 0xFF] ^ table[2][(word >> 40) & 0xFF] ^
            table[1][(word >> 48) & 0xFF] ^ table[0][word >> 56];
        p += 8;
        length -= 8;
    }
    while (length--) c = table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return ~c;
}

#ifdef RRLOG_X86
__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t length) {
    uint64_t c = ~crc;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = _mm_crc32_u64(c, word);
        p += 8;
        length -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (length--) c32 = _mm_crc32_u8(c32, *p++);
    return ~c32;
}
#endif

int rrlog_crc32c_hardware(void) {
    int state = __atomic_load_n(&hw_state, __ATOMIC_ACQUIRE);
    if (state >= 0) return state;
    state = 0;
#ifdef RRLOG_X86
    unsigned int eax, ebx, ecx, edx;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx)) state = (ecx & bit_SSE4_2) ? 1 : 0;
#endif
    __atomic_store_n(&hw_state, state, __ATOMIC_RELEASE);
    return state;
}

uint32_t rrlog_crc32c(uint32_t crc, const void *data, size_t length) {
#ifdef RRLOG_X86
    if (rrlog_crc32c_hardware()) return crc32c_sse42(crc, (const uint8_t *)data, length);
#endif
    return rrlog_crc32c_portable(crc, data, length);
}
