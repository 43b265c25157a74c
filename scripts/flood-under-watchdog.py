#!/usr/bin/env python3
"""A client flood against `gemma-edge serve` under `gemma-edge watchdog`, on loopback only:
1,100 idle connections and 200 requests with a 1 MB header whose clients hang up, held for
HOLD seconds while /health is timed once a second. Afterwards the server's descriptor count must
be back at its baseline and the watchdog's state file must show no restart and no safe state.

  scripts/flood-under-watchdog.py --gemma-edge .build/release/gemma-edge --model MODEL.gguf [--hold 20]
"""
import argparse, json, os, resource, signal, socket, subprocess, tempfile, time, urllib.request


def health_ms(port):
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            r.read()
            return (time.perf_counter() - t0) * 1000, r.status
    except Exception as e:  # noqa: BLE001 - any failure is reported as such
        return (time.perf_counter() - t0) * 1000, f"{type(e).__name__}"


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--gemma-edge", required=True)
    a.add_argument("--model", required=True)
    a.add_argument("--hold", type=float, default=20)
    o = a.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    d = tempfile.mkdtemp(prefix="gemma-edge-flood-")
    state = os.path.join(d, "watchdog.json")
    conf = os.path.join(d, "watchdog.conf")
    with open(conf, "w") as f:  # probe_url left out: taken from serve's --port
        f.write(f"state_file = {state}\nprobe_interval = 1\nprobe_timeout = 2\nprobe_failures = 2\n"
                "generation_probe_interval = 0\ncrash_loop_restarts = 2\nbackoff_initial = 1\n")
    # The server gets the default descriptor limit of a Debian service without LimitNOFILE.
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    wd = subprocess.Popen([o.gemma_edge, "watchdog", "--config", conf, "--", o.gemma_edge, "serve", "-m", o.model,
                           "--port", str(port), "--ctx", "512", "--threads", "1", "--log-level", "warning"],
                          preexec_fn=limit, start_new_session=True)
    try:
        end = time.time() + 300
        while health_ms(port)[1] != 200:
            if time.time() > end:
                raise SystemExit("not ready")
            time.sleep(0.5)
        serve = json.load(open(state))["pid"]
        time.sleep(1)
        base = fds(serve)
        print(f"serve pid {serve}: {base} descriptors before the flood; its limit is 1024")
        idle = []
        for _ in range(1100):
            c = socket.create_connection(("127.0.0.1", port))
            idle.append(c)
        for _ in range(200):
            c = socket.create_connection(("127.0.0.1", port))
            c.setblocking(False)
            head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20)
            try:
                c.send(head)
            except BlockingIOError:
                pass
            c.close()
        worst = 0.0
        t_end = time.time() + o.hold
        while time.time() < t_end:
            ms, status = health_ms(port)
            worst = max(worst, ms)
            print(f"  /health {status} in {ms:.0f} ms; server descriptors {fds(serve)}")
            time.sleep(1)
        for c in idle:
            c.close()
        time.sleep(5)
        after = fds(serve)
        st = json.load(open(state))
        print(f"after: {after} descriptors (baseline {base}); worst /health {worst:.0f} ms; "
              f"watchdog phase {st['phase']}, restarts {st['restarts']}, same pid {st['pid'] == serve}")
        ok = after <= base and st["restarts"] == 0 and st["phase"] != "safe" and st["pid"] == serve and worst < 1000
        print("OK" if ok else "FAILED")
        raise SystemExit(0 if ok else 1)
    finally:
        os.killpg(wd.pid, signal.SIGTERM)
        try:
            wd.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(wd.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
