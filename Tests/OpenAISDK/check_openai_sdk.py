#!/usr/bin/env python3
"""The official OpenAI Python SDK against `gemma-edge serve`: logprobs on chat and completions
(whole and streamed), models.retrieve, structured output (a JSON schema through response_format,
whole and streamed) and tool calls (required, streamed, and the result given back), and 30 requests
on one keep-alive client with retries off.
Starts the server itself on a free loopback port and stops it at the end; exits non-zero on the
first failure. Needs `pip install openai`.

  Tests/OpenAISDK/check_openai_sdk.py --gemma-edge .build/debug/gemma-edge --model MODEL.gguf
"""
import argparse, json, os, signal, socket, subprocess, sys, time, urllib.error, urllib.request

import openai


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--gemma-edge", required=True)
    a.add_argument("--model", required=True)
    a.add_argument("--threads", type=int, default=2)
    o = a.parse_args()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    server = subprocess.Popen([o.gemma_edge, "serve", "-m", o.model, "--port", str(port), "--threads", str(o.threads),
                               "--ctx", "2048", "--model-name", "gemma-3-270m", "--log-level", "warning"],
                              start_new_session=True)
    try:
        end = time.time() + 300
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).status == 200:
                    break
            except (urllib.error.URLError, OSError):
                pass
            if time.time() > end:
                raise SystemExit("the server did not become ready")
            time.sleep(0.5)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0)
        print("openai", openai.__version__)

        m = client.models.retrieve("gemma-3-270m")
        print("models.retrieve:", m.id, m.object)
        try:
            client.models.retrieve("gpt-4")
            raise SystemExit("models.retrieve of an unknown id did not fail")
        except openai.NotFoundError as e:
            print("models.retrieve(unknown): NotFoundError", e.status_code)

        chat = client.chat.completions.create(model="gemma-3-270m", messages=[{"role": "user", "content": "Say hello."}],
                                              max_tokens=5, temperature=0, logprobs=True, top_logprobs=5)
        c = chat.choices[0]
        assert c.logprobs is not None and len(c.logprobs.content) == chat.usage.completion_tokens, c.logprobs
        for t in c.logprobs.content:
            assert len(t.top_logprobs) == 5 and t.bytes is not None and t.logprob <= 0
            print(f"  chat token {t.token!r} logprob {t.logprob:.3f} bytes {t.bytes} top {[x.token for x in t.top_logprobs]}")
        print("chat.completions logprobs: OK,", repr(c.message.content))

        stream = client.chat.completions.create(model="gemma-3-270m", messages=[{"role": "user", "content": "Count: one"}],
                                                max_tokens=5, temperature=0, logprobs=True, top_logprobs=2, stream=True)
        streamed = [t for ch in stream for choice in ch.choices if choice.logprobs for t in choice.logprobs.content]
        assert streamed and all(len(t.top_logprobs) == 2 for t in streamed), streamed
        print("chat.completions streamed logprobs: OK,", len(streamed), "tokens")

        comp = client.completions.create(model="gemma-3-270m", prompt="The capital of France is", max_tokens=5,
                                         temperature=0, logprobs=3)
        lp = comp.choices[0].logprobs
        assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) > 0, lp
        assert all(len(x) <= 3 for x in lp.top_logprobs)
        print("completions logprobs: OK", list(zip(lp.tokens, [round(x, 3) for x in lp.token_logprobs])))
        print("  top_logprobs[0]:", lp.top_logprobs[0], "text_offset:", lp.text_offset)

        stream = client.completions.create(model="gemma-3-270m", prompt="One, two,", max_tokens=4, temperature=0,
                                           logprobs=2, stream=True)
        n = sum(len(ch.choices[0].logprobs.tokens) for ch in stream if ch.choices and ch.choices[0].logprobs)
        assert n > 0
        print("completions streamed logprobs: OK,", n, "tokens")

        pen = client.chat.completions.create(model="gemma-3-270m", messages=[{"role": "user", "content": "Repeat: a a a a"}],
                                             max_tokens=8, temperature=0, presence_penalty=1.5, frequency_penalty=1.0)
        print("presence/frequency penalties accepted:", repr(pen.choices[0].message.content))
        try:
            client.chat.completions.create(model="gemma-3-270m", messages=[{"role": "user", "content": "x"}], n=2)
            raise SystemExit("n=2 was not refused")
        except openai.BadRequestError as e:
            print("n=2: BadRequestError:", e.body.get("message") if isinstance(e.body, dict) else e.body)

        # Structured output: a JSON schema through response_format, whole and streamed.
        person = {"type": "object", "additionalProperties": False, "required": ["name", "age", "city"],
                  "properties": {"name": {"type": "string", "maxLength": 24},
                                 "age": {"type": "integer", "minimum": 0, "maximum": 120},
                                 "city": {"enum": ["Lyon", "Paris", "Oslo"]}}}
        fmt = {"type": "json_schema", "json_schema": {"name": "person", "strict": True, "schema": person}}
        ask = [{"role": "user", "content": "Jane Doe is a 34 year old teacher from Lyon. Give her record as JSON."}]
        r = client.chat.completions.create(model="gemma-3-270m", messages=ask, max_tokens=60, temperature=0,
                                           response_format=fmt)
        rec = json.loads(r.choices[0].message.content)
        assert set(rec) == {"name", "age", "city"} and 0 <= rec["age"] <= 120 and rec["city"] in person["properties"]["city"]["enum"], rec
        print("response_format json_schema: OK,", rec)
        text = "".join(ch.choices[0].delta.content or "" for ch in client.chat.completions.create(
            model="gemma-3-270m", messages=ask, max_tokens=60, temperature=0.8, seed=3, response_format=fmt, stream=True)
            if ch.choices)
        print("response_format json_schema streamed, sampled: OK,", json.loads(text))

        # Tools: a required call, streamed too, and its result given back.
        tools = [{"type": "function", "function": {
            "name": "get_weather", "description": "The current weather in a city.",
            "parameters": {"type": "object", "additionalProperties": False, "required": ["city"],
                           "properties": {"city": {"type": "string", "maxLength": 20}}}}}]
        ask = [{"role": "user", "content": "What is the weather in Oslo?"}]
        r = client.chat.completions.create(model="gemma-3-270m", messages=ask, tools=tools, tool_choice="required",
                                           max_tokens=40, temperature=0)
        c = r.choices[0]
        assert c.finish_reason == "tool_calls" and c.message.tool_calls, c
        call = c.message.tool_calls[0]
        args = json.loads(call.function.arguments)
        assert call.function.name == "get_weather" and isinstance(args.get("city"), str), call
        print("tool_choice required: OK,", call.function.name, args)
        deltas = [d for ch in client.chat.completions.create(model="gemma-3-270m", messages=ask, tools=tools,
                                                             tool_choice="required", max_tokens=40, temperature=0,
                                                             stream=True)
                  for choice in ch.choices if choice.delta.tool_calls for d in choice.delta.tool_calls]
        assert deltas and deltas[0].function.name == "get_weather", deltas
        print("tool call streamed: OK,", "".join(d.function.arguments or "" for d in deltas))
        answer = client.chat.completions.create(model="gemma-3-270m", tools=tools, max_tokens=24, temperature=0, messages=ask + [
            {"role": "assistant", "content": None, "tool_calls": [{"id": call.id, "type": "function", "function": {
                "name": call.function.name, "arguments": call.function.arguments}}]},
            {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temperature_c": 4, "sky": "snow"})}])
        print("tool result given back: OK,", repr(answer.choices[0].message.content), answer.choices[0].message.tool_calls)

        failures = 0
        for i in range(30):
            try:
                if i % 3 == 2:
                    list(client.chat.completions.create(model="gemma-3-270m", max_tokens=3, stream=True,
                                                        messages=[{"role": "user", "content": f"hi {i}"}]))
                else:
                    client.chat.completions.create(model="gemma-3-270m", max_tokens=3,
                                                   messages=[{"role": "user", "content": f"hi {i}"}])
            except openai.APIConnectionError as e:
                failures += 1
                print("  request", i, "failed:", e)
        print(f"30 requests on one client with max_retries=0: {30 - failures} ok, {failures} failed")
        assert failures == 0
        print("ALL OK")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
