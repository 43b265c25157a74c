#!/usr/bin/env python3
"""Time to first token with a fixed ~300-token system prompt, cold and warm, for `gemma-edge serve`
(prompt cache) and llama-server (`cache_prompt`), side by side on the same GGUF and threads.

Each server runs alone (one after the other, loopback only). For each, round 0 sends the system
prompt with a first question (cold: everything is evaluated), then REPS rounds each send the same
system prompt with a new question (warm: only the question should be evaluated). Every request is
streamed; time to first token is from sending the request to the first chunk that carries text.
Prints a Markdown table and, with --results FILE, appends it there.

  Benchmarks/prompt_cache.py --gemma-edge .build/release/gemma-edge \
      --llama-server ~/.cache/gemma-edge/peer/.../build/bin/llama-server \
      --model ~/.cache/gemma-edge/models/gemma-3-270m-q4_k_m.gguf [--reps 5] [--threads 2]
"""
import argparse, http.client, json, os, signal, socket, statistics, subprocess, sys, time

SYSTEM = ("You are the information kiosk of the city museum. Answer visitors briefly and kindly. "
          "The museum opens at nine and closes at six, every day but Monday. Tickets cost twelve euros, "
          "six for students and nothing for children under twelve. The cafe is on the ground floor next to "
          "the shop; the cloakroom is free. The permanent collection covers Roman finds from the old harbour, "
          "medieval sculpture, the printing workshop of 1520 and paintings of the river from the last three "
          "centuries. This season's exhibition shows the restoration of the great tapestry, with the "
          "restorers at work on Thursday afternoons. Guided tours start at eleven and at three from the main "
          "hall and take an hour. Wheelchairs and pushchairs can be borrowed at the desk; lifts reach every "
          "floor. Photography without flash is allowed except in the tapestry room. If you do not know an "
          "answer, say so and send the visitor to the front desk. The library on the second floor holds the "
          "city archive and can be visited by appointment from Tuesday to Friday. School groups book their visits "
          "by telephone at least two weeks ahead and receive a printed guide for each pupil. Dogs are not allowed "
          "inside, except assistance dogs. The garden behind the museum is open in summer until eight, with concerts "
          "on Saturday evenings in July and August. Lost property is kept at the front desk for one month.")
QUESTIONS = ["Where is the cafe?", "When do you close on Sunday?", "How much is a student ticket?",
             "Can I take photos?", "When do guided tours start?", "Is there a lift?", "What is on show now?",
             "Do children pay?", "Where can I leave my coat?", "Are you open on Monday?", "Who restores the tapestry?"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_ready(port, seconds=300):
    end = time.time() + seconds
    while time.time() < end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server on port {port} did not become ready in {seconds} s")


def ask(port, question, extra):
    body = {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
            "max_tokens": 8, "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}
    body.update(extra)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    t0 = time.perf_counter()
    c.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    assert r.status == 200, r.read()
    ttft, usage, timings, buf = None, {}, {}, b""
    while True:
        line = r.readline()
        if not line:
            break
        if not line.startswith(b"data: ") or line.strip() == b"data: [DONE]":
            continue
        ev = json.loads(line[6:])
        for ch in ev.get("choices", []):
            if ttft is None and (ch.get("delta") or {}).get("content"):
                ttft = time.perf_counter() - t0
        usage = ev.get("usage") or usage
        timings = ev.get("timings") or timings
    c.close()
    prompt = usage.get("prompt_tokens", -1)
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
    if cached is None and timings:  # llama-server reports what it evaluated in timings.prompt_n
        cached = prompt - timings.get("prompt_n", prompt)
    return ttft if ttft is not None else time.perf_counter() - t0, prompt, cached


def run(name, argv, port, reps, extra):
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_ready(port)
        cold = ask(port, QUESTIONS[0], extra)
        warm = [ask(port, QUESTIONS[1 + i % (len(QUESTIONS) - 1)], extra) for i in range(reps)]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    med = statistics.median(w[0] for w in warm)
    return {"name": name, "cold_ms": cold[0] * 1000, "cold_prompt": cold[1], "cold_cached": cold[2],
            "warm_ms": med * 1000, "warm_prompt": warm[-1][1], "warm_cached": warm[-1][2],
            "warm_all": [round(w[0] * 1000, 1) for w in warm]}


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--gemma-edge", required=True)
    a.add_argument("--llama-server", help="llama-server binary; without it only gemma-edge is measured")
    a.add_argument("--model", required=True)
    a.add_argument("--reps", type=int, default=5)
    a.add_argument("--threads", type=int, default=2)
    a.add_argument("--ctx", type=int, default=4096)
    a.add_argument("--results")
    o = a.parse_args()
    rows = []
    p = free_port()
    rows.append(run("gemma-edge serve", [o.gemma_edge, "serve", "-m", o.model, "--port", str(p), "--threads", str(o.threads),
                                          "--ctx", str(o.ctx), "--cache-slots", "1", "--log-level", "warning"],
                    p, o.reps, {}))
    p = free_port()
    if o.llama_server and os.path.exists(o.llama_server):
        argv = [o.llama_server, "-m", o.model, "--port", str(p), "--host", "127.0.0.1",
                "-t", str(o.threads), "-c", str(o.ctx), "-np", "1", "--no-webui"]
        rows.append(run("llama-server", argv, p, o.reps, {"cache_prompt": True}))
    else:
        print(f"llama-server not found ({o.llama_server}): measuring gemma-edge alone", file=sys.stderr)
    load = os.getloadavg()[0]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    out = [f"## Prompt cache: time to first token, cold and warm ({time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())})", "",
           f"{os.path.basename(o.model)}, {o.threads} threads, context {o.ctx}, CPU: {cpu}, {os.cpu_count()} cores; "
           f"load average {load:.1f} at the end (the machine is shared with other builds: figures are noisy). "
           f"Same ~300-token system prompt; cold = first request, warm = median of {o.reps} later requests with "
           "new questions (streamed, max_tokens 8, temperature 0). `Benchmarks/prompt_cache.py`.", "",
           "| server | prompt tokens | cold TTFT ms | warm prompt tokens (cached) | warm TTFT ms | warm runs ms |",
           "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        out.append(f"| {r['name']} | {r['cold_prompt']} | {r['cold_ms']:.0f} | {r['warm_prompt']} ({r['warm_cached']}) | "
                   f"{r['warm_ms']:.0f} | {r['warm_all']} |")
    text = "\n".join(out) + "\n"
    print(text)
    if o.results:  # newest section first, after the title
        old = open(o.results).read()
        cut = old.find("\n## ")
        cut = len(old) if cut < 0 else cut + 1
        with open(o.results, "w") as f:
            f.write(old[:cut] + text + "\n" + old[cut:])


if __name__ == "__main__":
    main()
