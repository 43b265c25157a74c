#!/usr/bin/env python3
"""Last step of record-vision.sh: gathers vision_dump's outputs into Tests/Fixtures/vision/golden,
computes Pillow reference values for the resize tests, and writes the manifest.

    finish-golden.py WORK_DIR OUT_DIR IMAGES_DIR PEER_COMMIT COMPILER
"""
import datetime
import json
import os
import platform
import shutil
import sys

import numpy as np
import png
from PIL import Image

work, out, images, commit, compiler = sys.argv[1:6]
os.makedirs(out, exist_ok=True)


def fnv1a64(data: bytes) -> str:
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def rgb8(path):
    """An opaque PNG as 8-bit RGB bytes: 16-bit samples keep their high byte (as stb_image and
    GemmaEdge do), grey is replicated, palettes are expanded."""
    r = png.Reader(filename=path)
    w, h, rows, info = r.asDirect()
    planes, depth = info["planes"], info["bitdepth"]
    assert planes in (1, 3), f"{path}: golden images are opaque"
    data = bytearray()
    for row in rows:
        for x in range(w):
            px = row[x * planes:(x + 1) * planes]
            px = [v >> 8 if depth == 16 else v for v in px]
            if planes == 1:
                px = px * 3
            data += bytes(px)
    return w, h, bytes(data)


def letterbox_size(w, h, s):
    """llama.cpp's img_tool::resize (PAD_CEIL) target size, in float32 as its C++ computes it."""
    f = np.float32
    scale = min(f(s) / f(w), f(s) / f(h))
    nw = min(int(np.ceil(f(w) * scale)), s)
    nh = min(int(np.ceil(f(h) * scale)), s)
    return nw, nh


def sample(data, n=24):
    step = max(1, len(data) // n)
    return [data[i] for i in range(0, len(data), step)][:n]


resize_cases = []
for name, sizes in [("wide-rgb.png", [(112, 75), (37, 23), (300, 200), (150, 40), (60, 100), (1, 1)]),
                    ("tall-grey.png", [(75, 112), (61, 90)]),
                    ("big-rgb16.png", [(112, 112), (143, 144)])]:
    w, h, data = rgb8(os.path.join(images, name))
    img = Image.frombytes("RGB", (w, h), data)
    for tw, th in sizes:
        r = img.resize((tw, th), Image.Resampling.BILINEAR).tobytes()
        resize_cases.append({"image": name, "width": tw, "height": th, "fnv1a64": fnv1a64(r), "sample": sample(r)})

letterbox = []
for name in ["wide-rgb.png", "tall-grey.png", "big-rgb16.png", "square-palette-interlaced.png"]:
    w, h, data = rgb8(os.path.join(images, name))
    img = Image.frombytes("RGB", (w, h), data)
    s = 112
    nw, nh = letterbox_size(w, h, s)
    canvas = Image.new("RGB", (s, s), (0, 0, 0))
    resized = img if (w, h) == (s, s) else img.resize((nw, nh), Image.Resampling.BILINEAR)
    canvas.paste(resized, ((s - resized.width) // 2, (s - resized.height) // 2))
    b = canvas.tobytes()
    letterbox.append({"image": name, "size": s, "inner": [resized.width, resized.height],
                      "fnv1a64": fnv1a64(b), "sample": sample(b)})

with open(os.path.join(out, "resize.json"), "w") as f:
    json.dump({"what": "Pillow BILINEAR reference values (Image.resize), and llama.cpp's Gemma 3 letterbox "
                       "(aspect kept, ceil, centred on black) built from them; RGB bytes hashed with FNV-1a 64",
               "pillow": Image.__version__, "resize": resize_cases, "letterbox": letterbox}, f, indent=1)
    f.write("\n")

outputs = sorted(n for n in os.listdir(work) if n.endswith(".json") and n != "bench.json")
for n in outputs:
    shutil.copyfile(os.path.join(work, n), os.path.join(out, n))

pairs = {}
for v in ("f32", "f16"):
    pairs[v] = {k: fnv1a64(open(os.path.join(work, f"tiny-{v}-{part}.gguf"), "rb").read())
                for k, part in (("text_fnv1a64", "text"), ("mmproj_fnv1a64", "mmproj"))}

cpu = ""
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass

manifest = {
    "what": "Vision golden outputs recorded from llama.cpp's libmtmd on tiny synthetic Gemma 3 4B-shaped pairs "
            "(Tests/TestSupport/TinyVision.swift); regenerate with Benchmarks/peer/vision/record-vision.sh",
    "pairs": pairs,
    "images": {n: fnv1a64(open(os.path.join(images, n), "rb").read()) for n in sorted(os.listdir(images))},
    "outputs": {n: fnv1a64(open(os.path.join(out, n), "rb").read()) for n in outputs},
    "peer": {"name": "llama.cpp (libmtmd + libllama)", "source": "llama-cpp-python 0.3.36 sdist, vendor/llama.cpp",
             "commit": commit, "build": "cmake Release, GGML_NATIVE=ON, BUILD_SHARED_LIBS=ON, CPU"},
    "encoder_bench_llama_cpp": json.load(open(os.path.join(work, "bench.json"))),
    "encoder_bench_gemma_edge": [l.strip() for l in open(os.path.join(work, "bench-gemma-edge.txt")) if l.strip()],
    "recorded": {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "cpu": cpu, "machine": platform.machine(), "compiler": compiler},
}
with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=2)
    f.write("\n")
