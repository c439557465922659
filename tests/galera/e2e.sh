#!/usr/bin/env bash
# End-to-end tests of `tokenflush flush` against a real 3-node MariaDB Galera cluster (issue 5, "Galera").
#
#   tests/galera/e2e.sh            # uses target/release/tokenflush (build it first: cargo build --release)
#   TOKENFLUSH_BIN=/path/to/bin tests/galera/e2e.sh
#   KEEP_LOGS=1 tests/galera/e2e.sh    # keep the agent and server logs even when everything passes
#   CASES="1 3" tests/galera/e2e.sh    # run some of the cases only
#
# Cases (each prints ok/FAILED lines; see tests/galera/README.md):
#   1. flush through node 1 while a load generator writes through nodes 2 and 3;
#   2. wsrep_max_ws_rows=500 and then a low wsrep_max_ws_size, with the plain single DELETE as contrast,
#      and a wsrep_max_ws_size no row fits under (must fail promptly and clearly);
#   3. two flushers through different nodes at once;
#   4. a rebuild through node 1 while nodes 2 and 3 insert, update and delete (nothing lost or changed);
#   5. a rebuild resumed after node 2 lost one of its triggers: found before the copy, nothing lost.
# Exits non-zero on any failure; the last line of stdout is "N passed, M failed".
# Always stops the cluster and the load generators it started (by PID), whatever happens.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${TOKENFLUSH_BIN:-$ROOT/target/release/tokenflush}
SANDBOX=$ROOT/scripts/galera-sandbox.sh
FLUSH_TIMEOUT=${FLUSH_TIMEOUT:-60}   # seconds; a flush that loops on a permanent error fails, not hangs

WORK=$(mktemp -d /tmp/tokenflush-galera-e2e.XXXXXX)
CLUSTER=$WORK/cluster
LOGS=$WORK/logs
mkdir -p "$LOGS"
chmod 755 "$WORK"   # the servers run as user mysql and must reach $CLUSTER

# shellcheck source=tests/lib/report.sh
. "$ROOT/tests/lib/report.sh"
SUMMARY_DONE=0
BG_PIDS=()
T_START=$SECONDS

say() { echo "$*"; }
eq() { [ "$1" = "$2" ] || { say "      expected '$2', got '$1'"; return 1; }; }

cleanup() { # idempotent: stops what this script started, keeps the server logs
    local p
    for p in "${BG_PIDS[@]}"; do
        pkill -TERM -P "$p" 2>/dev/null || true   # its child (a mariadb client, or timeout + the agent)
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    BG_PIDS=()
    if [ -d "$CLUSTER" ]; then
        "$SANDBOX" stop --dir "$CLUSTER" >>"$LOGS/sandbox.log" 2>&1 || true
        for i in 1 2 3; do cp "$CLUSTER/n$i/err.log" "$LOGS/n$i-err.log" 2>/dev/null || true; done
        rm -rf "$CLUSTER"
    fi
}
on_exit() {
    local rc=$?
    cleanup
    if [ "$SUMMARY_DONE" = 0 ]; then
        fail "the script stopped early (exit status $rc)"
        summary
    fi
    if [ "$FAILED" = 0 ] && [ -z "${KEEP_LOGS:-}" ]; then
        rm -rf "$WORK"
    else
        echo "galera e2e: logs kept in $LOGS" >&2
    fi
    [ "$FAILED" = 0 ] || exit 1
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------- SQL helpers
declare -a PORT
q() { # q NODE SQL...  -> tab-separated rows. Reads wait for the node to apply everything committed before.
    local n=$1; shift
    mariadb --no-defaults -h127.0.0.1 -P"${PORT[$n]}" -uroot --connect-timeout=10 -N -B keystone \
        -e "SET SESSION wsrep_sync_wait=1; $*"
}
q_all() { local i; for i in 1 2 3; do q "$i" "$@" || return 1; done; }
status_var() {
    mariadb --no-defaults -h127.0.0.1 -P"${PORT[$1]}" -uroot --connect-timeout=10 -N -B \
        -e "SHOW GLOBAL STATUS LIKE '$2'" | cut -f2
}

CONN() { echo "mysql://keystone:keystone-e2e-pw@127.0.0.1:${PORT[$1]}/keystone"; }

# Seed: N rows, even seq expired a day ago (distinct expiries), odd seq valid for a day, plus NULLS rows
# that never expire. extra is 1 KB so each row is ~1.1 KB in a writeset. Random (MD5) primary keys.
seed() { # seed N NULLS
    local n=$1 nulls=$2 n_rows=$1
    q_all "SET GLOBAL wsrep_max_ws_rows=0; SET GLOBAL wsrep_max_ws_size=DEFAULT"
    q 1 "TRUNCATE TABLE token;
         INSERT INTO token (id, expires, extra, valid, trust_id, user_id)
           SELECT MD5(seq),
                  IF(seq % 2 = 0, UTC_TIMESTAMP() - INTERVAL 1 DAY - INTERVAL seq SECOND,
                                  UTC_TIMESTAMP() + INTERVAL 1 DAY + INTERVAL seq SECOND),
                  REPEAT('x', 1024), 1, IF(seq % 7 = 0, MD5(seq + 1000000), NULL), CONCAT('user', seq % 97)
           FROM seq_1_to_$n;
         INSERT INTO token (id, expires, extra, valid, user_id)
           SELECT CONCAT('never-', seq), NULL, REPEAT('n', 1024), 1, 'service' FROM seq_1_to_$nulls;" || return 1
    # Replicas apply the seed asynchronously (a 20k-row writeset takes a while): a flusher started on
    # node 2 right away would find an empty table. Wait until every node has applied it.
    local i n
    for i in 1 2 3; do
        n=$(n_total "$i") || return 1
        [ "$n" = $((n_rows + nulls)) ] || { say "      node $i has $n rows after the seed, expected $((n_rows + nulls))"; return 1; }
    done
}
# Fingerprints, read through NODE.
n_expired() { q "$1" "SELECT COUNT(*) FROM token WHERE expires < UTC_TIMESTAMP() - INTERVAL 60 SECOND"; }
n_total() { q "$1" "SELECT COUNT(*) FROM token"; }
# The rows that must survive: unexpired or NULL expiry. Count and an order-independent checksum of the ids.
valid_fp() { q "$1" "SELECT COUNT(*), COALESCE(BIT_XOR(CRC32(id)),0) FROM token WHERE expires IS NULL OR expires > UTC_TIMESTAMP()" | tr '\t' ' '; }
# Whole-table fingerprint, to show that the three nodes converged.
table_fp() { q "$1" "SELECT COUNT(*), COALESCE(BIT_XOR(CRC32(CONCAT_WS('|', id, IFNULL(expires,'null'), valid, IFNULL(user_id,''), LENGTH(extra)))),0) FROM token" | tr '\t' ' '; }
converged() {
    local a b c
    a=$(table_fp 1) && b=$(table_fp 2) && c=$(table_fp 3) || return 1
    say "      node fingerprints (rows crc): n1=[$a] n2=[$b] n3=[$c]"
    [ "$a" = "$b" ] && [ "$b" = "$c" ]
}
conflict_counters() { # "cert_failures bf_aborts" of NODE
    echo "$(status_var "$1" wsrep_local_cert_failures) $(status_var "$1" wsrep_local_bf_aborts)"
}

json_num() { # json_num FILE KEY -> the number (or true/false) of "KEY": in the last JSON object of FILE
    grep -o "\"$2\"[[:space:]]*:[[:space:]]*[-0-9.a-z]*" "$1" | tail -1 | sed 's/.*:[[:space:]]*//'
}

# run_flush NAME NODE [extra args...]: runs the agent's one-shot flush through NODE with --json, bounded by
# FLUSH_TIMEOUT. stdout -> $LOGS/NAME.out, stderr -> $LOGS/NAME.err, exit status -> $LOGS/NAME.rc.
run_flush() {
    local name=$1 node=$2; shift 2
    local t0=$SECONDS rc
    timeout -k 5 "$FLUSH_TIMEOUT" "$BIN" flush --connection "$(CONN "$node")" --json "$@" \
        >"$LOGS/$name.out" 2>"$LOGS/$name.err" </dev/null
    rc=$?
    echo "$rc" >"$LOGS/$name.rc"
    echo $((SECONDS - t0)) >"$LOGS/$name.wall"
    return 0
}
show_flush() { # one line per flush: exit status, JSON figures, and the agent's retry/error lines
    local name=$1
    say "      $name: exit=$(cat "$LOGS/$name.rc") wall=$(cat "$LOGS/$name.wall")s rows_deleted=$(json_num "$LOGS/$name.out" rows_deleted) chunks=$(json_num "$LOGS/$name.out" chunks) seconds=$(json_num "$LOGS/$name.out" seconds) complete=$(json_num "$LOGS/$name.out" complete) max_rows_per_transaction=$(json_num "$LOGS/$name.out" max_rows_per_transaction)"
    say "      $name: agent stderr: $(wc -l <"$LOGS/$name.err") lines, $(grep -ci -e 1213 -e deadlock "$LOGS/$name.err") mention 1213/deadlock, $(grep -ci -e 1180 -e 1105 -e 'wsrep_max_ws' -e 'writeset' -e 'write-set' "$LOGS/$name.err") mention 1180/1105/write-set limits"
    grep -i -e 1213 -e deadlock -e 1180 -e 1105 -e wsrep_max_ws -e writeset -e write-set "$LOGS/$name.err" | head -3 | sed 's/^/        | /'
    if [ "$(cat "$LOGS/$name.rc")" != 0 ]; then
        say "      $name: last stderr lines:"; tail -5 "$LOGS/$name.err" | sed 's/^/        | /'
        say "      $name: stdout:"; tail -3 "$LOGS/$name.out" | sed 's/^/        | /'
    fi
}
flush_ok() { # the flush exited 0 and reported a complete flush
    local name=$1
    eq "$(cat "$LOGS/$name.rc")" 0 && eq "$(json_num "$LOGS/$name.out" complete)" true
}

# ---------------------------------------------------------------------------------------------- preflight
say "tokenflush Galera end-to-end tests ($(date -u +%FT%TZ)); work dir $WORK"
if [ ! -x "$BIN" ]; then
    fail "agent binary $BIN is missing (cargo build --release, or set TOKENFLUSH_BIN)"
    exit 1
fi

t=$SECONDS
if ! ports=$("$SANDBOX" start --dir "$CLUSTER" 2>"$LOGS/sandbox.log"); then
    cat "$LOGS/sandbox.log" >&2
    fail "galera-sandbox.sh start"
    exit 1
fi
read -r PORT[1] PORT[2] PORT[3] <<<"$ports"
size=$(status_var 1 wsrep_cluster_size)
check "3-node Galera cluster formed in $((SECONDS - t)) s (SQL ports ${PORT[1]} ${PORT[2]} ${PORT[3]}, cluster_size=$size)" eq "$size" 3
"$ROOT/scripts/mariadb-sandbox.sh" schema "$CLUSTER/n1" keystone >>"$LOGS/sandbox.log" 2>&1 || { fail "create the Keystone token schema"; exit 1; }
q 1 "CREATE USER IF NOT EXISTS 'keystone'@'127.0.0.1' IDENTIFIED BY 'keystone-e2e-pw';
     GRANT ALL ON keystone.* TO 'keystone'@'127.0.0.1';" || { fail "create the keystone user"; exit 1; }
for i in 1 2 3; do
    q "$i" "SELECT 1" >/dev/null || { fail "node $i does not answer"; exit 1; }
done

# ---------------------------------------------------------------------------------------------- case 1
# Load generator: through NODE, up to MAX iterations or until $WORK/stop-load appears (and never past 120 s).
# Each iteration inserts one new unexpired token (every 10th with a NULL expiry) and marks the expired
# tokens of three random users invalid (UPDATE token SET valid=0 WHERE user_id IN (...)), the kind of
# write Keystone's revocation does. A user's ~100 expired tokens are spread over the whole expiry range,
# so each revocation touches rows near the chunk node 1 is deleting at that moment: that is what makes
# Galera's certification abort one side with 1213.
# Inserted ids whose INSERT succeeded are appended to $LOGS/load-NODE.ok.
revocation() { # the UPDATE a load generator on NODE runs each iteration
    if [ "$1" = 2 ]; then
        echo "UPDATE token SET valid = 0 WHERE expires < UTC_TIMESTAMP() ORDER BY expires LIMIT 20"
    else
        echo "UPDATE token SET valid = 0 WHERE user_id IN ('user$((RANDOM % 97))', 'user$((RANDOM % 97))', 'user$((RANDOM % 97))') AND expires < UTC_TIMESTAMP()"
    fi
}
load_gen() {
    local node=$1 max=$2 n=0 t0=$SECONDS id exp k
    : >"$LOGS/load-$node.ok"
    : >"$LOGS/load-$node.err"
    while [ "$n" -lt "$max" ] && [ ! -e "$WORK/stop-load" ] && [ $((SECONDS - t0)) -lt 120 ]; do
        n=$((n + 1))
        id="load-n$node-$n"
        if [ $((n % 10)) = 0 ]; then exp=NULL; else exp="UTC_TIMESTAMP() + INTERVAL 1 HOUR"; fi
        if mariadb --no-defaults -h127.0.0.1 -P"${PORT[$node]}" -uroot --connect-timeout=10 keystone \
            -e "INSERT INTO token (id, expires, extra, valid, user_id) VALUES ('$id', $exp, REPEAT('l', 1024), 1, 'load')" \
            2>>"$LOGS/load-$node.err"; then
            echo "$id" >>"$LOGS/load-$node.ok"
        fi
        mariadb --no-defaults -h127.0.0.1 -P"${PORT[$node]}" -uroot --connect-timeout=10 keystone \
            -e "$(revocation "$node")" 2>>"$LOGS/load-$node.err" || true
    done
    echo "$n" >"$LOGS/load-$node.iterations"
}

case1() {
    say "== case 1: flush through node 1 while nodes 2 and 3 take writes"
    local t0=$SECONDS
    seed 20000 300 || { fail "case 1: seed"; return; }
    local exp0 fp0 c1a c2a c3a
    exp0=$(n_expired 1); fp0=$(valid_fp 1)
    say "      seeded $(n_total 1) rows: $exp0 expired, valid (count crc) = $fp0"
    # wsrep_retry_autocommit (default 1) makes the server retry an autocommit statement that lost
    # certification once, silently. Turn it off so every conflict reaches the clients as 1213.
    q_all "SET GLOBAL wsrep_retry_autocommit=0"
    c1a=$(conflict_counters 1); c2a=$(conflict_counters 2); c3a=$(conflict_counters 3)
    rm -f "$WORK/stop-load"
    load_gen 2 1500 & BG_PIDS+=($!)
    local g2=$!
    load_gen 3 1500 & BG_PIDS+=($!)
    local g3=$!
    # Let the writers get going, then flush in small chunks so the flush overlaps the load for a while.
    local w=0
    while [ "$(cat "$LOGS/load-2.ok" "$LOGS/load-3.ok" 2>/dev/null | wc -l)" -lt 20 ] && [ $w -lt 100 ]; do sleep 0.1; w=$((w + 1)); done
    # Which side loses a certification race is down to timing: in a few percent of runs every
    # conflict goes against the load and none against the agent. Then add another 5000 expired rows
    # and flush again, up to 3 rounds, so that the agent's 1213 path is exercised in (nearly) every run.
    # Every round must complete: 0 aborted flushes.
    local round=0 c1b aborted=0
    while :; do
        round=$((round + 1))
        run_flush "case1-flush-r$round" 1 --batch-size 25
        show_flush "case1-flush-r$round"
        flush_ok "case1-flush-r$round" >/dev/null || aborted=$((aborted + 1))
        c1b=$(conflict_counters 1)
        [ "$c1b" != "$c1a" ] && break
        [ "$round" -lt 3 ] || break
        say "      no conflict hit the agent on node 1 in round $round; adding 5000 expired rows for round $((round + 1))"
        q 1 "INSERT INTO token (id, expires, extra, valid, user_id)
               SELECT CONCAT('more-r$round-', seq), UTC_TIMESTAMP() - INTERVAL 2 DAY - INTERVAL seq SECOND,
                      REPEAT('m', 1024), 1, CONCAT('user', seq % 97) FROM seq_1_to_5000" \
            || { fail "case 1: add expired rows"; break; }
    done
    sleep 1
    touch "$WORK/stop-load"
    wait "$g2" "$g3"
    BG_PIDS=()
    local ok2 ok3 it2 it3
    ok2=$(wc -l <"$LOGS/load-2.ok"); ok3=$(wc -l <"$LOGS/load-3.ok")
    it2=$(cat "$LOGS/load-2.iterations"); it3=$(cat "$LOGS/load-3.iterations")
    say "      load: node 2 $ok2/$it2 inserts committed, node 3 $ok3/$it3; client errors: $(cat "$LOGS/load-2.err" "$LOGS/load-3.err" | grep -c ERROR) ($(cat "$LOGS/load-2.err" "$LOGS/load-3.err" | grep -c 1213) were 1213)"
    say "      conflicts during the run (wsrep_local_cert_failures wsrep_local_bf_aborts): node1 [$c1a]->[$c1b] node2 [$c2a]->[$(conflict_counters 2)] node3 [$c3a]->[$(conflict_counters 3)]"
    say "      apart from the test's reads the agent is node 1's only local client, so node 1's counters are the agent's chunks that Galera rolled back (1213)"
    q_all "SET GLOBAL wsrep_retry_autocommit=DEFAULT"
    check "case 1: the load really conflicted with the agent's chunks on node 1 ($round round(s); counters [$c1a] -> [$c1b])" \
        [ "$c1b" != "$c1a" ]
    check "case 1: $round flush(es) through node 1 under concurrent writes, $aborted aborted (exit 0 and complete=true each)" eq "$aborted" 0
    check "case 1: no expired row is left (node 1)" eq "$(n_expired 1)" 0
    local fp_seed
    fp_seed=$(q 1 "SELECT COUNT(*), COALESCE(BIT_XOR(CRC32(id)),0) FROM token WHERE (expires IS NULL OR expires > UTC_TIMESTAMP()) AND id NOT LIKE 'load-%'" | tr '\t' ' ')
    check "case 1: every unexpired and NULL-expiry seed row survived (count crc $fp0)" eq "$fp_seed" "$fp0"
    local loaded missing=0 id
    loaded=$(q 1 "SELECT COUNT(*) FROM token WHERE id LIKE 'load-%'")
    cat "$LOGS/load-2.ok" "$LOGS/load-3.ok" | sort >"$LOGS/load.ok.sorted"
    for i in 1 2 3; do
        q "$i" "SELECT id FROM token WHERE id LIKE 'load-%'" | sort >"$LOGS/load.n$i.sorted"
        missing=$((missing + $(comm -23 "$LOGS/load.ok.sorted" "$LOGS/load.n$i.sorted" | wc -l)))
    done
    check "case 1: all $((ok2 + ok3)) committed load-generator tokens are present on all three nodes ($loaded in the table)" eq "$missing" 0
    check "case 1: the three nodes converged to the same rows" converged
    say "      case 1 took $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------------------------------------- case 2
# limit_case NAME VAR VALUE ERRNO MAX_ROWS: seed, set VAR=VALUE on every node, show the seed's single DELETE failing
# with ERRNO, then run the agent with its default batch size (1000).
limit_case() {
    local name=$1 var=$2 value=$3 errno=$4 max_rows=$5
    local t0=$SECONDS
    seed 10000 200 || { fail "$name: seed"; return; }
    local exp0 fp0
    exp0=$(n_expired 1); fp0=$(valid_fp 1)
    say "      seeded $(n_total 1) rows: $exp0 expired; SET GLOBAL $var=$value on every node"
    q_all "SET GLOBAL $var=$value"
    local out rc
    out=$(q 1 "DELETE FROM token WHERE expires < UTC_TIMESTAMP()" 2>&1); rc=$?
    say "      contrast, the seed's single DELETE through node 1: exit=$rc: $out"
    check "$name: the single DELETE fails with $errno under $var=$value" grep -q "ERROR $errno" <<<"$out"
    check "$name: ... and it rolled back (still $exp0 expired rows)" eq "$(n_expired 1)" "$exp0"
    run_flush "$name-flush" 1
    show_flush "$name-flush"
    check "$name: tokenflush flush (default batch_size 1000) completed under $var=$value" flush_ok "$name-flush"
    check "$name: no expired row is left" eq "$(n_expired 1)" 0
    check "$name: every unexpired and NULL-expiry row survived" eq "$(valid_fp 1)" "$fp0"
    local rd mx
    rd=$(json_num "$LOGS/$name-flush.out" rows_deleted)
    mx=$(json_num "$LOGS/$name-flush.out" max_rows_per_transaction)
    if [ -n "$mx" ]; then
        check "$name: no transaction went over the limit (max_rows_per_transaction=$mx <= $max_rows)" [ "$mx" -le "$max_rows" ]
    else
        say "      (the agent's JSON has no max_rows_per_transaction; chunk sizes not checked)"
    fi
    check "$name: the agent reported the rows it deleted (rows_deleted=$rd)" eq "$rd" "$exp0"
    check "$name: the three nodes converged" converged
    q_all "SET GLOBAL $var=DEFAULT" || q_all "SET GLOBAL $var=0"
    say "      $name took $((SECONDS - t0)) s"
}

case2() {
    say "== case 2a: wsrep_max_ws_rows=500"
    limit_case case2a wsrep_max_ws_rows 500 1180 500
    # ~1.1 KB per row in the writeset: 512 KiB holds about 480 rows (measured), so a 1000-row chunk is over.
    say "== case 2b: wsrep_max_ws_size=524288 (512 KiB, about 480 rows)"
    limit_case case2b wsrep_max_ws_size 524288 1105 480

    # A limit no single row fits under: no chunk size helps, so the only right answer is a prompt,
    # clear failure (not a retry loop until the timeout), with nothing lost.
    say "== case 2c: wsrep_max_ws_size=1024, smaller than one row's writeset"
    local t0=$SECONDS
    seed 2000 100 || { fail "case2c: seed"; return; }
    local exp0 fp0
    exp0=$(n_expired 1); fp0=$(valid_fp 1)
    q_all "SET GLOBAL wsrep_max_ws_size=1024"
    run_flush case2c-flush 1
    show_flush case2c-flush
    check "case2c: the flush fails (non-zero exit, complete=false)" \
        [ "$(cat "$LOGS/case2c-flush.rc")" != 0 -a "$(json_num "$LOGS/case2c-flush.out" complete)" != true ]
    check "case2c: ... promptly, not by retrying until killed ($(cat "$LOGS/case2c-flush.wall") s, timeout $FLUSH_TIMEOUT s)" \
        [ "$(cat "$LOGS/case2c-flush.rc")" != 124 -a "$(cat "$LOGS/case2c-flush.rc")" != 137 -a "$(cat "$LOGS/case2c-flush.wall")" -lt 30 ]
    check "case2c: ... with a message that names the limit" grep -qi -e wsrep_max_ws_size -e 'write-set' -e writeset "$LOGS/case2c-flush.err" "$LOGS/case2c-flush.out"
    check "case2c: every unexpired and NULL-expiry row survived" eq "$(valid_fp 1)" "$fp0"
    q_all "SET GLOBAL wsrep_max_ws_size=DEFAULT"
    say "      case2c took $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------------------------------------- case 3
case3() {
    say "== case 3: two flushers through different nodes (1 and 2) at once"
    local t0=$SECONDS
    seed 16000 300 || { fail "case 3: seed"; return; }
    local exp0 fp0 c1a c2a
    exp0=$(n_expired 1); fp0=$(valid_fp 1)
    say "      seeded $(n_total 1) rows: $exp0 expired"
    q_all "SET GLOBAL wsrep_retry_autocommit=0"   # every conflict reaches the agent as 1213 (see case 1)
    c1a=$(conflict_counters 1); c2a=$(conflict_counters 2)
    run_flush case3-flush-n1 1 --batch-size 25 & BG_PIDS+=($!)
    local f1=$!
    run_flush case3-flush-n2 2 --batch-size 25 & BG_PIDS+=($!)
    local f2=$!
    wait "$f1" "$f2"
    BG_PIDS=()
    q_all "SET GLOBAL wsrep_retry_autocommit=DEFAULT"
    show_flush case3-flush-n1
    show_flush case3-flush-n2
    local r1 r2
    r1=$(json_num "$LOGS/case3-flush-n1.out" rows_deleted); r2=$(json_num "$LOGS/case3-flush-n2.out" rows_deleted)
    say "      conflicts (wsrep_local_cert_failures wsrep_local_bf_aborts): node1 [$c1a]->[$(conflict_counters 1)] node2 [$c2a]->[$(conflict_counters 2)]"
    local k1 k2 c1b c2b
    k1=$(json_num "$LOGS/case3-flush-n1.out" chunks); k2=$(json_num "$LOGS/case3-flush-n2.out" chunks)
    c1b=$(conflict_counters 1); c2b=$(conflict_counters 2)
    say "      duplicate work: both flushers ran (GET_LOCK is node-local); node 1 reported ${r1:-?} rows in ${k1:-?} chunks, node 2 ${r2:-?} rows in ${k2:-?} chunks; sum $(( ${r1:-0} + ${r2:-0} )) rows for $exp0 expired"
    say "      duplicate work: $(( ${k1:-0} + ${k2:-0} )) committed chunks where one flusher alone needs $(( (exp0 + 24) / 25 )); $(( ${k1:-0} + ${k2:-0} - (${r1:-0} + 24) / 25 - (${r2:-0} + 24) / 25 )) or more of them found some of their rows already deleted by the other flusher"
    say "      duplicate work: transactions rolled back by Galera and redone: node 1 cert failures+BF aborts $(( ($(tr ' ' + <<<"$c1b")) - ($(tr ' ' + <<<"$c1a")) )), node 2 $(( ($(tr ' ' + <<<"$c2b")) - ($(tr ' ' + <<<"$c2a")) ))"
    check "case 3: the two flushers' chunks collided (conflict counters on nodes 1 and 2 moved)" \
        [ "$(conflict_counters 1) $(conflict_counters 2)" != "$c1a $c2a" ]
    check "case 3: the flusher through node 1 completed" flush_ok case3-flush-n1
    check "case 3: the flusher through node 2 completed" flush_ok case3-flush-n2
    check "case 3: no expired row is left" eq "$(n_expired 1)" 0
    check "case 3: every unexpired and NULL-expiry row survived" eq "$(valid_fp 1)" "$fp0"
    check "case 3: the reported rows add up to the rows deleted (no chunk counted twice)" eq "$(( ${r1:-0} + ${r2:-0} ))" "$exp0"
    check "case 3: the three nodes converged" converged
    say "      case 3 took $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------------------------------------- case 4
# logged_write NODE LOG ERR VALUE SQL: runs SQL through NODE and, when it changed one row, appends VALUE to LOG
# (client errors go to ERR). What the writers use to know exactly which of their writes committed.
logged_write() {
    local node=$1 log=$2 err=$3 value=$4 sql=$5 rc
    rc=$(mariadb --no-defaults -h127.0.0.1 -P"${PORT[$node]}" -uroot -N -B keystone -e "$sql; SELECT ROW_COUNT()" 2>>"$err")
    [ "$rc" = 1 ] && echo "$value" >>"$log"
    return 0
}

# rebuild_writer NODE FIRST STEP: through NODE, walks the live seed ids FIRST, FIRST+STEP, ... and for each one
# in turn inserts a new token, sets valid=0 on the id, or deletes the id, logging every write that committed
# (ROW_COUNT() = 1) to $LOGS/rb-NODE.{ins,upd,del}. Stops at $WORK/stop-load or after 120 s.
rebuild_writer() {
    local node=$1 first=$2 step=$3 i n=0 id t0=$SECONDS out=$LOGS/rb-$1
    : >"$out.ins"; : >"$out.upd"; : >"$out.del"
    mapfile -t ids <"$LOGS/rb-live"
    for ((i = first; i < ${#ids[@]}; i += step)); do
        [ -e "$WORK/stop-load" ] || [ $((SECONDS - t0)) -ge 120 ] && break
        n=$((n + 1)); id=${ids[$i]}
        case $((n % 3)) in
            0) logged_write "$node" "$out.ins" "$out.err" "rb-n$node-$n" \
                   "INSERT INTO token (id, expires, extra, valid, user_id) VALUES ('rb-n$node-$n', UTC_TIMESTAMP() + INTERVAL 2 DAY, 'w', 1, 'rb')" ;;
            1) logged_write "$node" "$out.upd" "$out.err" "$id" "UPDATE token SET valid = 0 WHERE id = '$id'" ;;
            2) logged_write "$node" "$out.del" "$out.err" "$id" "DELETE FROM token WHERE id = '$id'" ;;
        esac
    done
}

# rebuild_while_writing NAME: with the writers already started (their PIDs in BG_PIDS), a rebuild through
# node 1 a second later, and the writers stopped a second after it.
rebuild_while_writing() {
    sleep 1
    run_flush "$1" 1 --strategy rebuild --batch-size 50 --sleep-ms 20
    show_flush "$1"
    sleep 1
    touch "$WORK/stop-load"
    wait "${BG_PIDS[@]}"
    BG_PIDS=()
}

case4() {
    say "== case 4: a rebuild through node 1 while nodes 2 and 3 insert, update and delete"
    local t0=$SECONDS
    seed 8000 100 || { fail "case 4: seed"; return; }
    q 1 "SELECT id FROM token WHERE expires > UTC_TIMESTAMP() ORDER BY id" >"$LOGS/rb-live"
    local exp0 live0
    exp0=$(n_expired 1); live0=$(wc -l <"$LOGS/rb-live")
    say "      seeded $(n_total 1) rows: $exp0 expired, $live0 live"
    # The nodes write a binary log, so creating triggers needs SUPER (which the keystone user does not
    # have) or log_bin_trust_function_creators: without it the rebuild must refuse before creating anything.
    q_all "SET GLOBAL log_bin_trust_function_creators = 0"
    run_flush case4-refused 1 --strategy rebuild
    check "case 4: without log_bin_trust_function_creators the rebuild is refused with the reason" \
        grep -q "log_bin_trust_function_creators" "$LOGS/case4-refused.err"
    check "case 4: ... before it created anything" \
        eq "$(q 1 "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'keystone' AND TABLE_NAME LIKE '\\_token\\_tf%'")" 0
    q_all "SET GLOBAL log_bin_trust_function_creators = 1"
    rm -f "$WORK/stop-load"
    rebuild_writer 2 0 2 & BG_PIDS+=($!)
    rebuild_writer 3 1 2 & BG_PIDS+=($!)
    rebuild_while_writing case4-rebuild
    local ins upd del
    cat "$LOGS"/rb-[23].ins | sort >"$LOGS/rb.ins"; cat "$LOGS"/rb-[23].upd | sort >"$LOGS/rb.upd"; cat "$LOGS"/rb-[23].del | sort >"$LOGS/rb.del"
    ins=$(wc -l <"$LOGS/rb.ins"); upd=$(wc -l <"$LOGS/rb.upd"); del=$(wc -l <"$LOGS/rb.del")
    say "      writes through nodes 2 and 3 that committed: $ins inserts, $upd updates, $del deletes; client errors: $(cat "$LOGS"/rb-[23].err | grep -c ERROR)"
    check "case 4: the rebuild through node 1 completed" flush_ok case4-rebuild
    check "case 4: it was a rebuild" eq "$(grep -o '"strategy":"[a-z]*"' "$LOGS/case4-rebuild.out" | tail -1)" '"strategy":"rebuild"'
    check "case 4: the writes overlapped the rebuild (inserts, updates and deletes committed)" [ "$ins" -gt 10 -a "$upd" -gt 10 -a "$del" -gt 10 ]
    check "case 4: no expired row is left" eq "$(n_expired 1)" 0
    local i lost=0 back=0 unupdated=0
    for i in 1 2 3; do
        q "$i" "SELECT id FROM token" | sort >"$LOGS/rb.n$i"
        lost=$((lost + $(comm -23 "$LOGS/rb.ins" "$LOGS/rb.n$i" | wc -l)))
        back=$((back + $(comm -12 "$LOGS/rb.del" "$LOGS/rb.n$i" | wc -l)))
        q "$i" "SELECT id FROM token WHERE valid = 0" | sort >"$LOGS/rb.n$i.invalid"
        unupdated=$((unupdated + $(comm -23 "$LOGS/rb.upd" "$LOGS/rb.n$i.invalid" | wc -l)))
    done
    check "case 4: every committed insert is there, on every node" eq "$lost" 0
    check "case 4: no deleted row came back, on any node" eq "$back" 0
    check "case 4: every committed update is there, on every node" eq "$unupdated" 0
    local untouched
    untouched=$(comm -23 "$LOGS/rb-live" <(sort -u "$LOGS/rb.upd" "$LOGS/rb.del") | wc -l)
    check "case 4: every live row no writer touched is there and unchanged ($untouched)" \
        eq "$(q 1 "SELECT COUNT(*) FROM token WHERE expires > UTC_TIMESTAMP() AND valid = 1 AND user_id <> 'rb'")" "$untouched"
    check "case 4: nothing of the rebuild is left" \
        eq "$(q 1 "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'keystone' AND TABLE_NAME LIKE '\\_token\\_tf%'")" 0
    check "case 4: the three nodes converged" converged
    q_all "SET GLOBAL log_bin_trust_function_creators = DEFAULT"
    say "      case 4 took $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------------------------------------- case 5
# A node without one of the rebuild's triggers. MariaDB 10.11 can fail to apply a replicated CREATE TRIGGER
# while the node's own clients write to the table ("Trigger ... has an error in its body"), and with the
# default wsrep_ignore_apply_errors it ignores the failure: that node's writes then miss the copy, and the
# swap drops them (case 4 lost 9 inserts through node 2 this way, once in about fifteen runs). Made
# certain here: a rebuild killed right after its set-up, then node 2's insert trigger dropped on node 2
# alone. The rebuild that resumes must find it before copying, and start over.
front_writer() { # through node 2, inserts tokens whose ids sort before every seeded one, logging each commit
    local n=0
    : >"$LOGS/c5.ins"
    while [ ! -e "$WORK/stop-load" ] && [ "$n" -lt 3000 ]; do
        n=$((n + 1))
        logged_write 2 "$LOGS/c5.ins" "$LOGS/c5.err" "0000-n2-$n" \
            "INSERT INTO token (id, expires, extra, valid, user_id) VALUES ('0000-n2-$n', UTC_TIMESTAMP() + INTERVAL 2 DAY, 'w', 1, 'c5')"
    done
}

case5() {
    say "== case 5: node 2 lost one of the rebuild's triggers; the resumed rebuild finds it and keeps node 2's inserts"
    local t0=$SECONDS
    seed 4000 100 || { fail "case 5: seed"; return; }
    q_all "SET GLOBAL log_bin_trust_function_creators = 1"
    TOKENFLUSH_CRASH_AFTER=triggers run_flush case5-killed 1 --strategy rebuild
    check "case 5: the first rebuild stopped right after its set-up" [ "$(cat "$LOGS/case5-killed.rc")" != 0 ]
    q 2 "SET SESSION wsrep_on = 0; DROP TRIGGER _token_tfins"
    check "case 5: ... and node 2 alone lacks its insert trigger" eq \
        "$(q 2 "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_TABLE = 'token'") $(q 1 "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_TABLE = 'token'")" "2 3"
    rm -f "$WORK/stop-load"
    front_writer & BG_PIDS+=($!)
    rebuild_while_writing case5-rebuild
    local ins i lost=0
    ins=$(sort "$LOGS/c5.ins" | tee "$LOGS/c5.ins.sorted" | wc -l)
    say "      inserts through node 2 that committed: $ins"
    check "case 5: the rebuild completed" flush_ok case5-rebuild
    check "case 5: it said which node lacked a trigger" grep -q "127.0.0.1:${PORT[2]} lacks the rebuild's triggers" "$LOGS/case5-rebuild.err"
    check "case 5: inserts through node 2 overlapped the rebuild" [ "$ins" -gt 10 ]
    for i in 1 2 3; do
        q "$i" "SELECT id FROM token WHERE id LIKE '0000-n2-%'" | sort >"$LOGS/c5.n$i"
        lost=$((lost + $(comm -23 "$LOGS/c5.ins.sorted" "$LOGS/c5.n$i" | wc -l)))
    done
    check "case 5: every committed insert through node 2 is there, on every node" eq "$lost" 0
    check "case 5: no expired row is left" eq "$(n_expired 1)" 0
    check "case 5: nothing of the rebuild is left, on any node" \
        eq "$(for i in 1 2 3; do q "$i" "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'keystone' AND TABLE_NAME LIKE '\\_token\\_tf%'"; done | tr '\n' ' ')" "0 0 0 "
    check "case 5: the three nodes converged" converged
    q_all "SET GLOBAL log_bin_trust_function_creators = DEFAULT"
    say "      case 5 took $((SECONDS - t0)) s"
}

for c in ${CASES:-1 2 3 4 5}; do
    case "$c" in 1) case1 ;; 2) case2 ;; 3) case3 ;; 4) case4 ;; 5) case5 ;; *) fail "unknown case '$c' in CASES" ;; esac
done

say "total $((SECONDS - T_START)) s (cluster start, four cases; stop follows)"
t=$SECONDS
cleanup
say "cluster stopped in $((SECONDS - t)) s"
SUMMARY_DONE=1
summary
