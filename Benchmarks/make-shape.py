#!/usr/bin/env python3
"""Writes a random-weights GGUF of the Gemma 3 1B's shape (26 blocks 1152 wide, feed-forward 6912,
4 query heads and 1 KV head of 256, window 512, the 262144-piece vocabulary), Q4_0 projections and a
Q8_0 tied embedding (about 710 MB, as a 1B Q4_0), for measuring speed where no 1B weights exist.
The vocabulary and the other metadata are copied from a real Gemma 3 GGUF (the 270M).

usage: make-shape.py SOURCE.gguf OUT.gguf   (needs numpy and llama.cpp's gguf-py: GGUF_PY=dir)
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.environ.get("GGUF_PY", os.path.expanduser(
    "~/.cache/gemma-edge/peer/llama_cpp_python-0.3.36/vendor/llama.cpp/gguf-py")))
import gguf  # noqa: E402

SHAPE = {"block_count": 26, "embedding_length": 1152, "feed_forward_length": 6912,
         "attention.head_count": 4, "attention.head_count_kv": 1, "attention.key_length": 256,
         "attention.value_length": 256, "attention.sliding_window": 512, "context_length": 32768}


def main(src, out):
    reader = gguf.GGUFReader(src)
    writer = gguf.GGUFWriter(out, "gemma3")
    for field in reader.fields.values():
        name = field.name
        if name.startswith("GGUF.") or name in ("general.architecture", "general.alignment"):
            continue
        if name.startswith("gemma3.") and name[len("gemma3."):] in SHAPE:
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), vtype, sub_type=sub)
    for key, value in SHAPE.items():
        writer.add_uint32("gemma3." + key, value)
    writer.add_string("general.name", "random weights, Gemma 3 1B shape")

    rng = np.random.default_rng(1)
    vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
    d, ffn, heads, kv, hd = 1152, 6912, 4, 1, 256

    def matrix(name, rows, cols, qtype):
        # GGUF dims are [cols, rows]; numpy holds rows x cols.
        w = (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float32)
        writer.add_tensor(name, gguf.quants.quantize(w, qtype), raw_shape=gguf.quants.quant_shape_to_byte_shape(
            (rows, cols), qtype), raw_dtype=qtype)

    def norm(name, n):
        writer.add_tensor(name, np.ones(n, dtype=np.float32))

    matrix("token_embd.weight", vocab, d, gguf.GGMLQuantizationType.Q8_0)
    norm("output_norm.weight", d)
    q4 = gguf.GGMLQuantizationType.Q4_0
    for b in range(SHAPE["block_count"]):
        p = f"blk.{b}."
        for n, size in (("attn_norm", d), ("post_attention_norm", d), ("ffn_norm", d), ("post_ffw_norm", d),
                        ("attn_q_norm", hd), ("attn_k_norm", hd)):
            norm(p + n + ".weight", size)
        matrix(p + "attn_q.weight", heads * hd, d, q4)
        matrix(p + "attn_k.weight", kv * hd, d, q4)
        matrix(p + "attn_v.weight", kv * hd, d, q4)
        matrix(p + "attn_output.weight", d, heads * hd, q4)
        matrix(p + "ffn_gate.weight", ffn, d, q4)
        matrix(p + "ffn_up.weight", ffn, d, q4)
        matrix(p + "ffn_down.weight", d, ffn, q4)
        print(f"block {b}", file=sys.stderr, flush=True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
