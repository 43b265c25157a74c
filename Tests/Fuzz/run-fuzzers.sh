#!/usr/bin/env bash
# Builds the libFuzzer binary (address sanitizer, coverage) and runs each fuzz target for a
# bounded time.
#
#   Tests/Fuzz/run-fuzzers.sh SECONDS [target...]     (default: every target)
#
# Targets: gguf tokenizer png request snapshot sensors grammar (Tests/Fuzz/Targets, README.md there).
# Each target starts from its committed seeds (Tests/Fuzz/corpus/<target>) plus what earlier runs
# found (.build-fuzz/corpus/<target>, not committed), with its dictionary (Tests/Fuzz/dict).
# A crash, leak, sanitizer report or violated property stops that target; its input is saved
# under .build-fuzz/findings/<target>/ and the script exits 1 after running the others.
#
# Environment:
#   SWIFT             the swift driver (default: swift)
#   FUZZ_NICE         niceness of the fuzzer processes (default: 0)
#   FUZZ_SKIP_BUILD   1 to use the binary already built
#   FUZZ_RSS_MB       libFuzzer's -rss_limit_mb (default: 2048)
#   FUZZ_FLAGS        extra libFuzzer flags
#   GEMMA_FUZZ_VOCAB  tokenizer vocabulary: real (the Gemma 3 270M in the model cache), tiny, or
#                     auto (real when the model is present; the default)
set -euo pipefail

cd "$(dirname "$0")/../.."
root=$(pwd)
all_targets=(gguf tokenizer png request snapshot sensors grammar)

if [[ $# -lt 1 || ! $1 =~ ^[0-9]+$ ]]; then
    echo "usage: $0 SECONDS [target...]   (targets: ${all_targets[*]})" >&2
    exit 2
fi
seconds=$1
shift
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
    [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "unknown target: $t (targets: ${all_targets[*]})" >&2; exit 2; }
done

scratch="$root/.build-fuzz"
binary="$scratch/debug/gemma-edge-fuzz"
if [[ ${FUZZ_SKIP_BUILD:-0} != 1 ]]; then
    echo "== building gemma-edge-fuzz (libFuzzer + AddressSanitizer) in .build-fuzz"
    start=$(date +%s)
    # The debug configuration optimised with -O: the release settings use -Ounchecked, which
    # would remove the overflow and bounds traps the fuzzers rely on, and plain debug code runs
    # 2 to 4 times fewer inputs a second. lld links (gold fails on this input);
    # LLVMFuzzerRunDriver is exported so the driver can find it (see Driver/LibFuzzerEntry.swift).
    "${SWIFT:-swift}" build --scratch-path "$scratch" --product gemma-edge-fuzz \
        -Xswiftc -O -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -use-ld=lld \
        -Xlinker --export-dynamic-symbol=LLVMFuzzerRunDriver \
        -Xcc -O2 -Xcc -fsanitize=fuzzer-no-link,address -Xcxx -O2 -Xcxx -fsanitize=fuzzer-no-link,address
    echo "== built in $(( $(date +%s) - start )) s"
fi

failed=()
summary=()
for t in "${targets[@]}"; do
    work="$scratch/corpus/$t"
    findings="$scratch/findings/$t"
    log="$scratch/logs/$t.log"
    mkdir -p "$work" "$findings" "$(dirname "$log")"
    flags=(-max_total_time="$seconds" -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -timeout=25 -print_final_stats=1
           -artifact_prefix="$findings/")
    [[ -f Tests/Fuzz/dict/$t.dict ]] && flags+=(-dict="Tests/Fuzz/dict/$t.dict")
    # shellcheck disable=SC2206
    flags+=(${FUZZ_FLAGS:-})
    echo "== $t: ${seconds} s"
    set +e
    SWIFT_BACKTRACE=enable=no GEMMA_FUZZ_TARGET=$t nice -n "${FUZZ_NICE:-0}" "$binary" "${flags[@]}" "$work" "Tests/Fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$done_line")
    line="$t: ${execs:-?} executions, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}"
    if [[ $rc -ne 0 ]]; then
        line+=" -- FAILED (exit $rc), log .build-fuzz/logs/$t.log, inputs in .build-fuzz/findings/$t/"
        failed+=("$t")
        grep -E 'ERROR|SUMMARY|gemma-edge-fuzz:|Fatal error|deadly signal|Test unit written' "$log" | head -20 >&2 || true
    else
        line+=", no crash"
    fi
    echo "$line"
    summary+=("$line")
done

echo "== summary (${seconds} s per target)"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzzing found problems in: ${failed[*]}" >&2
    exit 1
fi
