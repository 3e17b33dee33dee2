#!/usr/bin/env bash
# The comparison benchmark: sockscan against the libmnl C floor, ss, netstat, /proc and psutil on generated tables.
#
#   Benchmarks/run.sh --quick          10k and 100k sockets, 3 mixes, up to 5 rounds       (about 5 minutes)
#   Benchmarks/run.sh --full           10k, 100k and 500k sockets, 3 mixes, up to 7 rounds  (about 15 minutes)
#   Benchmarks/run.sh --sizes 100k --mixes est --rounds 11      one table, more rounds
#   Benchmarks/run.sh --sizes none --startup none                the connection-churn tables alone (about 2 minutes)
#   options: --ehash N (private hash buckets; 0 = the host's shared hash)  --no-shared (skip the shared-hash table)
#            --allocs (heap allocations of whole sockscan runs under valgrind, 10k vs the largest size)
#            --startup SIZES (start-up tables, default 0,1k,10k; "none" to skip)  --startup-rounds N (default 15)
#            --churn-rates RATES (connections/s for the `sockscan events` table, default 1k,5k,10k; "none" to skip)
#            --churn-destinations COUNTS (destinations for the `sockscan churn` table, default 1,100,1k,10k,15k; "none")
#            --churn-seconds S (each churn run's window, default 10)
#
# For each size N and mix (est: 98% established, 1% TIME_WAIT; tw20: 20% TIME_WAIT; tw90: 90% TIME_WAIT; all with
# N/500 listeners and a tenth of the established sockets over IPv6), loadgen builds a fresh table in a private
# namespace with a private established hash of the host's size (reproducible: other namespaces' sockets are not
# in it). TIME_WAIT sockets expire 60 s after they are made, so the tw20 and tw90 tables are measured inside that
# window: rounds stop before the first TIME_WAIT socket expires (at least one round is always run; the report says
# when the window was missed). The est tables (1% TIME_WAIT) run all their rounds. Each round runs every command
# once in a rotated order; wall time includes process start (and `ip netns exec` for ss, netstat, cat and psutil;
# its own cost is a row). CPU = user+sys of the processes run, which other load on the machine disturbs less. Then peak RSS (/usr/bin/time -f %M, once each), and for
# the est mix the kernel's share (floor --repeat: full dump, a walk where no state matches, an empty namespace).
# Then connection churn (churngen: loopback connections at a steady rate, client closes first): the CPU of
# `sockscan events` per rate, and the peak RSS of `sockscan churn` per number of destinations.
# One more table (est, largest size) uses the host's shared hash. Needs root. Reports: Benchmarks/.out/run-TIME/
# (report.md with the tables, results.tsv). Cleans up namespaces and workers on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/Benchmarks/.out
MODE=quick
SIZES=
MIXES=
ROUNDS=
ALLOCS=0
SHARED=1
STARTUP_SIZES=0,1k,10k
STARTUP_ROUNDS=15
CHURN_RATES=1k,5k,10k
CHURN_DESTINATIONS=1,100,1k,10k,15k
CHURN_SECONDS=10
EHASH=$(sysctl -n net.ipv4.tcp_ehash_entries 2>/dev/null || echo 262144)
EHASH=${EHASH#-} # negative when the host's table is per-namespace already

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) MODE=quick; shift ;;
        --full) MODE=full; shift ;;
        --sizes) SIZES=$2; shift 2 ;;
        --mixes) MIXES=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --ehash) EHASH=$2; shift 2 ;;
        --no-shared) SHARED=0; shift ;;
        --allocs) ALLOCS=1; shift ;;
        --startup) STARTUP_SIZES=$2; shift 2 ;;
        --startup-rounds) STARTUP_ROUNDS=$2; shift 2 ;;
        --churn-rates) CHURN_RATES=$2; shift 2 ;;
        --churn-destinations) CHURN_DESTINATIONS=$2; shift 2 ;;
        --churn-seconds) CHURN_SECONDS=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 64 ;;
    esac
done
if [ "$MODE" = full ]; then
    : "${SIZES:=10k,100k,500k}" "${ROUNDS:=7}"
else
    : "${SIZES:=10k,100k}" "${ROUNDS:=5}"
fi
: "${MIXES:=est,tw20,tw90}"
[ "$(id -u)" -eq 0 ] || { echo "run.sh: needs root (network namespaces)" >&2; exit 1; }

# --- tools ---------------------------------------------------------------------------------------------------
need=()
command -v gcc >/dev/null || need+=(gcc)
[ -f /usr/include/libmnl/libmnl.h ] || need+=(libmnl-dev)
[ -x /usr/bin/time ] || need+=(time)
command -v ss >/dev/null || need+=(iproute2)
command -v netstat >/dev/null || need+=(net-tools)
if [ "$ALLOCS" = 1 ] && ! command -v valgrind >/dev/null; then need+=(valgrind); fi
if [ ${#need[@]} -gt 0 ]; then
    echo "run.sh: installing ${need[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi
# psutil where installable; the real interpreter, not a pyenv shim (a shell script that costs ~50 ms a start).
PYTHON=$(command -v python3 >/dev/null && python3 -c 'import sys; print(sys.executable)' 2>/dev/null || true)
if [ -n "$PYTHON" ] && ! "$PYTHON" -c 'import psutil' 2>/dev/null; then
    "$PYTHON" -m pip install -q psutil >&2 2>/dev/null || echo "run.sh: psutil not installable: skipped" >&2
fi
if [ -n "$PYTHON" ] && ! "$PYTHON" -c 'import psutil' 2>/dev/null; then PYTHON=; fi

# perf, where it works (Debian's linux-perf; this kernel may lack hardware counters, cpu-clock sampling suffices).
PERF=0
if command -v perf >/dev/null && perf record -q -e cpu-clock -o /dev/null -- true >/dev/null 2>&1; then PERF=1; fi

mkdir -p "$OUT"
make -s -C "$ROOT/Benchmarks/loadgen" OUT="$OUT" >&2
# The release build that ships (the Makefile's RELEASE_FLAGS: the Swift runtime linked in).
make -s -C "$ROOT" --no-print-directory build >&2
SOCKSCAN=$ROOT/.build-static/release/sockscan
LOADGEN=$OUT/loadgen
FLOOR=$OUT/floor
CHURNGEN=$OUT/churngen

RUN=$OUT/run-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RUN"
TSV=$RUN/results.tsv
REPORT=$RUN/report.md

# --- the table -----------------------------------------------------------------------------------------------
LG_PID=
NAME=
NB_PID=
# The churn runs' sockscan (in the background) and namespace.
CHURN_PID=
CHURN_NS=
# stop_process PID: SIGTERM, up to 10 s to exit, then SIGKILL; reaps it. Nothing for an empty PID.
stop_process() {
    [ -n "$1" ] || return 0
    if kill -0 "$1" 2>/dev/null; then
        kill -TERM "$1" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$1" 2>/dev/null || true
    fi
    wait "$1" 2>/dev/null || true
}
# remove_netns NAME: deletes the namespace if it is there (what a killed process left behind).
remove_netns() { if [ -n "$1" ] && [ -e "/run/netns/$1" ]; then ip netns del "$1" 2>/dev/null || true; fi; }
stop_neighbour() {
    stop_process "$NB_PID"
    NB_PID=
    remove_netns "sockscan-neighbour-$$"
}
stop_churn() {
    # CHURN_PID is /usr/bin/time's: its child, sockscan, first (time dies on SIGTERM and would orphan it).
    if [ -n "$CHURN_PID" ]; then pkill -TERM -P "$CHURN_PID" 2>/dev/null || true; fi
    stop_process "$CHURN_PID"
    CHURN_PID=
    remove_netns "$CHURN_NS"
    CHURN_NS=
}
stop_table() {
    stop_neighbour
    stop_process "$LG_PID"
    LG_PID=
    # loadgen removes its namespace; this covers a loadgen that was killed.
    remove_netns "$NAME"
    NAME=
    stop_churn
}
trap stop_table EXIT
trap 'exit 130' INT TERM

# start_table NAME EHASH LOADGEN-ARGS...: starts loadgen in the background and waits for its JSON line.
start_table() {
    NAME=$1
    local ehash=$2 json=$RUN/loadgen-$1.json
    shift 2
    : >"$json"
    "$LOADGEN" --name "$NAME" --ehash "$ehash" --hold 1200 "$@" >"$json" 2>"$RUN/loadgen-$NAME.err" &
    LG_PID=$!
    for _ in $(seq 3000); do
        if [ -s "$json" ]; then break; fi
        if ! kill -0 "$LG_PID" 2>/dev/null; then cat "$RUN/loadgen-$NAME.err" >&2; echo "run.sh: loadgen failed" >&2; exit 1; fi
        sleep 0.1
    done
    [ -s "$json" ] || { echo "run.sh: loadgen did not report within 300 s" >&2; exit 1; }
    TABLE_JSON=$(head -1 "$json")
}

# json_field KEY: the first number after "KEY": in TABLE_JSON.
json_field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$TABLE_JSON"; }

# count N: 10k -> 10000, 1.5m -> 1500000.
count() { awk -v s="$1" 'BEGIN { m = 1; if (s ~ /[kK]$/) m = 1000; if (s ~ /[mM]$/) m = 1000000; sub(/[kKmM]$/, "", s); printf "%d", s * m }'; }

now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }

# cpu_us FILE0 FILE1: user+sys CPU of the shell's children between two `times` outputs, in microseconds.
cpu_us() {
    awk 'function s(x) { split(x, p, "m"); return p[1] * 60 + p[2] }
        FNR == 2 { c[FILENAME == ARGV[1]] = s($1) + s($2) } END { printf "%d", (c[0] - c[1]) * 1e6 }' "$1" "$2"
}

# kmin FLOOR-ARGS: the fastest of 5 in-process dumps of the current table: "wall ms / CPU ms" (minimum of each).
kmin() {
    "$FLOOR" --netns "$NAME" "$@" --repeat 5 | sed -n 's/.*elapsed_ms=\([0-9.]*\) cpu_ms=\([0-9.]*\).*/\1 \2/p' |
        awk 'NR == 1 || $1 < w { w = $1 } NR == 1 || $2 < c { c = $2 } END { printf "%.1f / %.1f", w, c }'
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print 0; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# --- the commands --------------------------------------------------------------------------------------------
# name | command (@NS@ is replaced by the namespace) | what the RSS run measures ("" = the command itself, "-" none)
# | slow: how many rounds at most (0 = every round)
PORT_FILTER='dport = :443'
RANGE_FILTER='sport >= :60000 and sport <= :65535'
define_commands() {
    local slow_psutil=0 slow_netstat=0
    if [ "$1" -ge 400000 ]; then slow_psutil=1; slow_netstat=2; fi
    names=() cmds=() rss_cmds=() slow=()
    add() { names+=("$1"); cmds+=("$2"); rss_cmds+=("$3"); slow+=("$4"); }
    add "floor, one legacy pass" "$FLOOR --netns @NS@ --mode onepass" "" 0
    add "floor, two v2 requests" "$FLOOR --netns @NS@ --mode v2" "" 0
    add "sockscan count -ta" "$SOCKSCAN count -ta --netns @NS@" "" 0
    add "sockscan count -t state time-wait" "$SOCKSCAN count -t state time-wait --netns @NS@" "" 0
    add "sockscan count -ta '$PORT_FILTER'" "$SOCKSCAN count -ta --netns @NS@ '$PORT_FILTER'" "" 0
    add "sockscan count -ta '$RANGE_FILTER'" "$SOCKSCAN count -ta --netns @NS@ '$RANGE_FILTER'" "" 0
    add "sockscan list -ta --format json >/dev/null" "$SOCKSCAN list -ta --format json --netns @NS@ >/dev/null" "" 0
    add "sockscan list -ta --format json | wc -l" "$SOCKSCAN list -ta --format json --netns @NS@ | wc -l" "-" 0
    add "sockscan count -ta --proc" "$SOCKSCAN count -ta --proc --netns @NS@" "" 0
    add "ss -tan | wc -l" "ip netns exec @NS@ ss -tan | wc -l" "ss -tan" 0
    add "ss -tan state time-wait | wc -l" "ip netns exec @NS@ ss -tan state time-wait | wc -l" "ss -tan state time-wait" 0
    add "ss -tan '$PORT_FILTER' | wc -l" "ip netns exec @NS@ ss -tan '$PORT_FILTER' | wc -l" "-" 0
    add "ss -tan '$RANGE_FILTER' | wc -l" "ip netns exec @NS@ ss -tan '$RANGE_FILTER' | wc -l" "-" 0
    add "netstat -tan | wc -l" "ip netns exec @NS@ netstat -tan | wc -l" "netstat -tan" "$slow_netstat"
    add "cat /proc/net/tcp{,6} | wc -l" "ip netns exec @NS@ cat /proc/net/tcp /proc/net/tcp6 | wc -l" "cat /proc/net/tcp /proc/net/tcp6" 0
    if [ -n "$PYTHON" ]; then
        add "python psutil.net_connections('tcp')" \
            "ip netns exec @NS@ $PYTHON -c \"import psutil; print(len(psutil.net_connections('tcp')))\"" "" "$slow_psutil"
    fi
    add "ip netns exec NAME true (overhead)" "ip netns exec @NS@ true" "-" 0
    # After the indexed rows: the TIME_WAIT-only floor (the kernel filter sockscan's state time-wait sends) and
    # the cost of starting at all.
    add "floor, one legacy pass, state time-wait" "$FLOOR --netns @NS@ --mode onepass --states 0x40" "" 0
    add "sockscan --version" "$SOCKSCAN --version" "" 0
}
# Row indices used for ratios (the rows after I_SSRANGE are found by name).
I_FLOOR1=0 I_FLOOR2=1 I_COUNT=2 I_TW=3 I_PORT=4 I_RANGE=5 I_LIST=6 I_SS=9 I_SSTW=10 I_SSPORT=11 I_SSRANGE=12

# measure_table LABEL N: rounds, RSS and (optionally) the kernel's share on the table loadgen holds.
measure_table() {
    local label=$1 n=$2
    define_commands "$n"
    local count=${#cmds[@]} i k r
    local -a samples cpu seen
    for i in $(seq 0 $((count - 1))); do samples[$i]=""; cpu[$i]=""; seen[$i]=""; done
    local expire deadline
    expire=$(json_field expire_from)
    deadline=0
    if [ -n "$expire" ] && [ "${WINDOW:-1}" = 1 ]; then deadline=$(awk -v e="$expire" 'BEGIN { printf "%.0f", (e - 2) * 1e6 }'); fi
    # Warm-up: binaries and libraries into the page cache.
    eval "${cmds[$I_FLOOR1]//@NS@/$NAME}" >/dev/null 2>&1
    eval "${cmds[$I_COUNT]//@NS@/$NAME}" >/dev/null 2>&1
    eval "${cmds[$I_SS]//@NS@/$NAME}" >/dev/null 2>&1
    local rounds=0 t_round0 last_round=0 missed=0
    for r in $(seq 1 "$ROUNDS"); do
        t_round0=$(now_us)
        if [ "$deadline" -gt 0 ] && [ "$r" -gt 1 ] && [ $((t_round0 + last_round)) -gt "$deadline" ]; then break; fi
        # Rotate the order each round; the slow commands (limited rounds) come last, so that the others are
        # measured early in the TIME_WAIT window.
        local order=()
        for k in $(seq 0 $((count - 1))); do i=$(( (k + r) % count )); [ "${slow[$i]}" -eq 0 ] && order+=("$i"); done
        for k in $(seq 0 $((count - 1))); do i=$(( (k + r) % count )); [ "${slow[$i]}" -gt 0 ] && order+=("$i"); done
        for i in "${order[@]}"; do
            if [ "${slow[$i]}" -gt 0 ] && [ "$r" -gt "${slow[$i]}" ]; then continue; fi
            local cmd=${cmds[$i]//@NS@/$NAME} t0 t1
            times >"$RUN/times0"
            t0=$(now_us)
            eval "$cmd" >"$RUN/line" 2>"$RUN/err" || { echo "run.sh: failed: $cmd" >&2; cat "$RUN/err" >&2; exit 1; }
            t1=$(now_us)
            times >"$RUN/times1"
            samples[$i]+="$(( t1 - t0 )) "
            cpu[$i]+="$(cpu_us "$RUN/times0" "$RUN/times1") "
            if [ "$r" -eq 1 ]; then
                seen[$i]=$(sed -n 's/.*total[= ] *\([0-9]*\).*/\1/p' "$RUN/line" | tail -1)
                [ -n "${seen[$i]}" ] || seen[$i]=$(tail -1 "$RUN/line" | tr -d ' ')
            fi
        done
        rounds=$r
        last_round=$(( $(now_us) - t_round0 ))
    done
    if [ "$deadline" -gt 0 ] && [ "$(now_us)" -gt "$deadline" ]; then missed=1; fi
    local window=""
    if [ -n "$expire" ]; then
        window=$(awk -v e="$expire" -v t="$(now_us)" 'BEGIN { printf "%.0f", e - t / 1e6 }')
    fi

    # Peak RSS, once each (KiB), after the rounds (at 500k possibly past the TIME_WAIT window: fewer sockets).
    local -a rss
    for i in $(seq 0 $((count - 1))); do
        rss[$i]=""
        local rc=${rss_cmds[$i]}
        [ "$rc" = "-" ] && continue
        if [ -z "$rc" ]; then
            rc=${cmds[$i]//@NS@/$NAME}
            case "$rc" in
                ip\ netns\ exec*) rc="ip netns exec $NAME /usr/bin/time -f %M -o $RUN/rss ${rc#ip netns exec $NAME }" ;;
                *) rc="/usr/bin/time -f %M -o $RUN/rss $rc" ;;
            esac
        else
            rc="ip netns exec $NAME /usr/bin/time -f %M -o $RUN/rss $rc"
        fi
        if eval "$rc" >/dev/null 2>&1; then rss[$i]=$(tail -1 "$RUN/rss"); fi
    done

    # Kernel share (est mix): in-process dumps, no process start. states 0x800 (CLOSING) matches no socket here:
    # the kernel walks every socket and builds no message.
    local k_full="" k_walk="" k_2req=""
    if [ "${KERNEL_SHARE:-0}" = 1 ]; then
        k_full=$(kmin --mode onepass)
        k_walk=$(kmin --mode onepass --states 0x800)
        k_2req=$(kmin --mode v2)
        # Where the kernel spends a one-pass dump (software clock sampling: no hardware counters needed).
        if [ "$PERF" = 1 ]; then
            perf record -q -e cpu-clock -F 5000 -o "$RUN/perf.data" -- "$FLOOR" --netns "$NAME" --repeat 5 >/dev/null 2>&1 &&
                perf report -i "$RUN/perf.data" --no-children --sort symbol --stdio 2>/dev/null |
                awk '/^ *[0-9.]+%/ && n < 10 { printf "%s%s %s", (n ? ", " : ""), $3, $1; n++ } END { print "" }' >"$RUN/perf.txt" ||
                : >"$RUN/perf.txt"
        fi
    fi

    # Results: one TSV line per command.
    local f1 f2 ss c1
    f1=$(tr ' ' '\n' <<<"${samples[$I_FLOOR1]}" | grep . | median)
    f2=$(tr ' ' '\n' <<<"${samples[$I_FLOOR2]}" | grep . | median)
    ss=$(tr ' ' '\n' <<<"${samples[$I_SS]}" | grep . | median)
    c1=$(tr ' ' '\n' <<<"${cpu[$I_FLOOR1]}" | grep . | median)
    for i in $(seq 0 $((count - 1))); do
        local med mn mx c nrun
        med=$(tr ' ' '\n' <<<"${samples[$i]}" | grep . | median)
        read -r mn mx nrun < <(tr ' ' '\n' <<<"${samples[$i]}" | grep . | sort -n | awk 'NR==1{a=$1} {b=$1} END{print a, b, NR}')
        c=$(tr ' ' '\n' <<<"${cpu[$i]}" | grep . | median)
        printf '%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$n" "${names[$i]}" "$nrun" \
            "$med" "$mn" "$mx" "$c" "$f1" "$f2" "$ss" "$c1" "${rss[$i]}" "${seen[$i]}" >>"$TSV"
    done
    {
        echo
        echo "### $label: $(json_field tcp_inuse) IPv4 + $(json_field tcp6_inuse) IPv6 TCP in use, $(json_field tcp_tw) TIME_WAIT"
        echo
        if [ "${WINDOW:-1}" = 1 ]; then
            echo "Built in $(json_field build_seconds) s; $rounds rounds$( [ -n "$window" ] && echo ", ending ${window} s before the first TIME_WAIT socket expired")$( [ "$missed" = 1 ] && echo " — **window missed: later samples saw fewer TIME_WAIT sockets**"). Load average after: $(cut -d' ' -f1-3 /proc/loadavg)."
        else
            echo "Built in $(json_field build_seconds) s; $rounds rounds, not bound to the TIME_WAIT window (the 1% TIME_WAIT sockets expire during later rounds: \`saw\` is round 1). Load average after: $(cut -d' ' -f1-3 /proc/loadavg)."
        fi
        echo
        echo "| command | runs | median ms | min ms | CPU ms | × floor 1-pass | × floor 2-req | ss -tan ÷ this | CPU × floor | peak RSS MiB | saw |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        awk -F'\t' -v l="$label" '$1 == l {
            rss = $13 == "" ? "" : sprintf("%.1f", $13 / 1024)
            name = $3; gsub(/\|/, "\\|", name)  # a | in a table cell must be escaped, even in code
            printf "| `%s` | %d | %.1f | %.1f | %.1f | %.2f | %.2f | %.2f | %.2f | %s | %s |\n",
                name, $4, $5 / 1000, $6 / 1000, $8 / 1000, $5 / $9, $5 / $10, $11 / $5, ($12 > 0 ? $8 / $12 : 0), rss, $14 }' "$TSV"
        awk -F'\t' -v l="$label" '$1 == l && $3 == "sockscan count -t state time-wait" { sw = $5; sc = $8 }
            $1 == l && $3 == "floor, one legacy pass, state time-wait" { fw = $5; fc = $8 }
            END { if (fc > 0) printf "\nTIME_WAIT-only count against the floor with the same kernel filter (idiag_states 0x40): %.2f× its CPU, %.2f× its wall time.\n", sc / fc, sw / fw }' "$TSV"
        if [ -n "$k_full" ]; then
            echo
            echo "Kernel share (in-process \`floor --repeat 5\`, min wall / min CPU ms): one-pass dump $k_full; the same walk with no state matching (\`--states 0x800\`: every socket visited, no message built) $k_walk; two v2 requests $k_2req."
            if [ "$PERF" = 1 ] && [ -s "$RUN/perf.txt" ]; then
                echo
                echo "perf (cpu-clock samples of \`floor --repeat 5\`, kernel symbols, self time): $(cat "$RUN/perf.txt")"
            fi
        fi
    } >>"$REPORT"
}

# mix_args N MIX: loadgen arguments for N sockets in that mix.
mix_args() {
    awk -v n="$1" -v mix="$2" 'BEGIN {
        l = int(n / 500); tw = mix == "est" ? int(n / 100) : mix == "tw20" ? int(n / 5) : int(n * 9 / 10)
        e = n - l - tw; e6 = 2 * int(e / 20); e4 = 2 * int((e - e6) / 2)
        printf "--listeners %d --established %d --established6 %d --time-wait %d", l, e4, e6, tw }'
}
mix_label() { case "$1" in est) echo "98% established" ;; tw20) echo "20% TIME_WAIT" ;; tw90) echo "90% TIME_WAIT" ;; esac; }

# --- main ------------------------------------------------------------------------------------------------------
exec > >(tee "$RUN/run.log")
start_epoch=$(date +%s)
{
    echo "# sockscan comparison benchmark ($MODE)"
    echo
    echo "- command: \`Benchmarks/run.sh --$MODE --sizes $SIZES --mixes $MIXES --rounds $ROUNDS --ehash $EHASH$([ "$SHARED" = 0 ] && echo " --no-shared")$([ "$ALLOCS" = 1 ] && echo " --allocs") --startup $STARTUP_SIZES --churn-rates $CHURN_RATES --churn-destinations $CHURN_DESTINATIONS --churn-seconds $CHURN_SECONDS\`"
    echo "- date: $(date -u +%FT%TZ); kernel $(uname -r); $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)); $(free -g | awk '/Mem:/ {print $2}') GiB"
    echo "- sockscan $(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet HEAD -- Sources CNetlink || echo '+dirty'), release build; $(ss -V 2>&1 | head -1); $(netstat -V 2>&1 | head -1); psutil $([ -n "$PYTHON" ] && "$PYTHON" -c 'import psutil; print(psutil.__version__)' || echo 'not installed')"
    echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other processes share the $(nproc) cores: compare ratios within one table; CPU columns are less disturbed than wall time)"
    echo "- private established hash of $EHASH buckets per table (\`loadgen --ehash\`), the host's size"
    echo "- wall ms include process start; \`| wc -l\` and \`ip netns exec\` are part of the ss, netstat, cat and psutil rows"
} >"$REPORT"
printf 'table\tsockets\tcommand\truns\tmedian_us\tmin_us\tmax_us\tcpu_us\tfloor1_us\tfloor2_us\tss_us\tfloor1_cpu_us\trss_kib\tsaw\n' >"$TSV"

IFS=, read -r -a size_list <<<"$SIZES"
if [ "$SIZES" = none ]; then size_list=(); fi
IFS=, read -r -a mix_list <<<"$MIXES"
largest=0
for s in "${size_list[@]}"; do
    n=$(count "$s")
    [ "$n" -gt "$largest" ] && largest=$n
    for mix in "${mix_list[@]}"; do
        label="$s, $(mix_label "$mix")"
        echo "# $(date -u +%T) $label: building ($(mix_args "$n" "$mix"))" >&2
        # shellcheck disable=SC2046
        start_table "sockscan-bench-$$" "$EHASH" $(mix_args "$n" "$mix")
        KERNEL_SHARE=0 WINDOW=1
        if [ "$mix" = est ]; then KERNEL_SHARE=1 WINDOW=0; fi
        measure_table "$label" "$n"
        stop_table
    done
done

if [ "$SHARED" = 1 ] && [ "$EHASH" != 0 ] && [ "$largest" -gt 0 ]; then
    s=$(awk -v n="$largest" 'BEGIN { if (n % 1000 == 0) printf "%dk", n / 1000; else print n }')
    label="$s, 98% established, shared hash"
    echo "# $(date -u +%T) $label: building" >&2
    # shellcheck disable=SC2046
    start_table "sockscan-bench-$$" 0 $(mix_args "$largest" est)
    KERNEL_SHARE=1 WINDOW=0
    measure_table "$label" "$largest"
    # The same dumps while a neighbouring namespace holds as many established sockets in the shared hash: every
    # walk visits them too (and skips them: not our namespace). Tables with a private hash never see them.
    s_full=$(kmin --mode onepass)
    s_walk=$(kmin --mode onepass --states 0x800)
    # shellcheck disable=SC2046
    "$LOADGEN" --name "sockscan-neighbour-$$" --ehash 0 --hold 600 $(mix_args "$largest" est | sed 's/--time-wait [0-9]*/--time-wait 0/') \
        >"$RUN/loadgen-neighbour.json" 2>"$RUN/loadgen-neighbour.err" &
    NB_PID=$!
    for _ in $(seq 3000); do [ -s "$RUN/loadgen-neighbour.json" ] && break; kill -0 "$NB_PID" 2>/dev/null || break; sleep 0.1; done
    if [ -s "$RUN/loadgen-neighbour.json" ]; then
        n_full=$(kmin --mode onepass)
        n_walk=$(kmin --mode onepass --states 0x800)
        {
            echo
            echo "With a neighbouring namespace holding $(sed -n 's/.*"tcp_inuse":\([0-9]*\).*"tcp6_inuse":\([0-9]*\).*/\1 + \2/p' "$RUN/loadgen-neighbour.json") established sockets in the same shared hash (in-process \`floor --repeat 5\`, min wall / min CPU ms): one-pass dump $s_full -> $n_full, walk with no state matching $s_walk -> $n_walk."
        } >>"$REPORT"
    fi
    stop_table
fi

# Start-up: small tables, where starting the process is most of the run.
if [ "$STARTUP_SIZES" != none ]; then
    IFS=, read -r -a startup_list <<<"$STARTUP_SIZES"
    saved_rounds=$ROUNDS
    ROUNDS=$STARTUP_ROUNDS
    startup_labels=()
    for s in "${startup_list[@]}"; do
        n=$(count "$s")
        label="start-up, $s sockets"
        startup_labels+=("$label")
        echo "# $(date -u +%T) $label: building" >&2
        if [ "$n" -eq 0 ]; then
            start_table "sockscan-bench-$$" "$EHASH"
        else
            # shellcheck disable=SC2046
            start_table "sockscan-bench-$$" "$EHASH" $(mix_args "$n" est)
        fi
        KERNEL_SHARE=0 WINDOW=0
        measure_table "$label" "$n"
        stop_table
    done
    ROUNDS=$saved_rounds
    {
        echo
        echo "### Start-up: CPU (user+sys, median ms) and peak RSS (MiB), whole process, against the C floor and ss"
        echo
        printf '| command |'
        for l in "${startup_labels[@]}"; do printf ' %s: CPU ms (× floor) | RSS |' "${l#start-up, }"; done
        echo
        printf '|---|'
        for _ in "${startup_labels[@]}"; do printf -- '---:|---:|'; done
        echo
        for cmd in "floor, one legacy pass" "floor, one legacy pass, state time-wait" "sockscan --version" \
            "sockscan count -t state time-wait" "sockscan count -ta" "sockscan list -ta --format json >/dev/null" \
            "ss -tan state time-wait | wc -l" "ss -tan | wc -l" "ip netns exec NAME true (overhead)"; do
            name=${cmd//|/\\|}
            printf '| `%s` |' "$name"
            for l in "${startup_labels[@]}"; do
                awk -F'\t' -v l="$l" -v c="$cmd" '$1 == l && $3 == c {
                    rss = $13 == "" ? "" : sprintf("%.1f", $13 / 1024)
                    printf " %.1f (%.1f×) | %s |", $8 / 1000, ($12 > 0 ? $8 / $12 : 0), rss }' "$TSV"
            done
            echo
        done
        echo
        echo "The state time-wait rows are the scan a health check runs every second; the floor is a C program that opens a netlink socket, enters the namespace and dumps (libmnl), and \`ss\` includes \`ip netns exec\` (its own row)."
    } >>"$REPORT"
fi

# Empty namespaces: the cost of walking the buckets alone.
empty_ms() { sed -n 's/.*elapsed_ms=\([0-9.]*\).*/\1/p' | sort -n | head -1; }

# How cost grows with N: the est tables (private hash) side by side.
if [ "${#size_list[@]}" -gt 1 ]; then
    {
        echo
        echo "### How cost grows with N (98% established, private hash; median wall / median CPU ms)"
        echo
        awk -F'\t' '
            NR > 1 && $1 ~ /98% established$/ {
                n = $2; cmd = $3
                if (!(n in seen_n)) { seen_n[n] = 1; sizes[++ns] = n }
                if (!(cmd in seen_c)) { seen_c[cmd] = 1; cmds[++nc] = cmd }
                wall[cmd, n] = $5; cpu[cmd, n] = $8
            }
            END {
                for (i = 1; i <= ns; i++) for (j = i + 1; j <= ns; j++) if (sizes[j] + 0 < sizes[i] + 0) { t = sizes[i]; sizes[i] = sizes[j]; sizes[j] = t }
                printf "| command |"
                for (i = 1; i <= ns; i++) printf " %dk |", sizes[i] / 1000
                printf " CPU µs per socket (%dk→%dk) |\n", sizes[ns - 1] / 1000, sizes[ns] / 1000
                printf "|---|"; for (i = 1; i <= ns; i++) printf "---:|"; printf "---:|\n"
                for (c = 1; c <= nc; c++) {
                    cmd = cmds[c]
                    if (cmd ~ /true \(overhead\)/) continue
                    name = cmd; gsub(/\|/, "\\|", name)
                    printf "| `%s` |", name
                    for (i = 1; i <= ns; i++) printf " %.0f / %.0f |", wall[cmd, sizes[i]] / 1000, cpu[cmd, sizes[i]] / 1000
                    a = sizes[ns - 1]; b = sizes[ns]
                    printf " %.2f |\n", (cpu[cmd, b] - cpu[cmd, a]) / (b - a)
                }
            }' "$TSV"
    } >>"$REPORT"
fi
start_table "sockscan-bench-$$" "$EHASH"
e_private=$("$FLOOR" --netns "$NAME" --repeat 10 | empty_ms)
e_private2=$("$FLOOR" --netns "$NAME" --repeat 10 --mode v2 | empty_ms)
stop_table
e_shared=$(unshare -n "$FLOOR" --repeat 10 | empty_ms)
e_shared2=$(unshare -n "$FLOOR" --repeat 10 --mode v2 | empty_ms)
{
    echo
    echo "### Empty namespace (in-process \`floor --repeat 10\`, min ms)"
    echo
    echo "One-pass dump of an empty namespace: $e_private with a private hash of $EHASH buckets, $e_shared on the host's shared hash ($(sysctl -n net.ipv4.tcp_ehash_entries) buckets, other namespaces' sockets skipped); two v2 requests: $e_private2 and $e_shared2."
} >>"$REPORT"

if [ "$ALLOCS" = 1 ]; then
    # Heap allocations of a whole run (valgrind memcheck's "total heap usage"): the difference between two table
    # sizes, divided by the difference in sockets, is what streaming allocates per socket.
    # Valgrind cannot read the DWARF 5 of a Swift release build ("Possibly corrupted debuginfo"): run a stripped copy.
    strip -o "$OUT/sockscan-stripped" "$SOCKSCAN"
    allocs() {
        local a
        a=$(valgrind --tool=memcheck "$@" 2>&1 >/dev/null |
            sed -n 's/.*total heap usage: \([0-9,]*\) allocs.*/\1/p' | tr -d ,) || true
        [ -n "$a" ] || { echo "run.sh: valgrind failed on: $*" >&2; exit 1; }
        echo "$a"
    }
    declare -A al
    for n in 10000 "$largest"; do
        # shellcheck disable=SC2046
        start_table "sockscan-bench-$$" "$EHASH" $(mix_args "$n" est)
        al[$n,n]=$(( $(json_field tcp_inuse) + $(json_field tcp6_inuse) + $(json_field tcp_tw) ))
        al[$n,count]=$(allocs "$OUT/sockscan-stripped" count -ta --netns "$NAME")
        al[$n,list]=$(allocs "$OUT/sockscan-stripped" list -ta --format json --netns "$NAME")
        stop_table
    done
    {
        echo
        echo "### Heap allocations (valgrind memcheck, whole process)"
        echo
        echo "| command | at ${al[10000,n]} sockets | at ${al[$largest,n]} | per socket |"
        echo "|---|---:|---:|---:|"
        for c in count list; do
            awk -v l="$c" -v a="${al[10000,$c]}" -v b="${al[$largest,$c]}" -v na="${al[10000,n]}" -v nb="${al[$largest,n]}" \
                'BEGIN { printf "| `sockscan %s` | %d | %d | %.4f |\n", (l == "count" ? "count -ta" : "list -ta --format json"), a, b, (b-a)/(nb-na) }'
        done
    } >>"$REPORT"
fi

# --- connection churn ----------------------------------------------------------------------------------------
# churn_run RATE DESTINATIONS SOCKSCAN-ARGS...: in a fresh namespace, starts `sockscan ARGS --netns NS` for the
# window plus 1 s under /usr/bin/time, waits until it has joined the destroy groups (a subscribed sock_diag socket
# in /proc/net/netlink), then runs churngen for the window. Sets CHURN_TIME ("user sys peak-KiB"), CHURN_GEN (the
# generator's JSON line) and leaves sockscan's output in $RUN/churn.out and .err.
churn_run() {
    local rate=$1 destinations=$2
    shift 2
    CHURN_NS=sockscan-churn-$$
    ip netns add "$CHURN_NS"
    ip netns exec "$CHURN_NS" ip link set lo up
    # Above churngen's listeners (20000 + destinations), and set before sockscan reads it.
    ip netns exec "$CHURN_NS" sh -c 'echo 40000 65535 > /proc/sys/net/ipv4/ip_local_port_range'
    /usr/bin/time -f "%U %S %M" -o "$RUN/churn.time" "$SOCKSCAN" "$@" --netns "$CHURN_NS" \
        --duration "$((CHURN_SECONDS + 1))s" >"$RUN/churn.out" 2>"$RUN/churn.err" &
    CHURN_PID=$!
    local subscribed=0
    for _ in $(seq 200); do
        if ip netns exec "$CHURN_NS" awk 'NR > 1 && $2 == 4 && $4 != "00000000" { found = 1 } END { exit !found }' \
            /proc/net/netlink; then subscribed=1; break; fi
        kill -0 "$CHURN_PID" 2>/dev/null || break
        sleep 0.05
    done
    [ "$subscribed" = 1 ] || { echo "run.sh: sockscan $* did not subscribe within 10 s:" >&2; cat "$RUN/churn.err" >&2; exit 1; }
    ip netns exec "$CHURN_NS" "$CHURNGEN" --rate "$rate" --destinations "$destinations" --seconds "$CHURN_SECONDS" \
        >"$RUN/churngen.json" 2>&1 || { echo "run.sh: churngen failed:" >&2; cat "$RUN/churngen.json" >&2; exit 1; }
    local status=0
    wait "$CHURN_PID" || status=$?
    CHURN_PID=
    # events exits 2 when the kernel dropped events (the table says how many); anything else is a failure.
    if [ "$status" != 0 ] && [ "$status" != 2 ]; then
        echo "run.sh: sockscan $* exited $status:" >&2; cat "$RUN/churn.err" >&2; exit 1
    fi
    CHURN_TIME=$(tail -1 "$RUN/churn.time")
    CHURN_GEN=$(head -1 "$RUN/churngen.json")
    stop_churn
}
# gen_field KEY: the number after "KEY": in CHURN_GEN.
gen_field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$CHURN_GEN"; }

if [ "$CHURN_RATES" != none ]; then
    {
        echo
        echo "### \`sockscan events\` under connection churn (${CHURN_SECONDS} s windows)"
        echo
        echo "churngen makes loopback connections at a steady rate to one destination, the client closing first; the kernel destroys two sockets per connection. \`sockscan events -H\` prints every one (the table, to a file). CPU and peak RSS: /usr/bin/time over the whole run (window + 1 s); a core's share is CPU over the window."
        echo
        echo "| asked /s | connections /s | events | events /s | dropped | CPU s | % of a core | % of a core per 1,000 connections/s | peak RSS MiB |"
        echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    } >>"$REPORT"
    for rate in ${CHURN_RATES//,/ }; do
        churn_run "$(count "$rate")" 1 events -H
        events=$(wc -l <"$RUN/churn.out")
        dropped=$(sed -n 's/.*, \([0-9]*\) dropped by the kernel.*/\1/p' "$RUN/churn.err" | tail -1)
        awk -v asked="$(count "$rate")" -v made="$(gen_field made)" -v secs="$(gen_field seconds)" -v ev="$events" \
            -v dr="${dropped:-?}" -v t="$CHURN_TIME" -v w="$CHURN_SECONDS" 'BEGIN {
            split(t, p, " "); cpu = p[1] + p[2]; rate = made / secs; share = 100 * cpu / w
            printf "| %d | %.0f | %d | %.0f | %s | %.2f | %.1f | %.2f | %.1f |\n", asked, rate, ev, ev / secs, dr, cpu, share, share / (rate / 1000), p[3] / 1024
        }' >>"$REPORT"
    done
fi
if [ "$CHURN_DESTINATIONS" != none ]; then
    churn_rate=2000
    {
        echo
        echo "### \`sockscan churn\` memory by destinations (${churn_rate} connections/s, ${CHURN_SECONDS} s windows)"
        echo
        echo "churngen spreads the connections over N listeners (one destination each); \`sockscan churn --format json\` counts them for the window, then runs the port analysis. It keeps at most 10,000 destinations apart (each with a fixed-size byte histogram and tuple sample); the closes of the rest are summed in \`other_closes\`. Peak RSS and CPU: /usr/bin/time over the whole run."
        echo
        echo "| destinations | connections made | closes counted | destinations in the report | other closes | CPU s | peak RSS MiB |"
        echo "|---:|---:|---:|---:|---:|---:|---:|"
    } >>"$REPORT"
    for d in ${CHURN_DESTINATIONS//,/ }; do
        churn_run "$churn_rate" "$(count "$d")" churn --format json
        closes=$(sed -n 's/^{"duration_s":[0-9.]*,"closes":\([0-9]*\).*/\1/p' "$RUN/churn.out")
        listed=$(grep -o '"remote_port":' "$RUN/churn.out" | wc -l || true)
        more=$(sed -n 's/.*"more_destinations":\([0-9]*\).*/\1/p' "$RUN/churn.out")
        other=$(sed -n 's/.*"other_closes":\([0-9]*\).*/\1/p' "$RUN/churn.out")
        awk -v n="$(count "$d")" -v made="$(gen_field made)" -v c="${closes:-?}" -v o="${other:-?}" \
            -v seen="$((listed + ${more:-0}))" -v t="$CHURN_TIME" 'BEGIN {
            split(t, p, " "); printf "| %d | %d | %s | %d | %s | %.2f | %.1f |\n", n, made, c, seen, o, p[1] + p[2], p[3] / 1024
        }' >>"$REPORT"
    done
fi

echo "- finished in $(( $(date +%s) - start_epoch )) s; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$REPORT"
cat "$REPORT"
echo
echo "# report: $REPORT"
