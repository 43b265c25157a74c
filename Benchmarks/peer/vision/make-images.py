#!/usr/bin/env python3
"""Writes the committed test images of Tests/Fixtures/vision/images with pypng (PyPI `pypng`).

Two sets:
  - decoder fixtures (13 x 7, every PNG colour type, bit depth, tRNS and Adam7 interlacing): the
    samples follow the formulas below, which VisionTests/PNGDecoderTests.swift recomputes, so the
    decoder is checked against values nobody decoded;
  - golden images (opaque, sizes that exercise the letterbox resize) fed to llama.cpp and GemmaEdge.

    python3 Benchmarks/peer/vision/make-images.py OUT_DIR
"""
import math
import os
import sys

import png

W, H = 13, 7


def rgb8(x, y):
    return ((x * 7 + y * 3) % 256, (x * 2 + y * 11 + 60) % 256, (x * x + y) % 256)


def grey8(x, y):
    return (x * 9 + y * 5) % 256


def alpha8(x, y):
    return (x * 16 + y * 37) % 256


def low8(x, y):
    # The low byte of 16-bit samples: decoding keeps the high byte, so this must not leak in.
    return (x * 31 + y * 17 + 129) % 256


def write(path, rows, **kw):
    kw.setdefault("greyscale", False)  # pypng would otherwise guess
    kw.setdefault("compression", 9)
    if "palette" in kw:
        del kw["greyscale"]
    with open(path, "wb") as f:
        png.Writer(**kw).write(f, rows)


def decoder_fixtures(out):
    for bits in (1, 2, 4):
        rows = [[(x + y) % (1 << bits) for x in range(W)] for y in range(H)]
        write(f"{out}/grey{bits}.png", rows, width=W, height=H, greyscale=True, bitdepth=bits)
    write(f"{out}/grey4-interlaced.png", [[(x + y) % 16 for x in range(W)] for y in range(H)],
          width=W, height=H, greyscale=True, bitdepth=4, interlace=True)
    write(f"{out}/grey8.png", [[grey8(x, y) for x in range(W)] for y in range(H)],
          width=W, height=H, greyscale=True, bitdepth=8)
    write(f"{out}/grey8-trns.png", [[grey8(x, y) for x in range(W)] for y in range(H)],
          width=W, height=H, greyscale=True, bitdepth=8, transparent=grey8(2, 1))
    write(f"{out}/grey16.png", [[grey8(x, y) * 256 + low8(x, y) for x in range(W)] for y in range(H)],
          width=W, height=H, greyscale=True, bitdepth=16)
    write(f"{out}/greyalpha8.png",
          [[v for x in range(W) for v in (grey8(x, y), alpha8(x, y))] for y in range(H)],
          width=W, height=H, greyscale=True, alpha=True, bitdepth=8)
    write(f"{out}/greyalpha16.png",
          [[v for x in range(W) for v in (grey8(x, y) * 256 + low8(x, y), alpha8(x, y) * 256 + low8(y, x))]
           for y in range(H)], width=W, height=H, greyscale=True, alpha=True, bitdepth=16)
    write(f"{out}/rgb8.png", [[v for x in range(W) for v in rgb8(x, y)] for y in range(H)],
          width=W, height=H, bitdepth=8)
    write(f"{out}/rgb8-interlaced.png", [[v for x in range(W) for v in rgb8(x, y)] for y in range(H)],
          width=W, height=H, bitdepth=8, interlace=True)
    write(f"{out}/rgb8-trns.png", [[v for x in range(W) for v in rgb8(x, y)] for y in range(H)],
          width=W, height=H, bitdepth=8, transparent=rgb8(4, 3))
    write(f"{out}/rgb16.png",
          [[c * 256 + low8(x + i, y) for x in range(W) for i, c in enumerate(rgb8(x, y))] for y in range(H)],
          width=W, height=H, bitdepth=16)
    write(f"{out}/rgba8.png", [[v for x in range(W) for v in rgb8(x, y) + (alpha8(x, y),)] for y in range(H)],
          width=W, height=H, alpha=True, bitdepth=8)
    rgba16 = [[c * 256 + low8(x + i, y) for x in range(W) for i, c in enumerate(rgb8(x, y) + (alpha8(x, y),))]
              for y in range(H)]
    write(f"{out}/rgba16.png", rgba16, width=W, height=H, alpha=True, bitdepth=16)
    write(f"{out}/rgba16-interlaced.png", rgba16, width=W, height=H, alpha=True, bitdepth=16, interlace=True)
    for bits in (1, 2, 4, 8):
        n = 1 << bits
        palette = [((i * 37) % 256, (i * 91 + 5) % 256, (i * 13 + 200) % 256) for i in range(n)]
        rows = [[(x * 3 + y) % n for x in range(W)] for y in range(H)]
        write(f"{out}/palette{bits}.png", rows, width=W, height=H, palette=palette, bitdepth=bits)
    palette = [((i * 37) % 256, (i * 91 + 5) % 256, (i * 13 + 200) % 256, (i * 17) % 256) for i in range(256)]
    rows = [[(x * 3 + y) % 256 for x in range(W)] for y in range(H)]
    write(f"{out}/palette8-trns.png", rows, width=W, height=H, palette=palette, bitdepth=8)
    write(f"{out}/palette8-interlaced.png", rows, width=W, height=H, palette=[p[:3] for p in palette],
          bitdepth=8, interlace=True)


def pattern(x, y, w, h):
    """A smooth picture with some structure (gradients, rings, a bar), 0..255 per channel."""
    u, v = x / w, y / h
    r = 128 + 127 * math.sin(6.0 * u + 2.0 * v)
    g = 128 + 127 * math.cos(9.0 * math.hypot(u - 0.4, v - 0.6))
    b = 255 * u * (1 - v) + (80 if 0.45 < u < 0.55 else 0)
    return tuple(max(0, min(255, int(c))) for c in (r, g, b))


def golden_images(out):
    w, h = 150, 100   # landscape, shrunk and letterboxed to 112 x 75 on a 112 x 112 canvas
    write(f"{out}/wide-rgb.png", [[c for x in range(w) for c in pattern(x, y, w, h)] for y in range(h)],
          width=w, height=h, bitdepth=8)
    w, h = 60, 90     # portrait grey, enlarged to 75 x 112 and letterboxed
    write(f"{out}/tall-grey.png", [[pattern(x, y, w, h)[0] for x in range(w)] for y in range(h)],
          width=w, height=h, greyscale=True, bitdepth=8)
    w = h = 112       # exactly the encoder size: used as is; palette + Adam7
    pal = [(i, (i * 5) % 256, 255 - i) for i in range(256)]
    rows = [[pattern(x, y, w, h)[1] for x in range(w)] for y in range(h)]
    write(f"{out}/square-palette-interlaced.png", rows, width=w, height=h, palette=pal, bitdepth=8, interlace=True)
    w, h = 144, 144   # 16-bit RGB, shrunk to 112 x 112 (the low bytes must be ignored)
    write(f"{out}/big-rgb16.png",
          [[c * 256 + (x * 3 + y) % 256 for x in range(w) for c in pattern(x, y, w, h)] for y in range(h)],
          width=w, height=h, bitdepth=16)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "Tests/Fixtures/vision/images"
    os.makedirs(out, exist_ok=True)
    decoder_fixtures(out)
    golden_images(out)
