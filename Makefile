# zkha: the two commands are `make demo` and `make test`; both set up what
# they need first (Debian packages, the vendored C client), so they work on a
# fresh machine.
CARGO ?= cargo
# The optional features the tests exercise on top of the defaults: TLS and
# SASL sessions (zk-sys builds its C client with OpenSSL and Cyrus SASL;
# `make setup` installs libssl-dev, libsasl2-dev, libsasl2-modules).
TEST_FEATURES ?= ssl,sasl

.PHONY: all setup vendor build test lean-check demo bench bench-quick bench-build chaos lint check-leaks mutants package package-check clean

all: build

## Debian packages (only if missing) and the pinned C client sources.
setup:
	@scripts/setup

## Fetch, verify and generate the C client, and assemble the bundle zk-sys
## builds from and packages (zk-sys/zookeeper/, with pre-generated bindings).
vendor:
	@vendor/fetch

build: setup
	$(CARGO) build --workspace --all-targets

## Every test of the workspace, against real ZooKeeper servers (with
## $(TEST_FEATURES): the TLS-only and SASL-only servers' tests too), then the
## lean-build check and the packaged crates built and run as a Rust user would (package-check).
## The README's production example test needs curl and python3 (its health
## check, its stand-in service).
test: setup
	@scripts/setup curl python3
	$(CARGO) test --workspace --features $(TEST_FEATURES)
	@scripts/lean-check
	@$(MAKE) --no-print-directory package-check

## The .crate files of zk-sys (the C client bundled) and zkha, in
## target/package/; `cargo package` also builds each unpacked crate.
package: setup
	@scripts/package

## The .crate files alone, in a scratch workspace outside the repository
## (no vendor/, ZK_SYS_VENDOR_DIR unset): build a dependent with
## `default-features = false`, run it against a real server (the design's
## ephemeral master node), and check the build is lean (no CLI or test-kit
## crates in `cargo tree -e normal`, no C++ compiled). Records in
## target/package-check/.
package-check: package
	@scripts/package-check

## A crate using zkha as a library (default-features = false), built in a
## scratch directory: no clap, env_logger, serde_json or zkha-testing in its
## `cargo tree -e normal`, no C++ in its build (plus a control that must be
## caught: the same with the cli feature).
lean-check: setup
	@scripts/lean-check

## The main job, on an embedded ZooKeeper server.
demo: setup
	$(CARGO) run --quiet --bin zkha -- demo --seed

## Benchmarks, side by side with peers in one run: writes BENCHMARKS.md,
## BENCHMARKS.svg, BENCHMARKS-scale.svg and target/bench/results.json (about
## 30 minutes). Five rounds alternate the raw-C handover floor and every peer
## (failover) and every client (throughput); ratios are per round, median and
## min-max. Then 10, 50 and 200 candidates in watch, sequence and seed mode.
BENCH_VENV := target/bench/venv
bench: setup bench-build
	target/release/zkha-bench --python $(BENCH_VENV)/bin/python $(BENCH_ARGS)

## The same tables from fewer samples, for a quick look after a change
## (under 3 minutes once built). Writes only into target/bench-quick/
## (BENCHMARKS.md, BENCHMARKS.svg, results.json), never the repository's
## BENCHMARKS.md: that page is the full run's.
bench-quick: setup bench-build
	target/release/zkha-bench --quick --python $(BENCH_VENV)/bin/python $(BENCH_ARGS)

bench-build:
	@test -x $(BENCH_VENV)/bin/python || python3 -m venv $(BENCH_VENV)
	@$(BENCH_VENV)/bin/python -c "import kazoo" 2>/dev/null || $(BENCH_VENV)/bin/pip install -q -r bench/py/requirements.txt
	$(CARGO) build --release --bin zkha
	$(CARGO) build --release -p zkha-bench

## 10,000 mixed operations and 50 open/close cycles, then the FFI-heavy test
## binaries, under valgrind: no leak (definite or indirect), no invalid access.
check-leaks:
	@scripts/setup valgrind
	$(CARGO) build --example leak_soak
	valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect \
	  --show-leak-kinds=definite,indirect --error-exitcode=99 \
	  target/debug/examples/leak_soak --ops 10000 --cycles 50
	scripts/valgrind-tests

## Every chaos scenario (SIGKILL and SIGSTOP of `zkha run`, SIGKILL over mutual TLS, client-link and
## member partitions, ensemble faults, restarts), then the families of
## commands and surroundings (a child in its own session, a daemonizing
## command, job control, a stalled and a broken stderr, the watchdog killed,
## a slow stop in a planned handover, the node deleted from outside), and
## `zkha switchover --to <standby>` under faults (three named candidates;
## the next master must be the target, another only after the switchover's
## timeout when the target was faulted), with
## `zkha run` candidates supervising the chaos_worker command, judged by
## their traces and by the commands' own files (every process of a
## command's tree); a line per scenario and family with its faults, then
## `chaos: F faults injected, N failovers, K overlapping safe masterships;
## switchover: F faults, S switchovers, T to target, E after timeout, W
## wrong winners`; fails unless K and W are 0 and every scenario did its
## part (faults injected, takeovers made). CHAOS_ROUNDS scales it: the
## default 10 injects over 400 faults (20 per family) in about 20 minutes
## (the switchover family: 20 rounds, under 2 minutes); CHAOS_ONLY=<text>
## runs only the scenarios whose name contains the text (CHAOS_ONLY=stderr,
## CHAOS_ONLY=switchover, say).
## The harness is the workspace crate chaos/ (zkha-chaos, not published): its
## binaries chaos (the runner) and chaos_worker, built beside zkha in
## target/release/, where the runner finds them.
CHAOS_ROUNDS ?= 10
CHAOS_ONLY ?=
chaos: setup
	$(CARGO) build --release --features $(TEST_FEATURES) -p zkha-cli -p zkha-chaos --bins
	CHAOS_ROUNDS=$(CHAOS_ROUNDS) CHAOS_ONLY='$(CHAOS_ONLY)' target/release/chaos

## Mutation testing of the safety core (elector, lease, zkha run's supervisor
## and watchdog, the callback/close protocol, validate.rs), each part against
## the suites that guard it; survivors in target/mutants/missed.txt, then
## `mutants: N viable, C caught, M missed (score S%)`. Hours: not in CI.
mutants: setup
	@scripts/mutants

## Formatting and lints, as CI checks them: the default build and the one
## `make test` runs (with $(TEST_FEATURES)); docs/cli.md regenerated from
## the binary's --help and compared (scripts/cli-reference).
lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --workspace --all-targets --features $(TEST_FEATURES) -- -D warnings
	@scripts/cli-reference --check

clean:
	$(CARGO) clean
	rm -rf vendor/src vendor/cache zk-sys/zookeeper
