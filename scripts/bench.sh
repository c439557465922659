#!/usr/bin/env bash
# The flush benchmark (issue 4): tokenflush against the real alternatives on identical copies of a
# Keystone token table, with and without a live Keystone-like load. See bench/README.md.
#
#   scripts/bench.sh [--quick] [--rows N] [--regime memory|io|both] [--out FILE]
#                    [--methods LIST] [--no-load] [--no-build] [--monitor-runs N] [--keep-work]
#
#   --quick         100k rows in memory, shorter idle windows: a smoke run in well under 5 minutes
#   --rows N        rows in the table (default: 300000 in memory, 600000 I/O-bound), half expired
#   --regime R      memory (2G buffer pool), io (256M pool) or both (default both; --quick: memory)
#   --out FILE      write the Markdown here (all regimes of the run) instead of
#                   bench/results/<date>-<regime>.md; the SVG charts go beside it
#   --methods LIST  comma-separated subset of: single,keystone-offset,keystone-juno,limit-loop,
#                   pt-archiver,pt-archiver-bulk,tokenflush (default: all but keystone-juno)
#   --no-load       skip the runs under live load
#   --no-build      use the binaries already in target/release and bench/loadgen/target/release
#   --monitor-runs  runs of each monitor for the monitor-cost table (default 50)
#   --keep-work     keep the scratch directory (raw CSVs, status snapshots) and print its path
#   --tokenflush B  the tokenflush binary to measure (default target/release/tokenflush)
#
# Needs what scripts/setup.sh installs (mariadb-server, percona-toolkit, resource-agents, time,
# python3) and a Rust toolchain. Runs nothing outside loopback; every server, load generator and
# scratch directory it starts is stopped or removed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SANDBOX="$ROOT/scripts/mariadb-sandbox.sh"
LOADGEN="$ROOT/bench/loadgen/target/release/loadgen"
TF="$ROOT/target/release/tokenflush"
REPORT="$ROOT/bench/report.py"

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $(date -u +%H:%M:%S) $*" >&2; }
now() { date +%s.%N; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }

quick=0; rows=""; regime=""; out=""; methods="single,keystone-offset,limit-loop,pt-archiver,pt-archiver-bulk,tokenflush"
with_load=1; build=1; monitor_runs=50; keep_work=0
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1; shift ;;
        --rows) rows=$2; shift 2 ;;
        --regime) regime=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --methods) methods=$2; shift 2 ;;
        --no-load) with_load=0; shift ;;
        --no-build) build=0; shift ;;
        --monitor-runs) monitor_runs=$2; shift 2 ;;
        --keep-work) keep_work=1; shift ;;
        --tokenflush) TF=$(realpath "$2"); shift 2 ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
[ -n "$regime" ] || { [ $quick = 1 ] && regime=memory || regime=both; }
case "$regime" in memory|io|both) ;; *) die "--regime must be memory, io or both" ;; esac
[ $quick = 1 ] && [ "$regime" != memory ] && die "--quick runs the memory regime only"
[ -z "$rows" ] || [[ "$rows" =~ ^[0-9]+$ && "$rows" -ge 2000 ]] || die "--rows must be a number >= 2000"

for t in mariadbd mariadb mariadb-install-db pt-archiver python3; do
    command -v "$t" >/dev/null || die "$t is missing: run scripts/setup.sh"
done
[ -x /usr/bin/time ] || die "/usr/bin/time is missing: run scripts/setup.sh"

# ------------------------------------------------------------------ build
if [ $build = 1 ]; then
    log "building bench/loadgen and tokenflush (release)"
    cargo build --release --quiet --manifest-path "$ROOT/bench/loadgen/Cargo.toml"
    if [ "$TF" = "$ROOT/target/release/tokenflush" ]; then
        (cd "$ROOT" && cargo build --release --quiet) || log "WARNING: tokenflush did not build; its rows are skipped"
    fi
fi
[ -x "$LOADGEN" ] || die "$LOADGEN is missing (run without --no-build)"
have_tf=0
if [ -x "$TF" ] && "$TF" flush --help 2>/dev/null | grep -q -- --json; then have_tf=1; fi

# ------------------------------------------------------------------ scratch space and cleanup
WORK=$(mktemp -d /tmp/tokenflush-bench.XXXXXX)
DB="$WORK/db"
bg_pids=()
cleanup() {
    set +e
    for p in "${bg_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${bg_pids[@]}"; do wait "$p" 2>/dev/null; done
    [ -d "$DB" ] && "$SANDBOX" stop "$DB" >/dev/null 2>&1
    if [ $keep_work = 1 ]; then
        rm -rf "$DB"; echo "bench: scratch data kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CTL_USER=root
sql() { mariadb --no-defaults --socket="$DB/sock" -u"$CTL_USER" -N -B "$@"; }   # control connection

wait_purge() { sql -e "SET GLOBAL innodb_max_purge_lag_wait = 0"; }

flush_dirty() { # write back dirty pages so every method starts from the same clean buffer pool
    # (at the default innodb_io_capacity=200 the page cleaner takes minutes; raise it meanwhile)
    sql -e "SET GLOBAL innodb_io_capacity_max = 100000; SET GLOBAL innodb_io_capacity = 50000;
            SET GLOBAL innodb_max_dirty_pages_pct = 0"
    local d
    for _ in $(seq 1 600); do
        d=$(sql -e "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'" | cut -f2)
        [ "${d:-0}" -le 50 ] && break
        sleep 0.2
    done
    sql -e "SET GLOBAL innodb_max_dirty_pages_pct = 90; SET GLOBAL innodb_io_capacity = 200;
            SET GLOBAL innodb_io_capacity_max = 2000"
}

status_snap() { sql -e "SHOW GLOBAL STATUS" >"$1"; }

# ------------------------------------------------------------------ one regime
run_regime() { # run_regime NAME ROWS POOL
    local name=$1 n=$2 pool=$3
    local R="$WORK/$name"; mkdir -p "$R"
    local idle=5; [ $quick = 1 ] && idle=3
    local hist=$(( n / 2 + 20000 ))
    log "regime $name: $n rows, buffer pool $pool"
    local addr
    addr=$("$SANDBOX" start "$DB" -- \
        --innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0 --innodb-buffer-pool-size="$pool" \
        --innodb-log-file-size=512M --max-connections=100 --tmpdir="$WORK" \
        --performance-schema=ON --performance-schema-instrument='transaction=ON' \
        --performance-schema-consumer-events-statements-current=ON \
        --performance-schema-consumer-events-statements-history-long=ON \
        --performance-schema-consumer-events-transactions-current=ON \
        --performance-schema-consumer-events-transactions-history-long=ON \
        --performance-schema-events-statements-history-long-size="$hist" \
        --performance-schema-events-transactions-history-long-size=20000 \
        --performance-schema-max-sql-text-length=256 --performance-schema-max-digest-length=256)
    local port; port=$(echo "$addr" | cut -d' ' -f2)
    local url_root="mysql://root@127.0.0.1:$port/keystone"
    local url_peer="$url_root?prefer_socket=false"
    local url_load="mysql://loadgen@127.0.0.1:$port/keystone?prefer_socket=false"

    # Only the methods' own sessions (user root) are instrumented; the load generator and the
    # sampler log in as `loadgen`, and this script's control connection as `ctl`, so they stay out
    # of performance_schema's history.
    CTL_USER=root
    "$SANDBOX" schema "$DB" bench >/dev/null      # bench.token: the empty Keystone table, the template
    "$SANDBOX" schema "$DB" keystone >/dev/null
    sql <<SQL
CREATE USER IF NOT EXISTS ctl@localhost;
GRANT ALL ON *.* TO ctl@localhost WITH GRANT OPTION;
CREATE USER IF NOT EXISTS loadgen@'%';
GRANT SELECT, INSERT ON keystone.* TO loadgen@'%';
GRANT PROCESS ON *.* TO loadgen@'%';
UPDATE performance_schema.setup_actors SET ENABLED = 'NO', HISTORY = 'NO';
INSERT INTO performance_schema.setup_actors (HOST, USER, ROLE, ENABLED, HISTORY) VALUES ('%', 'root', '%', 'YES', 'YES');
SET GLOBAL innodb_monitor_enable = 'purge_del_mark_records';
SQL
    CTL_USER=ctl

    # The source data, built once with set-based SQL and inserted in primary-key order. Half the rows
    # expired 10 min to hours ago, half expire 2 h to hours from now (so none crosses "now" during
    # the run); about 14 tokens share each second. ids are random 64-hex (SHA2), expiries come from
    # an independent hash (MD5), so id order and expiry order are uncorrelated, as in production.
    log "building $n rows"
    local tb; tb=$(now)
    sql bench <<SQL
CREATE TABLE token_src (id VARCHAR(64) NOT NULL, expires DATETIME NULL, extra TEXT NULL,
    valid TINYINT(1) NOT NULL DEFAULT 1, trust_id VARCHAR(64) NULL, user_id VARCHAR(64) NULL,
    PRIMARY KEY (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3;
SET @now = UTC_TIMESTAMP(), @w = GREATEST(1, ROUND($n / 2 / 14));
SET SESSION max_length_for_sort_data = 8192, sort_buffer_size = 256 * 1024 * 1024;
INSERT INTO token_src
SELECT SHA2(seq, 256),
       IF(seq % 2 = 0, @now - INTERVAL 600 SECOND - INTERVAL (CONV(SUBSTR(MD5(seq), 1, 8), 16, 10) % @w) SECOND,
                       @now + INTERVAL 7200 SECOND + INTERVAL (CONV(SUBSTR(MD5(seq), 1, 8), 16, 10) % @w) SECOND),
       CAST(CONCAT('{"token_data": {"token": {"methods": ["password"], "user": {"id": "', MD5(seq % 1000),
                   '"}, "catalog": "', REPEAT(MD5(seq), 29), '"}}}') AS CHAR(1100)),
       1, IF(seq % 50 = 0, MD5(seq + 1), NULL), MD5(seq % 1000)
FROM seq_1_to_$n ORDER BY 1;
SQL
    local build_s; build_s=$(minus "$(now)" "$tb")
    sql bench -e "SELECT COUNT(*), SUM(expires < UTC_TIMESTAMP()), ROUND(AVG(LENGTH(extra))),
        (SELECT ROUND(COUNT(*) / COUNT(DISTINCT expires), 1) FROM token_src WHERE expires < UTC_TIMESTAMP())
        FROM token_src" >"$R/data.tsv"
    log "built in ${build_s}s: $(cat "$R/data.tsv")"
    local tf_sha=none; [ -x "$TF" ] && tf_sha=$(sha256sum "$TF" | cut -c1-12)
    printf '{"regime": "%s", "rows": %s, "pool": "%s", "build_seconds": %s, "port": %s, "idle_seconds": %s, "tokenflush": %s, "date": "%s", "version": "%s", "git": "%s", "tokenflush_rev": "%s", "tokenflush_sha256": "%s"}\n' \
        "$name" "$n" "$pool" "$build_s" "$port" "$idle" "$have_tf" "$(date -u +%FT%TZ)" \
        "$(sql -e 'SELECT VERSION()')" "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)" \
        "${BENCH_TOKENFLUSH_REV:-working tree}" "$tf_sha" >"$R/regime.json"

    local phases="quiet"; [ $with_load = 1 ] && phases="quiet load"
    local m phase
    for m in ${methods//,/ }; do
        if [ "$m" = tokenflush ] && [ $have_tf = 0 ]; then log "skipping tokenflush: no 'tokenflush flush --json' yet"; continue; fi
        for phase in $phases; do
            run_one "$R" "$m" "$phase" "$port" "$url_root" "$url_peer" "$url_load" "$idle"
        done
    done

    monitor_cost "$R" "$url_root"
    table_size "$R"
    "$SANDBOX" stop "$DB"
    rm -rf "$DB"
}

table_size() {
    sql -e "SELECT ROUND(data_length / 1048576), ROUND(index_length / 1048576) FROM information_schema.tables
            WHERE table_schema = 'bench' AND table_name = 'token_src'" >"$1/size.tsv" 2>/dev/null || true
}

method_cmd() { # method_cmd METHOD PORT URL_ROOT URL_PEER -> the client command line, one word a line
    local m=$1 port=$2 url_root=$3 url_peer=$4
    local dsn="h=127.0.0.1,P=$port,u=root,D=keystone,t=token,A=utf8"
    case "$m" in
        single) printf '%s\n' mariadb --no-defaults -h127.0.0.1 -P"$port" -uroot -N -B keystone \
                    -e "DELETE FROM token WHERE expires < UTC_TIMESTAMP(); SELECT ROW_COUNT()" ;;
        keystone-offset) printf '%s\n' "$LOADGEN" keystone-offset --url "$url_peer" --batch 1000 ;;
        keystone-juno) printf '%s\n' "$LOADGEN" keystone-offset --url "$url_peer" --batch 1000 --single-trx ;;
        limit-loop) printf '%s\n' "$LOADGEN" limit-loop --url "$url_peer" --batch 1000 --isolation read-committed ;;
        pt-archiver) printf '%s\n' pt-archiver --source "$dsn" --purge --where 'expires < UTC_TIMESTAMP()' \
                    --limit 1000 --commit-each --statistics ;;
        pt-archiver-bulk) printf '%s\n' pt-archiver --source "$dsn" --purge --where 'expires < UTC_TIMESTAMP()' \
                    --limit 1000 --commit-each --bulk-delete --statistics ;;
        tokenflush) printf '%s\n' "$TF" flush --connection "$url_root" --grace 0 --json ;;
        *) die "unknown method $m" ;;
    esac
}

run_one() { # run_one DIR METHOD PHASE PORT URL_ROOT URL_PEER URL_LOAD IDLE
    local R=$1 m=$2 phase=$3 port=$4 url_root=$5 url_peer=$6 url_load=$7 idle=$8
    local P="$R/$m.$phase"
    log "$m ($phase): copying the table"
    sql keystone <<SQL
DROP TABLE IF EXISTS token;
CREATE TABLE token LIKE bench.token;
INSERT INTO token SELECT * FROM bench.token_src;
ANALYZE TABLE token;
SQL
    wait_purge
    flush_dirty
    local cutoff expired_before total_before
    cutoff=$(sql -e "SELECT UTC_TIMESTAMP()")
    expired_before=$(sql keystone -e "SELECT COUNT(*) FROM token WHERE expires < '$cutoff'")
    total_before=$(sql keystone -e "SELECT COUNT(*) FROM token")
    sql -e "TRUNCATE performance_schema.events_statements_history_long;
            TRUNCATE performance_schema.events_transactions_history_long;
            TRUNCATE performance_schema.events_statements_summary_by_digest"

    local samp_pid load_pid="" idle_start=0
    rm -f "$P.sready" "$P.lready"
    "$LOADGEN" sample --url "$url_load" --interval-ms 100 --out "$P.sample.csv" --ready-file "$P.sready" \
        --max-seconds 3600 2>"$P.sample.err" &
    samp_pid=$!; bg_pids+=("$samp_pid")
    if [ "$phase" = load ]; then
        "$LOADGEN" load --url "$url_load" --rate 200 --conns 4 --out "$P.load.csv" --ready-file "$P.lready" \
            --max-seconds 3600 2>"$P.load.err" &
        load_pid=$!; bg_pids+=("$load_pid")
    fi
    for _ in $(seq 1 200); do
        [ -f "$P.sready" ] && { [ -z "$load_pid" ] || [ -f "$P.lready" ]; } && break
        sleep 0.05
    done
    if [ -n "$load_pid" ]; then
        sleep 0.5; idle_start=$(now); sleep "$idle"
    else
        sleep 0.3
    fi

    local -a cmd; mapfile -t cmd < <(method_cmd "$m" "$port" "$url_root" "$url_peer")
    status_snap "$P.status0"
    log "$m ($phase): running"
    local t0 t1 t2 rc=0
    t0=$(now)
    /usr/bin/time -f '%M %e' -o "$P.time" "${cmd[@]}" >"$P.out" 2>"$P.err" </dev/null || rc=$?
    t1=$(now)
    status_snap "$P.status1"
    if [ -n "$load_pid" ]; then
        kill -TERM "$load_pid"; wait "$load_pid" || true
    fi
    local t_load_stopped; t_load_stopped=$(now)
    wait_purge
    t2=$(now)
    status_snap "$P.status2"
    kill -TERM "$samp_pid"; wait "$samp_pid" || true
    bg_pids=()

    local expired_after total_after
    expired_after=$(sql keystone -e "SELECT COUNT(*) FROM token WHERE expires < '$cutoff'")
    total_after=$(sql keystone -e "SELECT COUNT(*) FROM token")
    # Exact rows per transaction: every statement of the method's session(s) that changed rows, with
    # its ROWS_AFFECTED, and every transaction, from performance_schema's history (bench/README.md).
    sql -e "SELECT THREAD_ID, EVENT_ID, IFNULL(NESTING_EVENT_ID, 0), IFNULL(NESTING_EVENT_TYPE, ''), ROWS_AFFECTED,
                   TIMER_START, TIMER_WAIT, ROWS_EXAMINED
            FROM performance_schema.events_statements_history_long
            WHERE ROWS_AFFECTED > 0 OR EVENT_NAME LIKE 'statement/sql/delete%'" >"$P.ps_stmt.tsv"
    sql -e "SELECT THREAD_ID, EVENT_ID, IFNULL(NESTING_EVENT_ID, 0), IFNULL(NESTING_EVENT_TYPE, ''), STATE
            FROM performance_schema.events_transactions_history_long" >"$P.ps_trx.tsv"
    sql -e "SELECT COUNT(*), @@performance_schema_events_statements_history_long_size
            FROM performance_schema.events_statements_history_long" >"$P.ps_count.tsv"
    # Server time by statement shape (prepared statements carry no text: they are told apart by
    # whether they changed rows).
    sql -e "SELECT COUNT(*), ROUND(SUM(TIMER_WAIT) / 1e12, 3), SUM(ROWS_AFFECTED), SUM(ROWS_EXAMINED), k FROM (
              SELECT TIMER_WAIT, ROWS_AFFECTED, ROWS_EXAMINED,
                     REPLACE(IFNULL(LEFT(DIGEST_TEXT, 110), IF(ROWS_AFFECTED > 0, '(prepared) changed rows',
                             '(prepared) changed nothing')), '\t', ' ') AS k
              FROM performance_schema.events_statements_history_long
              WHERE EVENT_NAME NOT IN ('statement/com/Quit', 'statement/com/Prepare', 'statement/com/Close stmt')) x
            GROUP BY k ORDER BY 2 DESC LIMIT 8" >"$P.digest.tsv"
    printf '{"method": "%s", "phase": "%s", "rc": %s, "t0": %s, "t1": %s, "t_load_stopped": %s, "t2": %s, "idle_start": %s, "cutoff": "%s", "expired_before": %s, "expired_after": %s, "total_before": %s, "total_after": %s}\n' \
        "$m" "$phase" "$rc" "$t0" "$t1" "$t_load_stopped" "$t2" "$idle_start" "$cutoff" \
        "$expired_before" "$expired_after" "$total_before" "$total_after" >"$P.run.json"
    log "$m ($phase): rc=$rc, $((expired_before - expired_after)) rows, $(minus "$t1" "$t0")s to commit, $(minus "$t2" "$t0")s to purged"
    [ $rc = 0 ] || { log "$m ($phase) failed:"; tail -5 "$P.err" >&2; }
}

monitor_cost() { # monitor_cost DIR URL: tokenflush monitor with nothing due against ocf:heartbeat:Dummy
    local R=$1 url=$2
    local dummy=/usr/lib/ocf/resource.d/heartbeat/Dummy
    if [ $have_tf = 0 ] || [ ! -x "$dummy" ]; then log "skipping the monitor cost (no tokenflush or no Dummy agent)"; return; fi
    local S="$WORK/monitor"; mkdir -p "$S/state"
    log "monitor cost: $monitor_runs runs each"
    python3 "$REPORT" moncost --runs "$monitor_runs" --out "$R/moncost.json" \
        --tokenflush "$TF" --url "$url" --state-dir "$S/state" --dummy "$dummy" --dummy-state "$S/dummy.state" \
        || log "WARNING: the monitor cost measurement failed"
    rm -rf "$S"
}

# ------------------------------------------------------------------ main
[ -z "$out" ] || mkdir -p "$(dirname "$out")"
date_tag=$(date -u +%F)
regimes=()
case "$regime" in
    memory) regimes=(memory) ;;
    io) regimes=(io) ;;
    both) regimes=(memory io) ;;
esac
mds=()
for r in "${regimes[@]}"; do
    case "$r" in
        memory) n=${rows:-300000}; pool=2G; [ $quick = 1 ] && n=${rows:-100000} && pool=1G ;;
        io) n=${rows:-600000}; pool=256M ;;
    esac
    name=$r; [ $quick = 1 ] && name=quick
    run_regime "$name" "$n" "$pool"
    if [ -n "$out" ]; then
        md="$WORK/$name.md"; svg="${out%.md}-$name.svg"
    else
        mkdir -p "$ROOT/bench/results"
        md="$ROOT/bench/results/$date_tag-$name.md"; svg="$ROOT/bench/results/$date_tag-$name.svg"
    fi
    python3 "$REPORT" report --dir "$WORK/$name" --md "$md" --svg "$svg"
    mds+=("$md")
done
if [ -n "$out" ]; then
    mkdir -p "$(dirname "$out")"
    cat "${mds[@]}" >"$out"
    cat "$out"
    log "wrote $out"
else
    cat "${mds[@]}"
    log "wrote ${mds[*]}"
fi
