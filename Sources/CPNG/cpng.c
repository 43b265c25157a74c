// libpng shim: see include/CPNG.h.
#include "CPNG.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t err_size, const char *what, const char *detail) {
    if (err && err_size > 0) snprintf(err, err_size, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
    return -1;
}

int cpng_encode_rgba8(const uint8_t *pixels, uint32_t width, uint32_t height, size_t stride,
                      uint8_t **out, size_t *out_size, char *err, size_t err_size) {
    if (!pixels || !out || !out_size) return fail(err, err_size, "png encode", "null argument");
    if (width == 0 || height == 0 || width > 0x7fffffffu / 4 || height > 0x7fffffffu)
        return fail(err, err_size, "png encode", "image size out of range");
    if (stride < (size_t)width * 4 || stride > 0x7fffffffu)
        return fail(err, err_size, "png encode", "row stride smaller than width * 4");
    *out = NULL;
    *out_size = 0;

    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = width;
    image.height = height;
    image.format = PNG_FORMAT_RGBA;

    // First pass: the size the encoder needs; second pass: the bytes.
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&image, NULL, &size, 0, pixels, (png_int_32)stride, NULL)) {
        int r = fail(err, err_size, "png encode", image.message);
        png_image_free(&image);
        return r;
    }
    uint8_t *buffer = malloc(size);
    if (!buffer) return fail(err, err_size, "png encode", "out of memory");
    if (!png_image_write_to_memory(&image, buffer, &size, 0, pixels, (png_int_32)stride, NULL)) {
        int r = fail(err, err_size, "png encode", image.message);
        png_image_free(&image);
        free(buffer);
        return r;
    }
    *out = buffer;
    *out_size = size;
    return 0;
}

void cpng_free(void *p) { free(p); }
