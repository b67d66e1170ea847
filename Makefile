# zkha: the two commands are `make demo` and `make test`; both set up what
# they need first (Debian packages, the vendored C client), so they work on a
# fresh machine.
CARGO ?= cargo

.PHONY: all setup vendor build test demo bench chaos lint check-leaks mutants clean

all: build

## Debian packages (only if missing) and the pinned C client sources.
setup:
	@scripts/setup

## Fetch, verify and generate the vendored C client only.
vendor:
	@vendor/fetch

build: setup
	$(CARGO) build --workspace --all-targets

## Every test of the workspace, against real ZooKeeper servers.
test: setup
	$(CARGO) test --workspace

## The main job, on an embedded ZooKeeper server.
demo: setup
	$(CARGO) run --quiet --bin zkha -- demo --seed

## Benchmarks, side by side with peers in one run: writes BENCHMARKS.md,
## BENCHMARKS.svg and target/bench/results.json (about 15 minutes).
BENCH_VENV := target/bench/venv
bench: setup
	@test -x $(BENCH_VENV)/bin/python || python3 -m venv $(BENCH_VENV)
	@$(BENCH_VENV)/bin/python -c "import kazoo" 2>/dev/null || $(BENCH_VENV)/bin/pip install -q -r bench/py/requirements.txt
	$(CARGO) build --release --bin zkha
	$(CARGO) build --release -p zkha-bench
	target/release/zkha-bench --python $(BENCH_VENV)/bin/python $(BENCH_ARGS)

## 10,000 mixed operations and 50 open/close cycles, then the FFI-heavy test
## binaries, under valgrind: no leak (definite or indirect), no invalid access.
check-leaks:
	@scripts/setup valgrind
	$(CARGO) build --example soak
	valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect \
	  --show-leak-kinds=definite,indirect --error-exitcode=99 \
	  target/debug/examples/soak --ops 10000 --cycles 50
	scripts/valgrind-tests

## Every chaos scenario (ensemble faults, partitions, SIGKILL, SIGSTOP,
## restarts); ends with `chaos: F faults injected, N failovers, K overlapping
## safe masterships` and fails unless K is 0.
chaos: setup
	$(CARGO) build --release --bin zkha
	$(CARGO) run --release --example chaos

## Mutation testing of the safety core (elector, lease, zkha run's supervisor
## and watchdog, the callback/close protocol, validate.rs), each part against
## the suites that guard it; survivors in target/mutants/missed.txt, then
## `mutants: N viable, C caught, M missed (score S%)`. Hours: not in CI.
mutants: setup
	@scripts/mutants

## Formatting and lints, as CI checks them.
lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean
	rm -rf vendor/src vendor/cache
