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
// The CRC32 instruction takes 3 cycles and a new one can start every cycle, so one running CRC
// uses a third of it. Long buffers are cut into three blocks whose CRCs run side by side; the
// three are then joined by "shifting" the first over the length of the others (multiplying by
// x^(8 * length) modulo the polynomial, done with four table lookups) and adding (xor).
#define RRLOG_CRC_LONG 8192
#define RRLOG_CRC_SHORT 256
#define RRLOG_CRC_TINY 32

static uint32_t shift_long[4][256], shift_short[4][256], shift_tiny[4][256];
static int shift_ready = 0;

// GF(2) 32x32 matrices as 32 columns: `vec` times `mat`.
static uint32_t gf2_times(const uint32_t *mat, uint32_t vec) {
    uint32_t sum = 0;
    for (int n = 0; vec; n++, vec >>= 1)
        if (vec & 1) sum ^= mat[n];
    return sum;
}

// out = a composed with b (both operators on the CRC register).
static void gf2_compose(uint32_t *out, const uint32_t *a, const uint32_t *b) {
    uint32_t tmp[32];
    for (int n = 0; n < 32; n++) tmp[n] = gf2_times(a, b[n]);
    memcpy(out, tmp, sizeof tmp);
}

// Tables that advance a (reflected, inverted-register) CRC over `length` zero bytes.
static void build_shift(uint32_t table[4][256], size_t length) {
    uint32_t op[32], result[32];
    // One zero bit: the register shifts right, folding in the polynomial.
    op[0] = 0x82F63B78u;
    for (int n = 1; n < 32; n++) op[n] = 1u << (n - 1);
    gf2_compose(op, op, op);  // 2 bits
    gf2_compose(op, op, op);  // 4 bits
    gf2_compose(op, op, op);  // 1 byte
    for (int n = 0; n < 32; n++) result[n] = 1u << n;
    for (size_t bits = length; bits; bits >>= 1) {
        if (bits & 1) gf2_compose(result, op, result);
        gf2_compose(op, op, op);
    }
    for (int k = 0; k < 4; k++)
        for (uint32_t b = 0; b < 256; b++) table[k][b] = gf2_times(result, b << (8 * k));
}

static void build_shifts(void) {
    build_shift(shift_long, RRLOG_CRC_LONG);
    build_shift(shift_short, RRLOG_CRC_SHORT);
    build_shift(shift_tiny, RRLOG_CRC_TINY);
    __atomic_store_n(&shift_ready, 1, __ATOMIC_RELEASE);
}

static inline uint64_t shift_by(const uint32_t table[4][256], uint64_t c) {
    return table[0][c & 0xFF] ^ table[1][(c >> 8) & 0xFF] ^ table[2][(c >> 16) & 0xFF] ^ table[3][(c >> 24) & 0xFF];
}

static inline uint64_t load64(const uint8_t *p) {
    uint64_t word;
    memcpy(&word, p, 8);
    return word;
}

__attribute__((target("sse4.2")))
static uint64_t crc32c_three_way(uint64_t c, const uint8_t **next, size_t *length, size_t block,
                                 const uint32_t table[4][256]) {
    const uint8_t *p = *next;
    size_t n = *length;
    while (n >= 3 * block) {
        uint64_t c1 = 0, c2 = 0;
        const uint8_t *end = p + block;
        do {
            c = _mm_crc32_u64(c, load64(p));
            c1 = _mm_crc32_u64(c1, load64(p + block));
            c2 = _mm_crc32_u64(c2, load64(p + 2 * block));
            p += 8;
        } while (p < end);
        c = shift_by(table, c) ^ c1;
        c = shift_by(table, c) ^ c2;
        p += 2 * block;
        n -= 3 * block;
    }
    *next = p;
    *length = n;
    return c;
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t length) {
    uint64_t c = ~crc;
    if (length >= 3 * RRLOG_CRC_TINY) {
        if (!__atomic_load_n(&shift_ready, __ATOMIC_ACQUIRE)) build_shifts();
        c = crc32c_three_way(c, &p, &length, RRLOG_CRC_LONG, shift_long);
        c = crc32c_three_way(c, &p, &length, RRLOG_CRC_SHORT, shift_short);
        c = crc32c_three_way(c, &p, &length, RRLOG_CRC_TINY, shift_tiny);
    }
    while (length >= 8) {
        c = _mm_crc32_u64(c, load64(p));
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
