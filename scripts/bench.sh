#!/usr/bin/env bash
# The flush benchmark (issues 4 and 11): tokenflush against the real alternatives on identical,
# production-shaped copies of a Keystone token table, in three regimes (steady state, half expired,
# neglected), each in memory and I/O-bound, with and without a live Keystone-like load.
# See bench/README.md.
#
#   scripts/bench.sh [--quick] [--rows N] [--regime LIST] [--pool LIST] [--out FILE]
#                    [--methods LIST] [--no-load] [--no-build] [--monitor-runs N] [--keep-work]
#                    [--tokenflush BIN]
#
#   --quick         15k rows, small buffer pools, 1.5 s idle windows, the main methods only: a smoke
#                   run of every regime in 2 to 3 minutes
#   --rows N        rows in every regime's table (default 150000)
#   --regime LIST   comma-separated subset of steady,half,neglected (default all three)
#   --pool LIST     comma-separated subset of memory,io (default both)
#   --out FILE      write the summary (targets, every regime side by side) to FILE and each
#                   regime's Markdown, chart and JSON beside it as FILE-<regime>-<pool>.*, instead
#                   of bench/results/<date>-summary.md and bench/results/<date>-<regime>-<pool>.*
#   --methods LIST  run only these methods (names as in METHODS below), in every regime
#   --no-load       skip the runs under live load
#   --no-build      use the binaries already in target/release and bench/loadgen/target/release
#   --monitor-runs  runs of each monitor for the monitor-cost table (default 50; --quick: 10)
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

# ------------------------------------------------------------------ what is measured
# The regimes: name | expired rows per thousand | what it stands for.
REGIMES='
steady|40|the steady state: a table flushed regularly, a few percent expired
half|500|half expired: a flush that was skipped for a while
neglected|900|a neglected table: 90 % expired, never flushed
'
# The buffer-pool configurations every regime runs in: name | pool (full run) | pool (--quick).
POOLS='
memory|1G|256M
io|64M|16M
'
# The methods, in the order of the report: name | what it needs | phases | phases with --quick |
# regimes | label.
#   needs:   - (nothing), tf (a tokenflush with `flush --json`), strategy (one whose `flush --help`
#            lists --strategy); a method whose need is not met is reported "not available in this build"
#   phases:  quiet (alone) and/or load (under the live load); "-": not run
#   regimes: all, or the regimes that run it by default (--methods runs the named ones everywhere,
#            in their full-run phases); "-" runs it only when --methods names it
# The command of each is in method_cmd below.
METHODS='
single|-|quiet,load|quiet|all|single DELETE
keystone-juno|-|quiet,load|-|-|Keystone OFFSET, one trx (Juno–Ocata)
keystone-offset|-|quiet,load|-|half|Keystone OFFSET (Pike–Queens)
limit-loop|-|quiet,load|-|half|LIMIT-1000 loop (READ COMMITTED)
pt-archiver|-|quiet,load|-|half|pt-archiver
pt-archiver-bulk|-|quiet,load|quiet,load|all|pt-archiver --bulk-delete
pt-archiver-optimize|-|quiet,load|quiet,load|all|pt-archiver --bulk-delete, then OPTIMIZE TABLE
tokenflush|tf|quiet,load|quiet,load|all|tokenflush flush (defaults)
tokenflush-expiry|tf|quiet|-|all|tokenflush --walk expiry
tokenflush-pk|tf|quiet|-|all|tokenflush --walk primary-key
tokenflush-delete|strategy|quiet,load|quiet|all|tokenflush --strategy delete
tokenflush-rebuild|strategy|quiet,load|quiet,load|all|tokenflush --strategy rebuild
tokenflush-auto|strategy|quiet,load|quiet,load|all|tokenflush --strategy auto
'

quick=0; rows=""; regime_list="steady,half,neglected"; pool_list="memory,io"; out=""; only_methods=""
with_load=1; build=1; monitor_runs=50; monitor_set=0; keep_work=0
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1; shift ;;
        --rows) rows=$2; shift 2 ;;
        --regime) regime_list=$2; shift 2 ;;
        --pool) pool_list=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --methods) only_methods=$2; shift 2 ;;
        --no-load) with_load=0; shift ;;
        --no-build) build=0; shift ;;
        --monitor-runs) monitor_runs=$2; monitor_set=1; shift 2 ;;
        --keep-work) keep_work=1; shift ;;
        --tokenflush) TF=$(realpath "$2"); shift 2 ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
[ -z "$rows" ] || [[ "$rows" =~ ^[0-9]+$ && "$rows" -ge 2000 ]] || die "--rows must be a number >= 2000"
[ -n "$rows" ] || { [ $quick = 1 ] && rows=15000 || rows=150000; }
[ $quick = 1 ] && [ "$monitor_set" = 0 ] && monitor_runs=10
for r in ${regime_list//,/ }; do grep -q "^$r|" <<<"$REGIMES" || die "unknown regime $r (steady, half, neglected)"; done
for p in ${pool_list//,/ }; do grep -q "^$p|" <<<"$POOLS" || die "unknown pool $p (memory, io)"; done
for m in ${only_methods//,/ }; do grep -q "^$m|" <<<"$METHODS" || die "unknown method $m"; done

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
# What this tokenflush build can do, from its own help: `flush --json` (every tokenflush method)
# and `flush --strategy` (the strategy methods).
have_tf=0; have_strategy=0
if [ -x "$TF" ]; then
    tf_help=$("$TF" flush --help 2>/dev/null || true)
    grep -q -- --json <<<"$tf_help" && have_tf=1
    [ $have_tf = 1 ] && grep -q -- --strategy <<<"$tf_help" && have_strategy=1
fi
log "tokenflush: $([ $have_tf = 1 ] && echo "$TF" || echo "none"), --strategy: $([ $have_strategy = 1 ] && echo yes || echo "not in this build")"

method_phases() { # method_phases NAME -> the phases this run gives it ("-": none)
    local line; line=$(grep "^$1|" <<<"$METHODS")
    if [ $quick = 1 ] && [ -z "$only_methods" ]; then cut -d'|' -f4 <<<"$line"; else cut -d'|' -f3 <<<"$line"; fi
}

method_status() { # method_status NAME REGIME -> run | skip | <why it is not run>
    local m=$1 reg=$2 line needs regs
    line=$(grep "^$m|" <<<"$METHODS")
    needs=$(cut -d'|' -f2 <<<"$line"); regs=$(cut -d'|' -f5 <<<"$line")
    if [ -n "$only_methods" ]; then
        [[ ",$only_methods," == *",$m,"* ]] || { echo skip; return; }
    else
        [ "$regs" = all ] || [[ ",$regs," == *",$reg,"* ]] || { echo skip; return; }
        [ "$(method_phases "$m")" != - ] || { echo skip; return; }
    fi
    case "$needs" in
        tf) [ $have_tf = 1 ] || { echo "no tokenflush binary with flush --json"; return; } ;;
        strategy) [ $have_strategy = 1 ] || { echo "not available in this build"; return; } ;;
    esac
    echo run
}

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
        rm -rf "$DB" "$WORK"/*/golden; echo "bench: scratch data kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CTL_USER=root
sql() { mariadb --no-defaults --socket="$DB/sock" -u"$CTL_USER" -N -B "$@"; }   # control connection

wait_purge() { sql -e "SET GLOBAL innodb_max_purge_lag_wait = ${1:-0}"; }

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

# table_sizes SCHEMA TABLE -> "ibd_bytes data_length index_length data_free" (after ANALYZE TABLE, so
# DATA_LENGTH and INDEX_LENGTH are the indexes' current segment sizes, not stale statistics)
table_sizes() {
    local s=$1 t=$2 f="$DB/data/$1/$2.ibd"
    sql -e "ANALYZE TABLE \`$s\`.\`$t\`" >/dev/null
    printf '%s\t%s\n' "$(stat -c %s "$f" 2>/dev/null || echo 0)" \
        "$(sql -e "SELECT data_length, index_length, data_free FROM information_schema.tables
                   WHERE table_schema = '$s' AND table_name = '$t'")"
}

server_start() { # server_start POOL HIST: sets port and the URLs
    local pool=$1 hist=$2 addr
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
    port=$(echo "$addr" | cut -d' ' -f2)
    url_root="mysql://root@127.0.0.1:$port/keystone"
    url_peer="$url_root?prefer_socket=false"
    url_load="mysql://loadgen@127.0.0.1:$port/keystone?prefer_socket=false"
    url_ctl="mysql://ctl@127.0.0.1:$port/?prefer_socket=false"
    # Only the methods' own sessions (user root) are instrumented; the load generator and the
    # sampler log in as `loadgen`, and this script's control connection as `ctl`, so they stay out
    # of performance_schema's history. (setup_actors is not persistent: set at every start.)
    CTL_USER=root
    sql <<SQL
CREATE USER IF NOT EXISTS ctl@localhost;
GRANT ALL ON *.* TO ctl@localhost WITH GRANT OPTION;
CREATE USER IF NOT EXISTS ctl@'127.0.0.1';
GRANT ALL ON *.* TO ctl@'127.0.0.1';
CREATE USER IF NOT EXISTS loadgen@'%';
GRANT SELECT, INSERT ON keystone.* TO loadgen@'%';
GRANT PROCESS ON *.* TO loadgen@'%';
UPDATE performance_schema.setup_actors SET ENABLED = 'NO', HISTORY = 'NO';
INSERT INTO performance_schema.setup_actors (HOST, USER, ROLE, ENABLED, HISTORY) VALUES ('%', 'root', '%', 'YES', 'YES');
SET GLOBAL innodb_monitor_enable = 'purge_del_mark_records';
SQL
    CTL_USER=ctl
}

# ------------------------------------------------------------------ the production-shaped source
# Keystone writes one token per request, in time order, with a random id (uuid4().hex); every token
# lives as long as the others, so the table is filled in expiry order. The clustered index (random
# ids) therefore grows by page splits and ends up with pages about 2/3 full, scattered over the
# file, while the expiry index is appended at its end. build_source does exactly that: rows in
# expiry order, random 32-hex ids, 100 rows per autocommit INSERT (a few concurrent requests' worth),
# into the real Keystone table with all its indexes.
build_source() { # build_source N EXPIRED SEED
    local n=$1 e=$2 seed=$3
    sql bench <<SQL
CREATE TABLE token_src LIKE token;
DROP PROCEDURE IF EXISTS build_tokens;
DELIMITER //
CREATE PROCEDURE build_tokens(n INT, e INT, b INT, seed VARCHAR(32))
BEGIN
  -- Row k (1..n) is the k-th token issued. The first e expired 10 min to hours ago, the others
  -- expire 2 h to hours from now (so none crosses "now" during the run); 14 tokens per second.
  DECLARE k INT DEFAULT 1;
  SET @now = UTC_TIMESTAMP();
  WHILE k <= n DO
    INSERT INTO token_src (id, expires, extra, valid, trust_id, user_id)
    SELECT MD5(CONCAT(seed, ':', seq)),
           IF(seq <= e, @now - INTERVAL 600 SECOND - INTERVAL FLOOR((e - seq) / 14) SECOND,
                        @now + INTERVAL 7200 SECOND + INTERVAL FLOOR((seq - e - 1) / 14) SECOND),
           CONCAT('{"token_data": {"token": {"methods": ["password"], "user": {"id": "', MD5(seq % 1000),
                  '"}, "catalog": "', REPEAT(MD5(seq), 29), '"}}}'),
           1, IF(seq % 50 = 0, MD5(CONCAT(seed, ':trust:', seq)), NULL), MD5(seq % 1000)
    FROM seq_1_to_$n WHERE seq BETWEEN k AND LEAST(n, k + b - 1) ORDER BY seq;
    SET k = k + b;
  END WHILE;
END//
DELIMITER ;
CALL build_tokens($n, $e, 100, '$seed');
DROP PROCEDURE build_tokens;
SQL
}

# compact_sizes SELECT NAME: sizes of a freshly built table holding the rows of SELECT (what
# OPTIMIZE TABLE makes of them: every index built sorted), into NAME.tsv; the table is dropped after.
compact_sizes() {
    local what=$1 file=$2
    sql bench <<SQL >/dev/null
DROP TABLE IF EXISTS fresh;
CREATE TABLE fresh LIKE token;
INSERT INTO fresh $what;
OPTIMIZE TABLE fresh;
SQL
    table_sizes bench fresh >"$file"
    sql bench -e "DROP TABLE fresh"
}

# ------------------------------------------------------------------ identical copies
# Every run gets its own copy of the source, as a byte copy of the source's tablespace file
# (FLUSH TABLES … FOR EXPORT once, then ALTER TABLE … IMPORT TABLESPACE per copy): the copy has the
# source's page layout, page for page, which no INSERT … SELECT would keep. check_copy verifies it.
make_copy() { # make_copy GOLDEN_DIR
    local g=$1
    sql <<SQL
DROP DATABASE IF EXISTS keystone;
CREATE DATABASE keystone;
CREATE TABLE keystone.token LIKE bench.token;
ALTER TABLE keystone.token DISCARD TABLESPACE;
SQL
    cp "$g/token.ibd" "$g/token.cfg" "$DB/data/keystone/"
    sync "$DB/data/keystone/token.ibd"   # no write-back of the copy left to run during a method
    sql -e "ALTER TABLE keystone.token IMPORT TABLESPACE"
    rm -f "$DB/data/keystone/token.cfg"
}

warm_copy() { # read every index once, the clustered index first: in memory the whole table is
    # then cached, I/O-bound the pool holds the secondary indexes and the last part of the scan
    sql keystone <<SQL >/dev/null
SELECT SUM(LENGTH(extra)) FROM token FORCE INDEX (PRIMARY);
SELECT COUNT(user_id) FROM token FORCE INDEX (ix_token_user_id);
SELECT COUNT(trust_id) FROM token FORCE INDEX (ix_token_trust_id);
SELECT COUNT(valid) FROM token FORCE INDEX (ix_token_expires_valid);
SELECT COUNT(expires) FROM token FORCE INDEX (ix_token_expires);
SQL
}

check_copy() { # check_copy GOLDEN_DIR OUT_JSON: a copy's pages against the source's
    local g=$1 o=$2
    sql <<SQL
FLUSH TABLES keystone.token FOR EXPORT;
system python3 "$REPORT" pages "$DB/data/keystone/token.ibd" --against "$g/pages.json" --out "$o"
UNLOCK TABLES;
SQL
}

# ------------------------------------------------------------------ one regime
run_regime() { # run_regime REGIME PERMILLE
    local reg=$1 pm=$2
    local e=$(( rows * pm / 1000 ))
    local idle=5; [ $quick = 1 ] && idle=1.5
    local hist=$(( e + 20000 ))
    local G="$WORK/$reg/golden"; mkdir -p "$G"
    local build_pool p
    build_pool=$(pool_size memory)
    log "regime $reg: $rows rows, $e expired; building the source with a $build_pool pool"
    server_start "$build_pool" "$hist"
    "$SANDBOX" schema "$DB" bench >/dev/null      # bench.token: the empty Keystone table, the template
    local tb; tb=$(now)
    build_source "$rows" "$e" "$reg"
    local build_s; build_s=$(minus "$(now)" "$tb")
    sql bench -e "SELECT COUNT(*), SUM(expires < UTC_TIMESTAMP()), ROUND(AVG(LENGTH(extra))),
        (SELECT ROUND(COUNT(*) / COUNT(DISTINCT expires), 1) FROM token_src WHERE expires < UTC_TIMESTAMP())
        FROM token_src" >"$WORK/$reg/data.tsv"
    table_sizes bench token_src >"$WORK/$reg/source.tsv"
    log "built in ${build_s}s: $(cat "$WORK/$reg/data.tsv"); .ibd, data, index, free: $(cat "$WORK/$reg/source.tsv")"
    # The references: the same rows freshly built (compact), and the rows that stay, freshly built:
    # what the table's file would be after a perfect flush that returns the space.
    local tr; tr=$(now)
    compact_sizes "SELECT * FROM token_src" "$WORK/$reg/compact.tsv"
    compact_sizes "SELECT * FROM token_src WHERE expires >= UTC_TIMESTAMP()" "$WORK/$reg/fresh.tsv"
    log "references in $(minus "$(now)" "$tr")s: all rows compact $(cat "$WORK/$reg/compact.tsv"); rows that stay $(cat "$WORK/$reg/fresh.tsv")"
    sql <<SQL
FLUSH TABLES bench.token_src FOR EXPORT;
system cp "$DB/data/bench/token_src.ibd" "$G/token.ibd"
system cp "$DB/data/bench/token_src.cfg" "$G/token.cfg"
UNLOCK TABLES;
DROP TABLE bench.token_src;
SQL
    python3 "$REPORT" pages "$G/token.ibd" --out "$G/pages.json"
    cp "$G/pages.json" "$WORK/$reg/source.pages.json"

    local pool cur="$build_pool"
    for p in ${pool_list//,/ }; do
        pool=$(pool_size "$p")
        if [ "$pool" != "$cur" ]; then
            log "regime $reg: restarting the server with a $pool buffer pool"
            "$SANDBOX" stop "$DB"; server_start "$pool" "$hist"; cur=$pool
        fi
        local R="$WORK/$reg-$p"; mkdir -p "$R"
        cp "$WORK/$reg/"{data.tsv,source.tsv,compact.tsv,fresh.tsv,source.pages.json} "$R/"
        local tf_sha=none; [ -x "$TF" ] && tf_sha=$(sha256sum "$TF" | cut -c1-12)
        printf '{"regime": "%s", "pool_name": "%s", "expired_permille": %s, "rows": %s, "pool": "%s", "build_seconds": %s, "port": %s, "idle_seconds": %s, "tokenflush": %s, "strategy": %s, "quick": %s, "date": "%s", "version": "%s", "git": "%s", "tokenflush_rev": "%s", "tokenflush_sha256": "%s"}\n' \
            "$reg" "$p" "$pm" "$rows" "$pool" "$build_s" "$port" "$idle" "$have_tf" "$have_strategy" "$quick" "$(date -u +%FT%TZ)" \
            "$(sql -e 'SELECT VERSION()')" "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)" \
            "${BENCH_TOKENFLUSH_REV:-working tree}" "$tf_sha" >"$R/regime.json"
        # The copy check: the first copy of every pool, page for page against the source.
        make_copy "$G"
        check_copy "$G" "$R/copycheck.json"
        table_sizes keystone token >"$R/copy.tsv"
        log "$reg-$p: copy check: $(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('identical page layout' if d['same_layout'] else 'LAYOUT DIFFERS')" "$R/copycheck.json"); sizes $(cat "$R/copy.tsv")"

        local m phases label st phase
        : >"$R/methods.tsv"
        while IFS='|' read -r -u 3 m _ _ _ _ label; do
            [ -n "$m" ] || continue
            st=$(method_status "$m" "$reg")
            phases=$(method_phases "$m")
            [ "$st" = skip ] && continue
            printf '%s\t%s\t%s\n' "$m" "$label" "$st" >>"$R/methods.tsv"
            if [ "$st" != run ]; then log "$m: $st"; continue; fi
            for phase in ${phases//,/ }; do
                [ "$phase" = load ] && [ $with_load = 0 ] && continue
                run_one "$R" "$m" "$phase" "$idle" "$G"
            done
        done 3<<<"$METHODS"
        monitor_cost "$R" "$url_root"
    done
    "$SANDBOX" stop "$DB"
    rm -rf "$DB" "$G"
}

pool_size() { # pool_size NAME -> the buffer pool of that configuration for this run
    local line; line=$(grep "^$1|" <<<"$POOLS")
    if [ $quick = 1 ]; then cut -d'|' -f3 <<<"$line"; else cut -d'|' -f2 <<<"$line"; fi
}

method_cmd() { # method_cmd METHOD P -> the client command line, one word a line
    local m=$1 P=$2
    local dsn="h=127.0.0.1,P=$port,u=root,D=keystone,t=token,A=utf8"
    local pt=(pt-archiver --source "$dsn" --purge --where 'expires < UTC_TIMESTAMP()' --limit 1000 --commit-each --statistics)
    local tf=("$TF" flush --connection "$url_root" --grace 0 --json) tf_delete=()
    [ $have_strategy = 1 ] && tf_delete=(--strategy delete)
    case "$m" in
        single) printf '%s\n' mariadb --no-defaults -h127.0.0.1 -P"$port" -uroot -N -B keystone \
                    -e "DELETE FROM token WHERE expires < UTC_TIMESTAMP(); SELECT ROW_COUNT()" ;;
        keystone-offset) printf '%s\n' "$LOADGEN" keystone-offset --url "$url_peer" --batch 1000 ;;
        keystone-juno) printf '%s\n' "$LOADGEN" keystone-offset --url "$url_peer" --batch 1000 --single-trx ;;
        limit-loop) printf '%s\n' "$LOADGEN" limit-loop --url "$url_peer" --batch 1000 --isolation read-committed ;;
        pt-archiver) printf '%s\n' "${pt[@]}" ;;
        pt-archiver-bulk) printf '%s\n' "${pt[@]}" --bulk-delete ;;
        # What an operator who wants the space back runs: the purge, then the rebuild. The moment
        # pt-archiver ends is kept in $P.mid.
        pt-archiver-optimize) printf '%s\n' sh -c '"$@" && date +%s.%N >"$0" && exec mariadb --no-defaults -h127.0.0.1 -P"'"$port"'" -uroot -N -B keystone -e "OPTIMIZE TABLE token"' \
                    "$P.mid" "${pt[@]}" --bulk-delete ;;
        tokenflush) printf '%s\n' "${tf[@]}" ;;
        # The walks are the delete strategy's: say so to a build that has other strategies.
        tokenflush-expiry) printf '%s\n' "${tf[@]}" "${tf_delete[@]}" --walk expiry ;;
        tokenflush-pk) printf '%s\n' "${tf[@]}" "${tf_delete[@]}" --walk primary-key ;;
        tokenflush-delete) printf '%s\n' "${tf[@]}" --strategy delete ;;
        tokenflush-rebuild) printf '%s\n' "${tf[@]}" --strategy rebuild ;;
        tokenflush-auto) printf '%s\n' "${tf[@]}" --strategy auto ;;
        *) die "unknown method $m" ;;
    esac
}

run_one() { # run_one DIR METHOD PHASE IDLE GOLDEN_DIR
    local R=$1 m=$2 phase=$3 idle=$4 G=$5
    local P="$R/$m.$phase" ibd="$DB/data/keystone/token.ibd"
    log "$m ($phase): copying the table"
    local tc tw tf; tc=$(now)
    make_copy "$G"
    sql -e "ANALYZE TABLE keystone.token" >/dev/null
    tw=$(now)
    warm_copy
    tf=$(now)
    wait_purge
    flush_dirty
    local cutoff expired_before total_before hist0
    cutoff=$(sql -e "SELECT UTC_TIMESTAMP()")
    expired_before=$(sql keystone -e "SELECT COUNT(*) FROM token WHERE expires < '$cutoff'")
    total_before=$(sql keystone -e "SELECT COUNT(*) FROM token")
    table_sizes keystone token >"$P.size0"
    local ino0; ino0=$(stat -c %i "$ibd")
    sql -e "TRUNCATE performance_schema.events_statements_history_long;
            TRUNCATE performance_schema.events_transactions_history_long;
            TRUNCATE performance_schema.events_statements_summary_by_digest"
    hist0=$(sql -e "SHOW GLOBAL STATUS LIKE 'Innodb_history_list_length'" | cut -f2)
    local prep_s; prep_s=$(minus "$(now)" "$tc")

    local loadavg; loadavg=$(cut -d' ' -f1 /proc/loadavg)   # other work on the machine, for the report
    local samp_pid load_pid="" idle_start=0
    rm -f "$P.sready" "$P.lready" "$P.mid"
    "$LOADGEN" sample --url "$url_load" --interval-ms 100 --out "$P.sample.csv" --ready-file "$P.sready" \
        --file "$ibd" --max-seconds 3600 2>"$P.sample.err" &
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

    local -a cmd; mapfile -t cmd < <(method_cmd "$m" "$P")
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
    # Purged: the history list back to empty, as it was when the copy was made (wait_purge 0
    # above; nothing else runs now). Not to the length just before the method: that may count a
    # few small undo logs (statistics updates) that purge removes first, so "back to that length"
    # could be reached while one big DELETE's undo log is still being purged.
    # Polled every 5 ms: the server's own wait (innodb_max_purge_lag_wait) looks only every 100 ms.
    "$LOADGEN" purge-wait --url "$url_ctl" --history 0 --poll-ms 5 --max-seconds 3600 >"$P.purge" 2>&1 \
        || { log "WARNING: $(cat "$P.purge")"; wait_purge 0; }
    t2=$(now)
    # the moment the poll saw it, rather than after the poller's exit
    local seen; seen=$(sed -n 's/.*"done_epoch_us": \([0-9]*\).*/\1/p' "$P.purge")
    [ -n "$seen" ] && t2=$(awk -v u="$seen" 'BEGIN { printf "%.6f", u / 1e6 }')
    status_snap "$P.status2"
    sleep 0.25   # one more sample of the file after purge
    kill -TERM "$samp_pid"; wait "$samp_pid" || true
    bg_pids=()

    local expired_after total_after t_mid
    expired_after=$(sql keystone -e "SELECT COUNT(*) FROM token WHERE expires < '$cutoff'")
    total_after=$(sql keystone -e "SELECT COUNT(*) FROM token")
    t_mid=$(cat "$P.mid" 2>/dev/null || echo 0)
    table_sizes keystone token >"$P.size1"
    local ino1; ino1=$(stat -c %i "$ibd" 2>/dev/null || echo 0)
    # Anything a method left beside the table (an old copy kept after a swap) still holds disk.
    (cd "$DB/data/keystone" && for f in *.ibd; do [ "$f" = token.ibd ] || [ ! -e "$f" ] || printf '%s\t%s\n' "$f" "$(stat -c %s "$f")"; done) >"$P.others.tsv"
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
    printf '{"method": "%s", "phase": "%s", "rc": %s, "t0": %s, "t1": %s, "t_mid": %s, "t_load_stopped": %s, "t2": %s, "idle_start": %s, "cutoff": "%s", "expired_before": %s, "expired_after": %s, "total_before": %s, "total_after": %s, "history_before": %s, "ino_before": %s, "ino_after": %s, "prepare_seconds": %s, "loadavg": %s}\n' \
        "$m" "$phase" "$rc" "$t0" "$t1" "$t_mid" "$t_load_stopped" "$t2" "$idle_start" "$cutoff" \
        "$expired_before" "$expired_after" "$total_before" "$total_after" "${hist0:-0}" "$ino0" "$ino1" "$prep_s" "$loadavg" >"$P.run.json"
    log "$m ($phase): rc=$rc, $((expired_before - expired_after)) rows, $(minus "$t1" "$t0")s to commit, $(minus "$t2" "$t0")s to purged; file $(cut -f1 "$P.size0") -> $(cut -f1 "$P.size1") bytes (copy ${prep_s}s: import $(minus "$tw" "$tc"), warm $(minus "$tf" "$tw"))"
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
t_start=$(now)
date_tag=$(date -u +%F)
dirs=()
while IFS='|' read -r -u 4 reg pm _; do
    [ -n "$reg" ] || continue
    [[ ",$regime_list," == *",$reg,"* ]] || continue
    run_regime "$reg" "$pm"
    for p in ${pool_list//,/ }; do dirs+=("$WORK/$reg-$p"); done
done 4<<<"$REGIMES"
total_s=$(minus "$(now)" "$t_start")
log "all regimes measured in ${total_s}s"

# The summary (targets, every regime side by side) goes to --out or bench/results/<date>-summary.md;
# each regime's tables, chart and figures to <prefix>-<regime>-<pool>.{md,svg,json} beside it.
if [ -n "$out" ]; then
    mkdir -p "$(dirname "$out")"
    summary=$out; prefix="${out%.md}"
else
    mkdir -p "$ROOT/bench/results"
    prefix="$ROOT/bench/results/$date_tag"; [ $quick = 1 ] && prefix="$prefix-quick"
    summary="$prefix-summary.md"
fi
python3 "$REPORT" report --prefix "$prefix" --summary "$summary" --seconds "$total_s" "${dirs[@]}"
cat "$summary"
log "wrote $summary and the per-regime files beside it ($prefix-<regime>-<pool>.md)"
