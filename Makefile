# GemmaEdge: the two commands of the README, and the steps they are made of.
#   make run    generate text with the real Gemma 3 270M (installs what is missing first)
#   make test   the whole test suite: Swift tests (tiny synthetic models + the real 270M) and the
#               ARM kernels cross-built and run under qemu (Cortex-A72 and Cortex-A76), every fuzz
#               target for FUZZ_SECONDS each (Tests/Fuzz/README.md), the allocation thresholds
#               of the package-benchmark suites in Benchmarks/, and last the whole runtime built
#               for AArch64 and packaged, then run under qemu (make arm64-test; needs root)

SWIFT      ?= swift
FUZZ_SECONDS ?= 20
PROMPT     ?= The three most useful things to know about a Raspberry Pi are
MAX_TOKENS ?= 96
RUN_FLAGS  ?= --temperature 0.7 --seed 42 --verbose

.PHONY: run test deps model build golden bench benchmarks bench-check arm-test arm64 arm64-test deb fuzz-smoke clean

run: deps model build
	.build/release/gemma-edge generate -m "$$(scripts/fetch-model.sh)" --prompt "$(PROMPT)" --max-tokens $(MAX_TOKENS) $(RUN_FLAGS)

test: deps model arm-test
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	$(MAKE) fuzz-smoke
	$(MAKE) bench-check
	$(MAKE) arm64-test

deps:
	@scripts/deps.sh

model:
	@scripts/fetch-model.sh >/dev/null

build:
	$(SWIFT) build -c release --product gemma-edge

arm-test:
	bash Cross/run-arm-kernel-tests.sh

# The whole runtime for AArch64 from Debian's packages (sid's Swift 6.2, a bookworm arm64 sysroot),
# packed as Cross/out/gemma-edge_<version>_arm64.deb; cached in ~/.cache/gemma-edge/cross (Cross/README.md).
arm64: deps
	bash Cross/arm64/build.sh

# That package under qemu (Cortex-A72 and A76) on plain bookworm and trixie arm64 roots, and its
# maintainer scripts under dpkg in bookworm chroots; the last step of `make test` (cold: about
# 1.2 GB from Debian's archive and the release cross build; timings in Cross/README.md).
arm64-test: arm64 model
	bash Cross/arm64/test.sh

# The same package for amd64, built natively with the installed Swift.
deb: deps
	$(SWIFT) build -c release --product gemma-edge --static-swift-stdlib
	bash Cross/deb/package.sh amd64 "$$($(SWIFT) build -c release --static-swift-stdlib --show-bin-path)/gemma-edge" Cross/out

# Every fuzz target for a short time (libFuzzer + AddressSanitizer, built in .build-fuzz), so a
# regression in a parser of untrusted bytes shows up in CI.
fuzz-smoke:
	SWIFT=$(SWIFT) bash Tests/Fuzz/run-fuzzers.sh $(FUZZ_SECONDS)

# Re-record the golden fixtures from llama.cpp (builds the peer once, ~8 minutes).
golden: deps model
	@scripts/deps.sh --peer
	bash Benchmarks/peer/record-golden.sh

# Side-by-side speed against llama.cpp, written to Benchmarks/RESULTS.md.
bench: deps model build
	@scripts/deps.sh --peer
	bash Benchmarks/compare.sh

# package-benchmark suites (Benchmarks/Package.swift): kernels at the 270M's shapes and decode on
# the real model. `bench-check` holds the committed Thresholds/ (no allocation per kernel call or
# decoded token); `benchmarks` prints every suite's timings.
bench-check: model
	cd Benchmarks && $(SWIFT) package benchmark thresholds check --filter 'allocations-.*' --no-progress

benchmarks: model
	cd Benchmarks && $(SWIFT) package benchmark --no-progress

clean:
	rm -rf .build .build-fuzz Benchmarks/.build Cross/out
