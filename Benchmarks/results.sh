# Sourced by the benchmark scripts: prepend_results FILE puts the Markdown section in FILE at the
# top of Benchmarks/RESULTS.md (newest first), creating the file when missing.
prepend_results() {
  local results
  results="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/RESULTS.md"
  [ -f "$results" ] || printf '# Benchmark results\n\nNewest first. Each section was produced by the command it names, in one run.\n\n' > "$results"
  python3 - "$results" "$1" <<'PY'
import sys
path, new = sys.argv[1], open(sys.argv[2]).read()
text = open(path).read()
head, sep, rest = text.partition("## ")
open(path, "w").write(head + new + ("\n" + sep + rest if sep else ""))
PY
}
