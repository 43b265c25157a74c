#!/usr/bin/env bash
# `make arm64-test`: the AArch64 package under qemu-aarch64-static, end to end.
#
#   Cross/arm64/test.sh [DEB]      (default: the newest Cross/out/gemma-edge_*_arm64.deb)
#
# The binary runs from the package unpacked (dpkg-deb -x) into plain Debian arm64 roots that hold
# only the packages its Depends: name (apt resolves them against an empty status under
# ~/.cache/gemma-edge/cross/roots): bookworm (Debian 12) and trixie (Debian 13). Checks:
#   - the package: dpkg-deb --info/--contents (Depends, files, no libgpiod link, GLIBC <= 2.36);
#     its maintainer scripts run by dpkg -i/-r/-P in bookworm chroots (Cross/deb/install-test.sh)
#   - doctor on -cpu cortex-a72 picks `neon`, on -cpu cortex-a76 `neon-dotprod`
#   - doctor --sysfs-root on the Raspberry Pi 4 / Pi 5 / RK3588 trees names those boards
#   - tokenize: every case of Tests/Fixtures/texts/tokenize-corpus.json gives the recorded ids
#   - perplexity of the real 270M over the first 511-token chunk of the golden text (ctx 512,
#     bounded for emulation) within 1 % of llama.cpp's and top-1 agreement no lower than the
#     peer's with itself minus 0.015 (the GoldenTests rules), on both CPU models
#   - greedy generation of a golden prompt (32 tokens) against llama.cpp's, both CPU models
#   - serve on 127.0.0.1: /health and one chat completion
#   - on trixie: every NEEDED library present, doctor on both CPU models, the greedy prompt
# Figures go to Cross/out/arm64-test.txt. MODEL: the GGUF (default scripts/fetch-model.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"
need qemu-aarch64-static "package qemu-user-static"
need python3 "python3"
need curl "curl"

native=""
if [[ "${1:-}" == "--native" ]]; then
    # The same golden checks with a host binary, for the x86-64 figures beside the emulated ones.
    native="${2:?usage: test.sh --native BINARY}"
    [[ -x "$native" ]] || die "no executable at $native"
else
    deb="${1:-$(ls -t "$root"/Cross/out/gemma-edge_*_arm64.deb 2>/dev/null | head -n 1)}"
    [[ -n "$deb" && -s "$deb" ]] || die "no arm64 package: run make arm64 first"
    [[ "$(dpkg-deb -f "$deb" Architecture 2>/dev/null)" == arm64 ]] || die "$deb is not an arm64 Debian package"
fi
model="${MODEL:-$("$root/scripts/fetch-model.sh")}"
[[ -s "$model" ]] || die "no model at $model"
fixtures="$root/Tests/Fixtures"
report="$root/Cross/out/arm64-test${native:+-native}.txt"
mkdir -p "$root/Cross/out"
work="$(mktemp -d)"
serve_pid=""
cleanup() { [[ -n "$serve_pid" ]] && kill "$serve_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
: >"$report"
pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'ok    %s\n' "$*" | tee -a "$report" >&2; }
bad() { fail=$((fail + 1)); printf 'FAIL  %s\n' "$*" | tee -a "$report" >&2; }
# check NAME FUNCTION ARGS...: one line per check, with its result and its time.
check() {
    local what="$1" t0=$SECONDS; shift
    if "$@" >"$work/check.out" 2>&1; then ok "$what: $(tail -n 1 "$work/check.out") [$((SECONDS - t0)) s]"
    else bad "$what: $(tail -n 3 "$work/check.out" | tr '\n' ' ') [$((SECONDS - t0)) s]"; fi
}

# --- The package -------------------------------------------------------------------------
check_package() {
    local info contents
    info="$(dpkg-deb --info "$deb")"
    contents="$(dpkg-deb --contents "$deb" | awk '{print $6}')"
    local f
    for f in ./usr/bin/gemma-edge ./lib/systemd/system/gemma-edge.service ./etc/gemma-edge/watchdog.conf \
             ./usr/lib/sysusers.d/gemma-edge.conf ./lib/udev/rules.d/99-gemma-edge.rules \
             ./usr/share/gemma-edge/boards/raspberry-pi-5.json ./usr/share/doc/gemma-edge/README.Debian; do
        grep -qxF "$f" <<<"$contents" || { echo "missing $f"; return 1; }
    done
    local depends; depends="$(dpkg-deb -f "$deb" Depends)"
    for f in libc6 libstdc++6 libsentencepiece0 libpng16-16; do
        grep -q "$f" <<<"$depends" || { echo "Depends lacks $f: $depends"; return 1; }
    done
    if grep -q gpiod <<<"$depends"; then echo "libgpiod must not be a hard dependency: $depends"; return 1; fi
    grep -q 'Architecture: arm64' <<<"$info" || { echo "not arm64"; return 1; }
    for f in postinst prerm postrm conffiles; do grep -q " $f" <<<"$info" || { echo "no $f"; return 1; }; done
    grep -q 'ExecStart=/usr/bin/gemma-edge watchdog' < <(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./lib/systemd/system/gemma-edge.service) \
        || { echo "the unit does not run /usr/bin/gemma-edge"; return 1; }
    echo "$(du -h "$deb" | cut -f1) package, Depends: $depends"
}

# --- Run roots ------------------------------------------------------------------------------
# make_root SUITE: sets $root_dir to a fresh tree of the suite's arm64 packages named by Depends:
# (the first alternative the suite has) and their closure, unpacked, then the package itself.
# Rebuilt on every run (a few seconds): a tree left by an older script or an interrupted run is
# never reused. Not called in $(...), where `set -e` would not stop on a failed step.
make_root() {
    local suite="$1" dir="$CROSS/roots/$1" names=() group alt pick
    apt_init "$suite" arm64
    while IFS= read -r group; do
        pick=""
        IFS='|' read -ra alts <<<"$group"
        for alt in "${alts[@]}"; do
            alt="$(sed 's/([^)]*)//; s/ //g' <<<"$alt")"
            if capt_cache "$suite" arm64 show "$alt" >/dev/null 2>&1; then pick="$alt"; break; fi
        done
        [[ -n "$pick" ]] || die "$suite has none of: $group"
        names+=("$pick")
    done < <(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/^ *//')
    local debs
    apt_fetch "$suite" arm64 "${names[@]}" >"$work/$suite.debs"
    mapfile -t debs <"$work/$suite.debs"
    [[ ${#debs[@]} -ge ${#names[@]} ]] || die "apt resolved ${#debs[@]} packages for ${names[*]} on $suite"
    rm -rf "$dir" "$dir.stamp"
    unpack_into "$dir" "${debs[@]}" "$deb"
    merged_usr "$dir"   # after the package too: tar replaces the /lib link with its lib/systemd
    [[ -e "$dir/lib/ld-linux-aarch64.so.1" ]] || die "the $suite root has no /lib/ld-linux-aarch64.so.1"
    local list; list="$(printf '%s\n' "${debs[@]##*/}" | sed 's/_.*//' | sort | tr '\n' ' ')"
    say "root $suite: ${names[*]} -> ${#debs[@]} packages ($list) + $(basename "$deb")"
    printf 'root %s: %s\n' "$suite" "$list" >>"$report"
    root_dir="$dir"
}

# run ROOT CPU ARGS...: the packaged binary under qemu with ROOT as its /.
run() {
    local r="$1" cpu="$2"; shift 2
    if [[ -n "$native" ]]; then "$native" "$@"; return; fi
    qemu-aarch64-static -cpu "$cpu" -L "$r" "$r/usr/bin/gemma-edge" "$@"
}

# spawn ROOT CPU ARGS... &: `run` in the background as one process (exec), so $! is gemma-edge
# (or qemu) itself and killing it stops the program, not only a subshell around it.
spawn() {
    local r="$1" cpu="$2"; shift 2
    if [[ -n "$native" ]]; then exec "$native" "$@"; fi
    exec qemu-aarch64-static -cpu "$cpu" -L "$r" "$r/usr/bin/gemma-edge" "$@"
}

# run_to OUT ROOT CPU ARGS...: run, stdout to OUT; a non-zero exit prints the command's status
# and the end of its stderr (the check's message) and fails.
run_to() {
    local out="$1" rc=0; shift
    run "$@" >"$out" 2>"$out.err" || rc=$?
    if [[ $rc -ne 0 ]]; then
        echo "gemma-edge ${*:3:1} exited $rc on ${2}: $(tail -n 3 "$out.err" | tr '\n' ' ')"
        return 1
    fi
}

# check_libs ROOT: every NEEDED library of the binary is in the root (the loader finds it there).
check_libs() {
    local r="$1" lib missing=()
    for lib in $(readelf -d "$r/usr/bin/gemma-edge" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        [[ -e "$r/usr/lib/aarch64-linux-gnu/$lib" || -e "$r/usr/lib/$lib" ]] || missing+=("$lib")
    done
    [[ ${#missing[@]} -eq 0 ]] || { echo "not in the root: ${missing[*]}"; return 1; }
    echo "every NEEDED library is in the root"
}

json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[k]
print(d)' "$1"; }

check_doctor() {
    local r="$1" cpu="$2" want="$3" got
    run_to "$work/doctor.json" "$r" "$cpu" doctor -m "$model" --read-mib 4 --json || return 1
    got="$(json_get cpu.kernel.path <"$work/doctor.json")"
    [[ "$got" == "$want" ]] || { echo "kernel path $got, want $want"; return 1; }
    echo "kernel path $got"
}

check_sysfs() {
    local r="$1" board="$2" got
    run_to "$work/sysfs.json" "$r" cortex-a72 doctor --sysfs-root "$root/Platforms/boards/trees/$board" --json || return 1
    got="$(json_get board.name <"$work/sysfs.json")"
    [[ "$got" == "$board" ]] || { echo "board $got, want $board"; return 1; }
    echo "board $got"
}

check_tokenize() {
    local r="$1" n=0
    python3 - "$fixtures/golden/tokenize.json" "$work/tok" <<'PY'
import json, os, sys
cases = json.load(open(sys.argv[1]))["cases"]
os.makedirs(sys.argv[2], exist_ok=True)
for i, c in enumerate(cases):
    open(f"{sys.argv[2]}/{i:03d}.txt", "w", encoding="utf-8", newline="").write(c["text"])
    json.dump(c["ids"], open(f"{sys.argv[2]}/{i:03d}.ids", "w"))
PY
    local f
    for f in "$work"/tok/*.txt; do
        run_to "${f%.txt}.out" "$r" cortex-a72 tokenize -m "$model" --json "$f" || { echo "(case $(basename "$f"))"; return 1; }
        n=$((n + 1))
    done
    python3 - "$work/tok" <<'PY'
import glob, json, sys
bad = []
for ids in sorted(glob.glob(sys.argv[1] + "/*.ids")):
    want = json.load(open(ids)); got = json.load(open(ids[:-4] + ".out"))["tokens"]
    if got != want: bad.append(ids)
if bad: sys.exit(f"{len(bad)} cases differ: {bad[:3]}")
print(f"{len(glob.glob(sys.argv[1] + '/*.ids'))} cases, ids identical")
PY
}

check_perplexity() {
    local r="$1" cpu="$2" t0 t1
    t0=$(date +%s)
    run_to "$work/ppl.json" "$r" "$cpu" perplexity -m "$model" --ctx 512 --chunks 1 --threads 2 --json "$fixtures/texts/ppl-text.txt" || return 1
    t1=$(date +%s)
    python3 - "$work/ppl.json" "$fixtures/golden/ppl-512.json" "$fixtures/golden/ppl-512-noflash.json" $((t1 - t0)) <<'PY'
import json, math, sys
ours = json.load(open(sys.argv[1]))["positions"]
gold = json.load(open(sys.argv[2]))["chunks"][0]
other = json.load(open(sys.argv[3]))["chunks"][0]
if [p["token"] for p in ours] != gold["tokens"]: sys.exit("scored token ids differ from the peer's")
ppl = math.exp(-sum(p["logprob"] for p in ours) / len(ours))
gppl = math.exp(-sum(gold["logprob"]) / len(gold["logprob"]))
agree = sum(p["top1"] == t for p, t in zip(ours, gold["top1"])) / len(ours)
floor = sum(a == b for a, b in zip(gold["top1"], other["top1"])) / len(gold["top1"])
rel = abs(ppl / gppl - 1)
msg = f"ppl {ppl:.4f} vs peer {gppl:.4f} ({rel*100:.3f} %), top-1 {agree:.4f} (peer with itself {floor:.4f}), {len(ours)} tokens in {sys.argv[4]} s"
if rel >= 0.01 or agree < floor - 0.015: sys.exit(msg)
print(msg)
PY
}

check_greedy() {
    local r="$1" cpu="$2" case_json prompt n
    case_json="$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["cases"][0]; print(json.dumps(c))' "$fixtures/golden/greedy.json")"
    prompt="$(json_get prompt <<<"$case_json")"
    n="$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])["generated_ids"]))' "$case_json")"
    run_to "$work/gen.json" "$r" "$cpu" generate -m "$model" --prompt "$prompt" --max-tokens "$n" --temperature 0 --threads 2 --json || return 1
    python3 - "$work/gen.json" "$case_json" <<'PY'
import json, sys
got = json.load(open(sys.argv[1]))["tokens"]; c = json.loads(sys.argv[2]); want = c["generated_ids"]
p = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
msg = f"'{c['prompt']}': {p}/{len(want)} tokens as llama.cpp"
if p < len(want) and c["margins"][p] >= 0.5: sys.exit(msg + f", diverged where the peer's margin is {c['margins'][p]}")
print(msg)
PY
}

check_serve() {
    local r="$1" port=$((20000 + RANDOM % 20000)) t0 i
    t0=$(date +%s)
    spawn "$r" cortex-a76 serve -m "$model" --host 127.0.0.1 --port "$port" --threads 2 >"$work/serve.log" 2>&1 &
    serve_pid=$!
    for ((i = 0; i < 120; i++)); do
        curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
        kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.log"; return 1; }
        sleep 1
    done
    local health; health="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")"
    [[ "$health" == 200 ]] || { echo "/health: $health"; return 1; }
    local t1; t1=$(date +%s)
    curl -sf "http://127.0.0.1:$port/v1/chat/completions" -H 'Content-Type: application/json' \
        -d '{"messages":[{"role":"user","content":"Say hello."}],"max_tokens":8,"temperature":0}' >"$work/chat.json" \
        || { echo "chat completion failed"; return 1; }
    kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true; serve_pid=""
    python3 - "$work/chat.json" $((t1 - t0)) <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
text = d["choices"][0]["message"]["content"]
if not d["choices"] or d["usage"]["completion_tokens"] < 1: sys.exit(f"empty answer: {d}")
print(f"/health 200 after {sys.argv[2]} s; chat: {text!r} ({d['usage']['completion_tokens']} tokens)")
PY
}

start=$(date +%s)
if [[ -n "$native" ]]; then
    check "native: greedy" check_greedy / native
    check "native: perplexity ctx 512, 1 chunk" check_perplexity / native
    echo "test.sh --native: $pass passed, $fail failed (figures in $report)" | tee -a "$report" >&2
    [[ $fail -eq 0 ]]
    exit
fi
check "package" check_package
check "package: maintainer scripts under dpkg (bookworm chroots)" bash "$root/Cross/deb/install-test.sh" "$deb"
make_root bookworm; bookworm="$root_dir"
check "bookworm: libraries" check_libs "$bookworm"
check "bookworm: ELF needs nothing newer than GLIBC_2.36, no libgpiod" bash -c '
    v=$(readelf -V "$1" | grep -o "GLIBC_2\.[0-9]*" | sort -t. -k2 -n -u | tail -n 1)
    need=$(readelf -d "$1" | sed -n "s/.*(NEEDED).*\[\(.*\)\]/\1/p" | tr "\n" " ")
    [[ "${v#GLIBC_2.}" -le 36 ]] || { echo "needs $v"; exit 1; }
    [[ "$need" != *gpiod* ]] || { echo "links libgpiod: $need"; exit 1; }
    echo "max $v; NEEDED: $need"' _ "$bookworm/usr/bin/gemma-edge"
check "bookworm a72: doctor" check_doctor "$bookworm" cortex-a72 neon
check "bookworm a76: doctor" check_doctor "$bookworm" cortex-a76 neon-dotprod
for b in raspberry-pi-4 raspberry-pi-5 rk3588; do check "bookworm: doctor --sysfs-root $b" check_sysfs "$bookworm" "$b"; done
check "bookworm a72: greedy" check_greedy "$bookworm" cortex-a72
check "bookworm a76: greedy" check_greedy "$bookworm" cortex-a76
check "bookworm a72: perplexity ctx 512, 1 chunk" check_perplexity "$bookworm" cortex-a72
check "bookworm a76: perplexity ctx 512, 1 chunk" check_perplexity "$bookworm" cortex-a76
check "bookworm a76: serve on 127.0.0.1" check_serve "$bookworm"
make_root trixie; trixie="$root_dir"
check "trixie: libraries" check_libs "$trixie"
check "trixie a72: doctor" check_doctor "$trixie" cortex-a72 neon
check "trixie a76: doctor" check_doctor "$trixie" cortex-a76 neon-dotprod
check "trixie a72: greedy" check_greedy "$trixie" cortex-a72
check "bookworm a72: tokenize corpus" check_tokenize "$bookworm"
echo "arm64-test: $pass passed, $fail failed in $(( $(date +%s) - start )) s (figures in $report)" | tee -a "$report" >&2
[[ $fail -eq 0 ]]
