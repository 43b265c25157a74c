// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of iSCSI, ext4 and SSE4.2's
// crc32 instruction. Three versions give the same result: the table-driven reference (slicing by
// 8), SSE4.2 on x86-64 and the ARMv8 CRC extension on AArch64, chosen once from what the CPU
// reports at run time (cpuid, getauxval), so no binary runs an instruction its CPU lacks.
#include "CIntegrity.h"

#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1UL << 7)
#endif
#endif

static uint32_t table[8][256];
static int table_ready;  // set once (release) after the table is filled

static void fill_table(void) {
    if (__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE)) return;
    // Two threads filling it at once write the same values; the flag only publishes them.
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        for (int s = 1; s < 8; s++) table[s][i] = (table[s - 1][i] >> 8) ^ table[0][table[s - 1][i] & 0xFF];
    }
    __atomic_store_n(&table_ready, 1, __ATOMIC_RELEASE);
}

uint32_t ci_crc32c_ref(uint32_t crc, const void *data, size_t n) {
    fill_table();
    const uint8_t *p = (const uint8_t *)data;
    crc = ~crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w = __builtin_bswap64(w);
#endif
        w ^= crc;
        crc = table[7][w & 0xFF] ^ table[6][(w >> 8) & 0xFF] ^ table[5][(w >> 16) & 0xFF] ^ table[4][(w >> 24) & 0xFF]
            ^ table[3][(w >> 32) & 0xFF] ^ table[2][(w >> 40) & 0xFF] ^ table[1][(w >> 48) & 0xFF]
            ^ table[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n--) crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xFF];
    return ~crc;
}

#if defined(__x86_64__)

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const void *data, size_t n) {
    const uint8_t *p = (const uint8_t *)data;
    uint64_t c = ~crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = _mm_crc32_u8(c32, *p++);
    return ~c32;
}

// Four independent chains side by side: the crc32 instruction has a latency of 3 cycles but a
// throughput of 1, so one chain leaves the unit idle two cycles in three.
__attribute__((target("sse4.2"))) static void quarters_hw(const uint8_t *p, size_t q, uint32_t out[4]) {
    uint64_t c0 = ~0u, c1 = ~0u, c2 = ~0u, c3 = ~0u;
    for (size_t i = 0; i < q; i += 8) {
        uint64_t w0, w1, w2, w3;
        memcpy(&w0, p + i, 8);
        memcpy(&w1, p + q + i, 8);
        memcpy(&w2, p + 2 * q + i, 8);
        memcpy(&w3, p + 3 * q + i, 8);
        c0 = _mm_crc32_u64(c0, w0);
        c1 = _mm_crc32_u64(c1, w1);
        c2 = _mm_crc32_u64(c2, w2);
        c3 = _mm_crc32_u64(c3, w3);
    }
    out[0] = ~(uint32_t)c0;
    out[1] = ~(uint32_t)c1;
    out[2] = ~(uint32_t)c2;
    out[3] = ~(uint32_t)c3;
}

static int cpu_has_crc(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2);
}

#elif defined(__aarch64__)

#include <arm_acle.h>

__attribute__((target("arch=armv8-a+crc"))) static uint32_t crc_hw(uint32_t crc, const void *data, size_t n) {
    const uint8_t *p = (const uint8_t *)data;
    uint32_t c = ~crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __crc32cd(c, w);
        p += 8;
        n -= 8;
    }
    while (n--) c = __crc32cb(c, *p++);
    return ~c;
}

__attribute__((target("arch=armv8-a+crc"))) static void quarters_hw(const uint8_t *p, size_t q, uint32_t out[4]) {
    uint32_t c0 = ~0u, c1 = ~0u, c2 = ~0u, c3 = ~0u;
    for (size_t i = 0; i < q; i += 8) {
        uint64_t w0, w1, w2, w3;
        memcpy(&w0, p + i, 8);
        memcpy(&w1, p + q + i, 8);
        memcpy(&w2, p + 2 * q + i, 8);
        memcpy(&w3, p + 3 * q + i, 8);
        c0 = __crc32cd(c0, w0);
        c1 = __crc32cd(c1, w1);
        c2 = __crc32cd(c2, w2);
        c3 = __crc32cd(c3, w3);
    }
    out[0] = ~c0;
    out[1] = ~c1;
    out[2] = ~c2;
    out[3] = ~c3;
}

static int cpu_has_crc(void) {
#if defined(__linux__)
    return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
#elif defined(__APPLE__)
    return 1;  // every Apple AArch64 CPU has the CRC extension
#else
    return 0;
#endif
}

#else

static uint32_t crc_hw(uint32_t crc, const void *data, size_t n) { return ci_crc32c_ref(crc, data, n); }
static void quarters_hw(const uint8_t *p, size_t q, uint32_t out[4]) {
    for (int k = 0; k < 4; k++) out[k] = ci_crc32c_ref(0, p + k * q, q);
}
static int cpu_has_crc(void) { return 0; }

#endif

// 0 = not decided yet, 1 = table, 2 = instructions.
static int chosen;

int ci_crc32c_hardware(void) {
    int c = __atomic_load_n(&chosen, __ATOMIC_RELAXED);
    if (c == 0) {
        c = cpu_has_crc() ? 2 : 1;
        __atomic_store_n(&chosen, c, __ATOMIC_RELAXED);
    }
    return c == 2;
}

uint32_t ci_crc32c(uint32_t crc, const void *data, size_t n) {
    return ci_crc32c_hardware() ? crc_hw(crc, data, n) : ci_crc32c_ref(crc, data, n);
}

void ci_crc32c_quarters(const void *data, size_t n, uint32_t out[4]) {
    const uint8_t *p = (const uint8_t *)data;
    size_t q = n / 32 * 8;  // each of the first three quarters: a multiple of 8 bytes
    if (ci_crc32c_hardware()) {
        quarters_hw(p, q, out);
    } else {
        for (int k = 0; k < 4; k++) out[k] = ci_crc32c_ref(0, p + k * q, q);
    }
    // The last quarter also takes the bytes the others left (fewer than 32).
    out[3] = ci_crc32c(out[3], p + 4 * q, n - 4 * q);
}
