#!/bin/sh
# Per-operation cost of each client (issue 13, item 3): syscalls, context
# switches and CPU time per get, from `strace -f -c` and `perf stat`, as the
# difference between a run of N ops and a run of 0 ops (connect, create,
# delete, close cancel out), so the figures do not depend on machine load.
#
# usage: bench/probe.sh HOSTS [N (20000)] [WINDOW (1000)]
#   (a server: `target/release/examples/probe server`, prints HOSTS)
# needs: cargo build --release -p zkha-bench --examples; strace; perf.
set -eu
hosts=$1
n=${2:-20000}
window=${3:-1000}
t=${CARGO_TARGET_DIR:-target}/release
probe=$t/examples/probe
raw=$(ls "$t"/build/zkha-bench-*/out/raw_c_bench | head -n1)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cmd() { # client op n
    case $1 in
    raw_c*) echo "$raw $hosts probe $2 $3 $window /probe-$1-$$-$3" ;;
    *) echo "$probe $1 $2 $3 $window $hosts /probe-$1-$$-$3" ;;
    esac
}

# syscall NAME counts of one run (strace -f -c), as "name count" lines
sys() {
    strace -f -c -o "$out/s" $(cmd "$@") >/dev/null
    awk 'NF>=5 && $1 ~ /^[0-9.]+$/ { print $NF, $4 }' "$out/s"
}

# perf stat: context-switches, cpu-migrations, task-clock (as CPU us)
pst() {
    perf stat -x, -e context-switches,cpu-migrations,task-clock -o "$out/p" $(cmd "$@") >/dev/null
    awk -F, '$3 == "task-clock" { print "cpu-us", $1 * 1000; next }
        /context-switches|cpu-migrations/ { print $3, $1 }' "$out/p"
}

per_op() { # file_n file_0: "name per-op" for names in either
    awk -v n="$n" 'NR==FNR { z[$1]=$2; next } { a[$1]=$2 } END {
        for (k in a) printf "%s %.2f\n", k, (a[k] - z[k]) / n }' "$2" "$1" | sort
}

# raw_c_delay: raw C with zoo_set_servers_resolution_delay(zh, 1000)
for c in ${CLIENTS:-raw_c raw_c_delay zkha pure_rust}; do
    for op in get async_get; do
        [ "$c/$op" = pure_rust/async_get ] && continue
        if [ "$c" = raw_c_delay ]; then export RESOLVE_DELAY_MS=1000; else unset RESOLVE_DELAY_MS; fi
        sys "$c" "$op" "$n" >"$out/sn"; sys "$c" "$op" 0 >"$out/s0"
        pst "$c" "$op" "$n" >"$out/pn"; pst "$c" "$op" 0 >"$out/p0"
        echo "== $c $op (per op, N=$n)"
        per_op "$out/sn" "$out/s0" | awk '$2 >= 0.01 || $2 <= -0.01'
        per_op "$out/pn" "$out/p0"
    done
done
