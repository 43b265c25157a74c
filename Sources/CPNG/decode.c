// PNG decoding for the vision path: see include/CPNGDecode.h.
#include "CPNGDecode.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The bytes being read and where errors go; libpng's io and error pointer.
typedef struct {
    const uint8_t *data;
    size_t size;
    size_t pos;
    char *err;
    size_t err_size;
    char warning[160];  // the last warning: libpng often explains an error in one just before it
} reader;

static int fail(char *err, size_t err_size, const char *message) {
    if (err && err_size > 0) snprintf(err, err_size, "%s", message);
    return -1;
}

static void on_error(png_structp png, png_const_charp message) {
    reader *r = (reader *)png_get_error_ptr(png);
    if (r && r->err && r->err_size > 0) {
        if (r->warning[0]) snprintf(r->err, r->err_size, "%s (%s)", message, r->warning);
        else snprintf(r->err, r->err_size, "%s", message);
    }
    png_longjmp(png, 1);
}

// Ancillary problems (a bad CRC in a text chunk, ...) do not stop decoding; the last one is kept
// to explain an error that follows ("Invalid IHDR data" after "Image width is zero in IHDR").
static void on_warning(png_structp png, png_const_charp message) {
    reader *r = (reader *)png_get_error_ptr(png);
    if (r) snprintf(r->warning, sizeof r->warning, "%s", message);
}

static void on_read(png_structp png, png_bytep out, png_size_t n) {
    reader *r = (reader *)png_get_io_ptr(png);
    if (n > r->size - r->pos) png_error(png, "truncated PNG data");
    memcpy(out, r->data + r->pos, n);
    r->pos += n;
}

int cpngd_is_png(const uint8_t *data, size_t size) {
    return data && size >= 8 && png_sig_cmp((png_const_bytep)data, 0, 8) == 0;
}

// Creates the read structs with our error, warning and read functions. NULL on out-of-memory.
static png_structp open_png(reader *r, png_infop *info) {
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, r, on_error, on_warning);
    if (!png) return NULL;
    *info = png_create_info_struct(png);
    if (!*info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return NULL;
    }
    png_set_read_fn(png, r, on_read);
    // Bound what ancillary chunks (text, ICC profiles) may allocate.
    png_set_chunk_malloc_max(png, 8u << 20);
    png_set_chunk_cache_max(png, 1000);
    return png;
}

int cpngd_read_info(const uint8_t *data, size_t size, uint32_t max_width, uint32_t max_height,
                    cpngd_info *info, char *err, size_t err_size) {
    if (!data || !info) return fail(err, err_size, "null argument");
    if (!cpngd_is_png(data, size)) return fail(err, err_size, "not a PNG file (bad signature)");
    if (max_width == 0 || max_height == 0) return fail(err, err_size, "image size limits must be > 0");
    reader r = {data, size, 0, err, err_size, {0}};
    png_infop pi = NULL;
    png_structp png = open_png(&r, &pi);
    if (!png) return fail(err, err_size, "out of memory");
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &pi, NULL);
        return -1;
    }
    png_set_user_limits(png, max_width, max_height);
    png_read_info(png, pi);
    info->width = png_get_image_width(png, pi);
    info->height = png_get_image_height(png, pi);
    info->bit_depth = png_get_bit_depth(png, pi);
    info->color_type = png_get_color_type(png, pi);
    info->interlaced = png_get_interlace_type(png, pi) != PNG_INTERLACE_NONE;
    info->has_trns = png_get_valid(png, pi, PNG_INFO_tRNS) != 0;
    png_destroy_read_struct(&png, &pi, NULL);
    return 0;
}

// One row of RGBA8 over the background into RGB8.
static void composite_row(const uint8_t *rgba, uint8_t *rgb, uint32_t width, const uint8_t bg[3]) {
    for (uint32_t x = 0; x < width; x++) {
        const uint8_t *p = rgba + 4 * (size_t)x;
        uint8_t *q = rgb + 3 * (size_t)x;
        unsigned a = p[3];
        if (a == 255) {
            q[0] = p[0];
            q[1] = p[1];
            q[2] = p[2];
        } else {
            for (int c = 0; c < 3; c++) q[c] = (uint8_t)((p[c] * a + bg[c] * (255 - a) + 127) / 255);
        }
    }
}

// One row of RGBA8 as it is (the RGBA output).
static void copy_row(const uint8_t *rgba, uint8_t *out, uint32_t width, const uint8_t bg[3]) {
    (void)bg;
    memcpy(out, rgba, (size_t)width * 4);
}

// Decodes into `out` rows of `channels` bytes a pixel, each made from a row of RGBA8 by `emit`.
static int decode(const uint8_t *data, size_t size, uint32_t width, uint32_t height, const uint8_t background[3],
                  uint8_t *out, size_t channels,
                  void (*emit)(const uint8_t *rgba, uint8_t *out, uint32_t width, const uint8_t bg[3]),
                  char *err, size_t err_size) {
    if (!data || !out) return fail(err, err_size, "null argument");
    if (!cpngd_is_png(data, size)) return fail(err, err_size, "not a PNG file (bad signature)");
    if (width == 0 || height == 0) return fail(err, err_size, "image size must be > 0");
    reader r = {data, size, 0, err, err_size, {0}};
    png_infop pi = NULL;
    png_structp png = open_png(&r, &pi);
    if (!png) return fail(err, err_size, "out of memory");
    // Buffers live across setjmp, so they are volatile pointers.
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(pixels);
        free(rows);
        png_destroy_read_struct(&png, &pi, NULL);
        return -1;
    }
    // The image must be exactly what cpngd_read_info reported (the caller sized `out` from it).
    png_set_user_limits(png, width, height);
    png_read_info(png, pi);
    if (png_get_image_width(png, pi) != width || png_get_image_height(png, pi) != height)
        png_error(png, "image size differs from its header");

    int depth = png_get_bit_depth(png, pi);
    int type = png_get_color_type(png, pi);
    int trns = png_get_valid(png, pi, PNG_INFO_tRNS) != 0;
    // Everything becomes 8-bit RGBA, then is composited to RGB.
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (trns) png_set_tRNS_to_alpha(png);
    if (depth == 16) png_set_strip_16(png);
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    if (!(type & PNG_COLOR_MASK_ALPHA) && !trns) png_set_add_alpha(png, 0xff, PNG_FILLER_AFTER);
    int interlaced = png_get_interlace_type(png, pi) != PNG_INTERLACE_NONE;
    if (interlaced) png_set_interlace_handling(png);
    png_read_update_info(png, pi);
    size_t row_bytes = (size_t)width * 4;
    if (png_get_bit_depth(png, pi) != 8 || png_get_channels(png, pi) != 4 || png_get_rowbytes(png, pi) != row_bytes)
        png_error(png, "unexpected sample layout after conversion");

    if (!interlaced) {
        // Row by row: one row of RGBA is all the extra memory needed.
        pixels = malloc(row_bytes);
        if (!pixels) png_error(png, "out of memory");
        for (uint32_t y = 0; y < height; y++) {
            png_read_row(png, pixels, NULL);
            emit(pixels, out + (size_t)y * width * channels, width, background);
        }
    } else {
        // Adam7 fills rows over seven passes: the whole RGBA image is held until the last one.
        if ((size_t)height > SIZE_MAX / row_bytes) png_error(png, "image too large");
        pixels = malloc(row_bytes * height);
        rows = malloc(sizeof(png_bytep) * height);
        if (!pixels || !rows) png_error(png, "out of memory");
        for (uint32_t y = 0; y < height; y++) rows[y] = pixels + (size_t)y * row_bytes;
        png_read_image(png, rows);
        for (uint32_t y = 0; y < height; y++) emit(rows[y], out + (size_t)y * width * channels, width, background);
    }
    // Reads to IEND: a file cut after its image data is still truncated.
    png_read_end(png, NULL);
    free(pixels);
    free(rows);
    png_destroy_read_struct(&png, &pi, NULL);
    return 0;
}

int cpngd_decode_rgb8(const uint8_t *data, size_t size, uint32_t width, uint32_t height,
                      const uint8_t background[3], uint8_t *out, char *err, size_t err_size) {
    if (!background) return fail(err, err_size, "null argument");
    return decode(data, size, width, height, background, out, 3, composite_row, err, err_size);
}

int cpngd_decode_rgba8(const uint8_t *data, size_t size, uint32_t width, uint32_t height, uint8_t *out,
                       char *err, size_t err_size) {
    return decode(data, size, width, height, NULL, out, 4, copy_row, err, err_size);
}
