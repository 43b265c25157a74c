#!/usr/bin/env python3
"""Constrained decoding through the servers: `gemma-edge serve` and llama.cpp's `llama-server` on
the same model file, prompt and JSON schema, free and constrained, runs alternated (the machine is
shared). Decode speed is measured the same way for both, from the client: streamed
`/v1/completions`, (completion tokens - 1) / (time of the last chunk - time of the first). The
first constrained request to gemma-edge is reported apart (it builds the vocabulary trie and the
schema's mask cache); later ones reuse the cache. gemma-edge's mask time comes from its /metrics.
Prints a Markdown table.

  Benchmarks/grammar_server.py --gemma-edge .build/release/gemma-edge --model M.gguf \
      --peer-bin DIR --schema Benchmarks/grammar/person.schema.json [--reps 5 --tokens 128 --threads 2]
"""
import argparse, json, os, signal, statistics, subprocess, sys, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prompt_cache  # noqa: E402  (free_port, wait_ready)
from prompt_cache import free_port  # noqa: E402


def wait_ready(port, proc):
    """Waits for /health (prompt_cache.py's wait), failing at once when the server exits."""
    if proc.poll() is not None:
        raise SystemExit(f"the server on port {port} exited with {proc.returncode}")
    prompt_cache.wait_ready(port)


def stream(port, body):
    """(completion tokens, decode tok/s, text) of one streamed completion."""
    body = dict(body, stream=True, stream_options={"include_usage": True})
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    first = last = None
    text, tokens, chunks = "", None, 0
    with urllib.request.urlopen(req, timeout=600) as r:
        for raw in r:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            ev = json.loads(line[6:])
            if ev.get("usage"):
                tokens = ev["usage"]["completion_tokens"]
            for c in ev.get("choices", []):
                if c.get("text"):
                    now = time.perf_counter()
                    first = first or now
                    last = now
                    chunks += 1
                    text += c["text"]
    tokens = tokens or chunks
    tps = (tokens - 1) / (last - first) if first and last and last > first and tokens > 1 else float("nan")
    return tokens, tps, text


def metric(port, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--gemma-edge", required=True)
    a.add_argument("--model", required=True)
    a.add_argument("--peer-bin")
    a.add_argument("--schema", required=True)
    a.add_argument("--prompt", default="Here is a customer record for Jane Doe, a 34 year old teacher from Lyon, as JSON:")
    a.add_argument("--reps", type=int, default=5)
    a.add_argument("--tokens", type=int, default=128)
    a.add_argument("--threads", type=int, default=2)
    o = a.parse_args()
    schema = json.load(open(o.schema))
    procs = []
    try:
        ge = free_port()
        procs.append(subprocess.Popen([o.gemma_edge, "serve", "-m", o.model, "--port", str(ge), "--threads", str(o.threads),
                                       "--ctx", "1024", "--log-level", "warning"], start_new_session=True))
        wait_ready(ge, procs[-1])
        servers = [("GemmaEdge (gemma-edge serve)", ge, True)]
        llama = os.path.join(o.peer_bin or "", "llama-server")
        if o.peer_bin and os.access(llama, os.X_OK):
            lp = free_port()
            procs.append(subprocess.Popen([llama, "-m", o.model, "--port", str(lp), "-t", str(o.threads), "-c", "1024",
                                           "-np", "1", "--log-disable"], start_new_session=True,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_ready(lp, procs[-1])
            servers.append(("llama.cpp (llama-server, json_schema)", lp, False))
        base = {"prompt": o.prompt, "max_tokens": o.tokens, "temperature": 0}
        free_body = dict(base, ignore_eos=True)
        json_body = dict(base, json_schema=schema)
        results = {(name, mode): [] for name, _, _ in servers for mode in ("free", "json")}
        cold = {}
        masks = []
        for name, port, ours in servers:   # warm-up: one free request each (first-request effects)
            stream(port, dict(free_body, max_tokens=8))
        for name, port, ours in servers:   # the first constrained request (cold caches on our side)
            m0, s0 = (metric(port, "gemma_edge_grammar_masks_total"), metric(port, "gemma_edge_grammar_mask_seconds")) if ours else (0, 0)
            n, tps, text = stream(port, json_body)
            cold[name] = (n, tps)
            json.loads(text)
            if ours:
                dm = metric(port, "gemma_edge_grammar_masks_total") - m0
                cold[name] += ((metric(port, "gemma_edge_grammar_mask_seconds") - s0) / max(dm, 1) * 1e6,)
        for r in range(o.reps):
            for name, port, ours in servers:
                for mode, body in (("free", free_body), ("json", json_body)):
                    m0, s0 = (metric(port, "gemma_edge_grammar_masks_total"), metric(port, "gemma_edge_grammar_mask_seconds")) if ours else (0, 0)
                    n, tps, text = stream(port, body)
                    results[(name, mode)].append((n, tps))
                    if mode == "json":
                        json.loads(text)
                        if ours:
                            dm = metric(port, "gemma_edge_grammar_masks_total") - m0
                            masks.append((metric(port, "gemma_edge_grammar_mask_seconds") - s0) / max(dm, 1) * 1e6)
        load = os.getloadavg()
        print("| server | decode tok/s, free | decode tok/s, JSON schema (warm) | constrained / free | first constrained request | tokens (free / JSON) |")
        print("| --- | --- | --- | --- | --- | --- |")
        for name, _, ours in servers:
            f = statistics.median(t for _, t in results[(name, "free")])
            j = statistics.median(t for _, t in results[(name, "json")])
            nf = statistics.median(n for n, _ in results[(name, "free")])
            nj = statistics.median(n for n, _ in results[(name, "json")])
            c = cold[name]
            first = f"{c[1]:.1f} tok/s" + (f", mask {c[2]:.0f} us/token" if ours else "")
            print(f"| {name} | {f:.1f} | {j:.1f} | {j / f * 100:.0f} % | {first} | {nf:.0f} / {nj:.0f} |")
        if masks:
            print(f"\nGemmaEdge mask time per token, warm (median of {len(masks)} requests' means): {statistics.median(masks):.1f} us")
        print(f"\n{os.cpu_count()} cores, {o.threads} threads, greedy, up to {o.tokens} tokens, median of {o.reps} alternated runs; "
              f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}")
        for name, _, _ in servers:
            print(f"  {name}: free tok/s {[round(t, 1) for _, t in results[(name, 'free')]]}, JSON tok/s {[round(t, 1) for _, t in results[(name, 'json')]]}")
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(20)
            except Exception:
                os.killpg(p.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
