// Scans for infinite and NaN values by their bit patterns (an all-ones exponent), so they work
// the same whatever the compiler's floating-point flags. Each scan ORs a whole chunk's verdicts
// branch-free (the compiler vectorises that), and only a chunk that has a bad value is searched
// again for the first one.
#include "CIntegrity.h"

#include <string.h>

enum { CHUNK = 1024 };

static inline uint16_t load16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static inline uint32_t load32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

#define F16_EXP 0x7C00u
#define BF16_EXP 0x7F80u
#define F32_EXP 0x7F800000u

static inline int block_bad(const uint8_t *block, const int32_t *offsets, int32_t count) {
    unsigned bad = 0;
    for (int32_t f = 0; f < count; f++) bad |= (load16(block + offsets[f]) & F16_EXP) == F16_EXP;
    return (int)bad;
}

int64_t ci_find_nonfinite_f16_fields(const void *data, int64_t blocks, int64_t block_bytes,
                                     const int32_t *offsets, int32_t count) {
    const uint8_t *base = (const uint8_t *)data;
    for (int64_t start = 0; start < blocks; start += CHUNK) {
        int64_t end = start + CHUNK < blocks ? start + CHUNK : blocks;
        unsigned bad = 0;
        for (int32_t f = 0; f < count; f++) {
            const uint8_t *p = base + offsets[f];
            for (int64_t b = start; b < end; b++) bad |= (load16(p + b * block_bytes) & F16_EXP) == F16_EXP;
        }
        if (!bad) continue;
        for (int64_t b = start; b < end; b++) {
            if (block_bad(base + b * block_bytes, offsets, count)) return b;
        }
    }
    return -1;
}

int64_t ci_find_nonfinite_f16(const void *data, int64_t n) {
    int32_t zero = 0;
    return ci_find_nonfinite_f16_fields(data, n, 2, &zero, 1);
}

int64_t ci_find_nonfinite_bf16(const void *data, int64_t n) {
    const uint8_t *p = (const uint8_t *)data;
    for (int64_t start = 0; start < n; start += CHUNK) {
        int64_t end = start + CHUNK < n ? start + CHUNK : n;
        unsigned bad = 0;
        for (int64_t i = start; i < end; i++) bad |= (load16(p + 2 * i) & BF16_EXP) == BF16_EXP;
        if (!bad) continue;
        for (int64_t i = start; i < end; i++) {
            if ((load16(p + 2 * i) & BF16_EXP) == BF16_EXP) return i;
        }
    }
    return -1;
}

int64_t ci_find_nonfinite_f32(const void *data, int64_t n) {
    const uint8_t *p = (const uint8_t *)data;
    for (int64_t start = 0; start < n; start += CHUNK) {
        int64_t end = start + CHUNK < n ? start + CHUNK : n;
        unsigned bad = 0;
        for (int64_t i = start; i < end; i++) bad |= (load32(p + 4 * i) & F32_EXP) == F32_EXP;
        if (!bad) continue;
        for (int64_t i = start; i < end; i++) {
            if ((load32(p + 4 * i) & F32_EXP) == F32_EXP) return i;
        }
    }
    return -1;
}
