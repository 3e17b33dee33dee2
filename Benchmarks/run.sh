#!/usr/bin/env bash
# A first rough measurement: sockscan against the libmnl C floor, ss and /proc on a generated table.
#
#   Benchmarks/run-rough.sh                       ~100k TCP sockets, 11 rounds, median wall time
#   Benchmarks/run-rough.sh --established 495k --time-wait 4k --rounds 5
#   Benchmarks/run-rough.sh --allocs              also count heap allocations (valgrind) at 10k and the full size
#
# Builds loadgen and floor (gcc -O2, -lmnl) into Benchmarks/.out/, sockscan release in this worktree, makes the
# table in a private namespace (loadgen), then times each command in rotating order, R rounds, wall clock with
# process start included (ip netns exec included for ss and /proc). Prints medians and ratios, peak RSS
# (/usr/bin/time), and writes the report to Benchmarks/.out/rough-<time>.txt. Needs root. Always removes the
# namespace and the workers (trap EXIT).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/Benchmarks/.out
ESTABLISHED=99000
TIME_WAIT=1000
LISTENERS=100
ROUNDS=11
ALLOCS=0
EHASH=0

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --established) ESTABLISHED=$2; shift 2 ;;
        --time-wait) TIME_WAIT=$2; shift 2 ;;
        --listeners) LISTENERS=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --ehash) EHASH=$2; shift 2 ;;
        --allocs) ALLOCS=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 64 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "run-rough: needs root (network namespaces)" >&2; exit 1; }

need=()
command -v gcc >/dev/null || need+=(gcc)
[ -f /usr/include/libmnl/libmnl.h ] || need+=(libmnl-dev)
[ -x /usr/bin/time ] || need+=(time)
command -v ss >/dev/null || need+=(iproute2)
if [ "$ALLOCS" = 1 ] && ! command -v valgrind >/dev/null; then need+=(valgrind); fi
if [ ${#need[@]} -gt 0 ]; then
    echo "run-rough: installing ${need[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi

mkdir -p "$OUT"
make -s -C "$ROOT/Benchmarks/loadgen" OUT="$OUT" >&2
(cd "$ROOT" && swift build -c release --product sockscan >&2)
SOCKSCAN=$ROOT/.build/release/sockscan
LOADGEN=$OUT/loadgen
FLOOR=$OUT/floor

LG_PID=
NAME=
stop_table() {
    if [ -n "$LG_PID" ] && kill -0 "$LG_PID" 2>/dev/null; then
        kill -TERM "$LG_PID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$LG_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$LG_PID" 2>/dev/null || true
        wait "$LG_PID" 2>/dev/null || true
    fi
    LG_PID=
    # loadgen removes its namespace; this covers a loadgen that was killed.
    if [ -n "$NAME" ] && [ -e "/run/netns/$NAME" ]; then ip netns del "$NAME" 2>/dev/null || true; fi
    NAME=
}
trap stop_table EXIT
trap 'exit 130' INT TERM

# start_table NAME ESTABLISHED TIME_WAIT LISTENERS: starts loadgen in the background, waits for its JSON line.
start_table() {
    NAME=$1
    local json=$OUT/loadgen-$1.json
    : >"$json"
    "$LOADGEN" --name "$1" --established "$2" --time-wait "$3" --listeners "$4" --ehash "$EHASH" --hold 1200 \
        >"$json" 2>"$OUT/loadgen-$1.err" &
    LG_PID=$!
    for _ in $(seq 1200); do
        if [ -s "$json" ]; then break; fi
        if ! kill -0 "$LG_PID" 2>/dev/null; then cat "$OUT/loadgen-$1.err" >&2; echo "run-rough: loadgen failed" >&2; exit 1; fi
        sleep 0.1
    done
    [ -s "$json" ] || { echo "run-rough: loadgen did not report within 120 s" >&2; exit 1; }
    TABLE_JSON=$(head -1 "$json")
}

# json_field KEY: the first number after "KEY": in TABLE_JSON.
json_field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$TABLE_JSON"; }

now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }

# cpu_us FILE0 FILE1: user+sys CPU of the shell's children between two `times` outputs, in microseconds.
cpu_us() {
    awk 'function s(x) { split(x, p, "m"); return p[1] * 60 + p[2] }
        FNR == 2 { c[FILENAME == ARGV[1]] = s($1) + s($2) } END { printf "%d", (c[0] - c[1]) * 1e6 }' "$1" "$2"
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

report=$OUT/rough-$(date -u +%Y%m%dT%H%M%SZ).txt
exec > >(tee "$report")

echo "# run-rough: $(date -u +%FT%TZ), kernel $(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# command: Benchmarks/run-rough.sh --established $ESTABLISHED --time-wait $TIME_WAIT --listeners $LISTENERS --rounds $ROUNDS$([ "$EHASH" = 0 ] || echo " --ehash $EHASH")$([ "$ALLOCS" = 0 ] || echo " --allocs")"
echo "# sockscan $(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet HEAD -- Sources CNetlink || echo '+dirty')"

t_build=$(now_us)
start_table "sockscan-bench-$$" "$ESTABLISHED" "$TIME_WAIT" "$LISTENERS"
echo "# table built in $(( ($(now_us) - t_build) / 1000 )) ms (loadgen build_seconds $(json_field build_seconds)): $TABLE_JSON"
tw_expire=$(json_field expire_from)

names=(floor-onepass floor-2req sockscan-count sockscan-count-perFamily "ss -tan|wc -l" "cat /proc/net/tcp{,6}|wc -l"
    sockscan-list-json sockscan-count-proc "ip netns exec true")
cmds=(
    "$FLOOR --netns $NAME --mode onepass"
    "$FLOOR --netns $NAME --mode v2"
    "$SOCKSCAN count -ta --netns $NAME"
    "$SOCKSCAN count -ta --tcp-strategy perFamily --netns $NAME"
    "ip netns exec $NAME ss -tan | wc -l"
    "ip netns exec $NAME cat /proc/net/tcp /proc/net/tcp6 | wc -l"
    "$SOCKSCAN list -ta --format json --netns $NAME"
    "$SOCKSCAN count -ta --proc --netns $NAME"
    "ip netns exec $NAME true"
)
n=${#cmds[@]}

echo "# what each sees (one run):"
for i in 0 1 2 3 4 5; do
    printf '#   %-28s %s\n' "${names[$i]}" "$(eval "${cmds[$i]}" 2>&1 | tr '\n' ' ' | cut -c1-150)"
done

declare -A samples cpu
floor_internal=()
floor2_internal=()
for i in $(seq 0 $((n - 1))); do eval "${cmds[$i]}" >/dev/null 2>&1; done # warm-up
for r in $(seq 1 "$ROUNDS"); do
    for k in $(seq 0 $((n - 1))); do
        i=$(( (k + r) % n )) # rotate the order each round
        times >"$OUT/times0"
        t0=$(now_us)
        if [ "$i" -le 1 ]; then
            eval "${cmds[$i]}" >"$OUT/line"
        else
            eval "${cmds[$i]}" >/dev/null
        fi
        t1=$(now_us)
        times >"$OUT/times1"
        samples[$i]+="$(( t1 - t0 )) "
        cpu[$i]+="$(cpu_us "$OUT/times0" "$OUT/times1") "
        line=$(cat "$OUT/line")
        if [ "$i" -eq 0 ]; then floor_internal+=("$(sed -n 's/.*elapsed_ms=\([0-9.]*\).*/\1/p' <<<"$line")"); fi
        if [ "$i" -eq 1 ]; then floor2_internal+=("$(sed -n 's/.*elapsed_ms=\([0-9.]*\).*/\1/p' <<<"$line")"); fi
    done
done
t_done=$(date +%s.%N)
if [ -n "$tw_expire" ] && awk -v a="$t_done" -v b="$tw_expire" 'BEGIN { exit !(a > b) }'; then
    echo "# warning: the rounds ran past the TIME_WAIT expiry (made at $(json_field from)); later rounds saw fewer sockets"
fi

declare -a med
min0=$(tr ' ' '\n' <<<"${samples[0]}" | grep . | sort -n | head -1)
for i in $(seq 0 $((n - 1))); do
    med[$i]=$(tr ' ' '\n' <<<"${samples[$i]}" | grep . | median)
done
echo
echo "Wall time of $ROUNDS rounds (ms, process start included), $(json_field tcp_inuse) TCP in use + $(json_field tcp_tw) TIME_WAIT;"
echo "cpu = median user+sys CPU of the processes run (less sensitive to other load on the machine)"
printf '%-30s %10s %10s %10s %12s %12s %10s %10s %10s\n' command median min max "x floor-1p" "min x fl-1p" "ss / this" \
    "cpu" "cpu x fl"
cpu0=$(tr ' ' '\n' <<<"${cpu[0]}" | grep . | median)
for i in $(seq 0 $((n - 1))); do
    read -r mn mx < <(tr ' ' '\n' <<<"${samples[$i]}" | grep . | sort -n | awk 'NR==1{a=$1} {b=$1} END{print a, b}')
    c=$(tr ' ' '\n' <<<"${cpu[$i]}" | grep . | median)
    awk -v name="${names[$i]}" -v m="${med[$i]}" -v mn="$mn" -v mx="$mx" -v f="${med[0]}" -v fmin="$min0" \
        -v s="${med[4]}" -v c="$c" -v c0="$cpu0" 'BEGIN { printf "%-30s %10.1f %10.1f %10.1f %12.2f %12.2f %10.2f %10.1f %10.2f\n",
            name, m/1000, mn/1000, mx/1000, m/f, mn/fmin, s/m, c/1000, c/c0 }'
done
printf '%-30s %10.1f\n' "floor-onepass, dump only" "$(printf '%s\n' "${floor_internal[@]}" | median)"
printf '%-30s %10.1f\n' "floor-2req, dump only" "$(printf '%s\n' "${floor2_internal[@]}" | median)"

echo
echo "Peak RSS (KiB, /usr/bin/time -f %M):"
for i in 0 2 3 6 4; do
    cmd=${cmds[$i]}
    case "$cmd" in
        ip\ netns\ exec*) cmd="ip netns exec $NAME /usr/bin/time -f %M -o $OUT/rss ${cmd#ip netns exec $NAME }" ;;
        *) cmd="/usr/bin/time -f %M -o $OUT/rss $cmd" ;;
    esac
    eval "$cmd" >/dev/null 2>&1
    printf '  %-28s %s\n' "${names[$i]}" "$(tail -1 "$OUT/rss")"
done

if [ "$ALLOCS" = 1 ]; then
    # Heap allocations of a whole run (valgrind memcheck's "total heap usage"): the difference between two table
    # sizes, divided by the difference in sockets, is what streaming allocates per socket.
    # Valgrind cannot read the DWARF 5 of a Swift release build ("Possibly corrupted debuginfo"): run a stripped copy.
    strip -o "$OUT/sockscan-stripped" "$SOCKSCAN"
    allocs() {
        local n
        n=$(valgrind --tool=memcheck "$@" 2>&1 >/dev/null |
            sed -n 's/.*total heap usage: \([0-9,]*\) allocs.*/\1/p' | tr -d ,) || true
        [ -n "$n" ] || { echo "run-rough: valgrind failed on: $*" >&2; exit 1; }
        echo "$n"
    }
    echo
    echo "Heap allocations (valgrind memcheck, total heap usage of the process):"
    big_n=$(( $(json_field tcp_inuse) + $(json_field tcp_tw) ))
    big_count=$(allocs "$OUT/sockscan-stripped" count -ta --netns "$NAME")
    big_list=$(allocs "$OUT/sockscan-stripped" list -ta --format json --netns "$NAME")
    stop_table
    start_table "sockscan-bench-$$-small" 9900 100 "$LISTENERS"
    small_n=$(( $(json_field tcp_inuse) + $(json_field tcp_tw) ))
    small_count=$(allocs "$OUT/sockscan-stripped" count -ta --netns "$NAME")
    small_list=$(allocs "$OUT/sockscan-stripped" list -ta --format json --netns "$NAME")
    stop_table
    printf '  %-34s %12s %12s %14s\n' command "allocs@$small_n" "allocs@$big_n" "per socket"
    for row in "count -ta:$small_count:$big_count" "list -ta --format json:$small_list:$big_list"; do
        IFS=: read -r label a b <<<"$row"
        awk -v l="sockscan $label" -v a="$a" -v b="$b" -v na="$small_n" -v nb="$big_n" \
            'BEGIN { printf "  %-34s %12d %12d %14.4f\n", l, a, b, (b-a)/(nb-na) }'
    done
fi
echo
echo "# report: $report"
