// CIntegrity: the checks that keep corrupt bytes out of a run.
//   - CRC32C (Castagnoli), with SSE4.2 / ARMv8 CRC instructions when the CPU reports them and a
//     table-driven reference otherwise (session snapshots, the model identity);
//   - scans for non-finite values: f16 fields at fixed offsets of fixed-size blocks (the scales
//     of quantised blocks) and whole runs of f32 / f16 / bf16 values (norm vectors);
//   - a SIGBUS guard: a fault inside a registered file mapping (a model truncated while mapped)
//     prints one clear line and exits with CI_EXIT_MAPPED_FILE_CHANGED instead of dying of the
//     signal. Faults anywhere else go to the handler that was installed before.
#ifndef CINTEGRITY_H
#define CINTEGRITY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// CRC32C of `n` bytes, continuing from `crc` (0 to start a new one). Uses the CPU's CRC
/// instructions when it has them; the result is the same either way.
uint32_t ci_crc32c(uint32_t crc, const void *data, size_t n);
/// The table-driven reference ci_crc32c is tested against.
uint32_t ci_crc32c_ref(uint32_t crc, const void *data, size_t n);
/// The CRC32C of each quarter of `n` bytes (the first three n / 32 * 8 bytes long, the last the
/// rest), run side by side: about three times the speed of one ci_crc32c over large inputs.
/// out[k] equals ci_crc32c(0, quarter k).
void ci_crc32c_quarters(const void *data, size_t n, uint32_t out[4]);
/// 1 when ci_crc32c runs on CRC instructions (SSE4.2 or ARMv8 CRC), else 0.
int ci_crc32c_hardware(void);

/// The first of `blocks` blocks (each `block_bytes` long, back to back from `data`) whose f16 at
/// any of the byte offsets `offsets[0..<count]` is infinite or NaN; -1 when every one is finite.
int64_t ci_find_nonfinite_f16_fields(const void *data, int64_t blocks, int64_t block_bytes,
                                     const int32_t *offsets, int32_t count);
/// The index of the first infinite or NaN value among `n`, or -1 (f32, f16 and bf16 values).
int64_t ci_find_nonfinite_f32(const void *data, int64_t n);
int64_t ci_find_nonfinite_f16(const void *data, int64_t n);
int64_t ci_find_nonfinite_bf16(const void *data, int64_t n);

/// The exit status of a process whose mapped file changed under it (EX_IOERR).
#define CI_EXIT_MAPPED_FILE_CHANGED 74

/// Registers `size` bytes at `base`, a mapping of the file `path`: a SIGBUS inside them prints
///   "gemma-edge: <path> changed while it was in use (truncated or rewritten in place?) ..."
/// on stderr and exits with CI_EXIT_MAPPED_FILE_CHANGED. Installs the handler at the first call.
/// Returns a slot for ci_guard_remove, or -1 when every slot is taken (the mapping is then not
/// guarded; nothing else changes).
int32_t ci_guard_add(const void *base, size_t size, const char *path);
/// Forgets a mapping registered by ci_guard_add (before it is unmapped).
void ci_guard_remove(int32_t slot);

#ifdef __cplusplus
}
#endif

#endif
