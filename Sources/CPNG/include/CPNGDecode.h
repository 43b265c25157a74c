// PNG decoding (the vision path's images, and RGBA for the profiler's charts read back), over
// libpng's full (non-simplified) API: the one PNG decoder of the project.
//
// Every PNG form the format allows is read: bit depths 1, 2, 4, 8 and 16; grey, grey+alpha, RGB,
// RGBA and palette; tRNS transparency; Adam7 interlacing. The result is always 8-bit RGB:
//   - 16-bit samples keep their high byte (what stb_image, and so llama.cpp, does);
//   - 1/2/4-bit grey is scaled to 0..255 by bit replication;
//   - alpha (an alpha channel or tRNS) is composited over a caller-given background colour with
//     out = (c * a + bg * (255 - a) + 127) / 255 in 8-bit integers;
//   - gamma chunks (gAMA, sRGB, iCCP) are ignored: samples are used as stored.
//
// Decoding is two calls so the caller can check the dimensions before it allocates anything:
// cpngd_read_info reads the header only, cpngd_decode_rgb8 decodes into the caller's buffer.
// libpng reports errors by longjmp; every setjmp and longjmp stays inside the C functions of
// this file, so no error unwinds through Swift. Functions return 0 on success, -1 on failure with
// a one-line message in `err`.
#ifndef CPNG_DECODE_H
#define CPNG_DECODE_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// What the PNG header (IHDR) says.
typedef struct {
    uint32_t width;
    uint32_t height;
    int bit_depth;    // 1, 2, 4, 8 or 16
    int color_type;   // 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA (PNG numbering)
    int interlaced;   // 1 for Adam7
    int has_trns;     // 1 when a tRNS chunk precedes the image data
} cpngd_info;

/// 1 when `data` starts with the 8-byte PNG signature.
int cpngd_is_png(const uint8_t *data, size_t size);

/// Reads the header of the PNG in `data` (up to the first image data). Images wider than
/// `max_width` or taller than `max_height` are refused here, before anything is allocated.
int cpngd_read_info(const uint8_t *data, size_t size, uint32_t max_width, uint32_t max_height,
                    cpngd_info *info, char *err, size_t err_size);

/// Decodes the PNG in `data` into `out`, which holds width * height * 3 bytes (rows packed, RGB).
/// `width` and `height` must be what cpngd_read_info returned. Alpha is composited over
/// `background` (3 bytes, RGB). Truncated or corrupt data (bad signature, CRC errors in critical
/// chunks, missing image data, a missing IEND) is an error.
int cpngd_decode_rgb8(const uint8_t *data, size_t size, uint32_t width, uint32_t height,
                      const uint8_t background[3], uint8_t *out, char *err, size_t err_size);

/// The same decoding into `out`, which holds width * height * 4 bytes (rows packed, RGBA): alpha
/// is kept (opaque images get 255), nothing is composited.
int cpngd_decode_rgba8(const uint8_t *data, size_t size, uint32_t width, uint32_t height, uint8_t *out,
                       char *err, size_t err_size);
#ifdef __cplusplus
}
#endif
#endif
