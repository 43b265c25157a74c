// C face of libpng for GemmaEdge: PNG bytes in memory to and from 8-bit images.
//
// Encoding (the profiler's charts) uses libpng's simplified API, which reports errors through its
// own message buffer instead of longjmp, so no error path can unwind through Swift. Decoding, of
// every PNG form into RGB (vision) or RGBA (charts read back), is CPNGDecode.h: one decoder.
// Every function returns 0 on success and -1 on failure with a message in `err`.
#ifndef CPNG_H
#define CPNG_H
#include <stddef.h>
#include <stdint.h>
#include "CPNGDecode.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Encodes `height` rows of `width` RGBA8 pixels (`stride` bytes apart, at least width * 4) as a
/// PNG. On success `*out` holds `*out_size` bytes allocated with malloc; free them with cpng_free.
int cpng_encode_rgba8(const uint8_t *pixels, uint32_t width, uint32_t height, size_t stride,
                      uint8_t **out, size_t *out_size, char *err, size_t err_size);

/// Frees a buffer returned by this module.
void cpng_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
