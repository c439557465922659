#!/usr/bin/env bash
# Parity with the official purge tools (issue 12): for each tokenflush preset, the rows it leaves
# are, table by table, the rows the service's own purge command leaves (docs/presets.md says what
# each command deletes and where that is in its code).
#
# For each service: its own migrations on a throwaway MariaDB (one server, a database per copy),
# filled by tests/parity/fill.py (the service's models for Keystone, reflected tables with the
# service's soft-delete values for the others; rows past, at and just around the cutoff, NULL
# dates, live and soft-deleted rows, parents with and without children), dumped, and loaded into
# copy A and copy B. The official command runs on A (tests/parity/official.py: the service's own
# entry point, with oslo's utcnow() pinned), `tokenflush flush --target PRESET` on B (as a user
# whose sessions the server pins to the same instant through init_connect). Then every table of A
# and B is dumped row by row, ordered by primary key, and compared; a difference prints the first
# differing rows. Each side's transactions come from the binary log (ROW format, one log file per
# side; tests/parity/binlog_txns.py): how many, and the rows of the largest.
#
# A preset the binary refuses (`target 'X' is not one of ...`) is reported as `skip`, after its
# official side has run, so that the case runs as soon as the preset lands. Where a preset is
# documented to delete more than the official tool (keystone-trust: trust_role rows of deleted
# trusts and orphans), B is compared with A plus that documented difference applied.
#
# Results (rows per table, largest transaction and wall time of both sides, the official side's
# SQL as the binary log annotates it) go to bench/results/parity-DATE.md, or $PARITY_RESULTS.
#
#   tests/parity/e2e.sh [CASE...]     # all cases, or those named (see `cases` below)
#
# Environment: TOKENFLUSH_BIN (default target/release/tokenflush, built if missing),
# TOKENFLUSH_CACHE (the virtualenvs, scripts/openstack-venv.sh), PARITY_KEEP=1 keeps the temp dir
# and the server running for a look (printed at the end), PARITY_XFAIL="CASE..." reports those
# cases' differences as expected failures (ok, marked xfail) instead of failures.
#
# Needs PyPI the first time: the five virtualenvs (1.5 GB) make a cold run take about 6 minutes on
# the 2-core machine; with them cached a run takes 1.5 minutes on a quiet machine, 3 on a busy one,
# mostly the services' Python start-up. Leaves nothing behind but that cache and the results file.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

# shellcheck source=tests/lib/report.sh
. "$ROOT/tests/lib/report.sh"

T=$(mktemp -d /tmp/tokenflush-parity.XXXXXX)
DB=$T/db
cleanup() {
    set +e
    if [ "${PARITY_KEEP:-0}" = 1 ]; then
        echo "kept: $T (server: $(cat "$DB/port" 2>/dev/null); stop with scripts/mariadb-sandbox.sh stop $DB)"
        return
    fi
    bash scripts/mariadb-sandbox.sh stop "$DB" >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
started=$SECONDS

TF=${TOKENFLUSH_BIN:-$ROOT/target/release/tokenflush}
RESULTS=${PARITY_RESULTS:-$ROOT/bench/results/parity-$(date -u +%F).md}
# cinder-blocked is a documented difference, not parity: cinder-manage rolls its whole purge back
# on the live attachment of a purgeable volume and deletes nothing, while tokenflush keeps that
# volume and every parent it holds (its group, consistency group, service...) and purges the
# rest. Its expected state needs that chain of parents, which this harness does not compute;
# tests/targets.rs proves the behaviour (kept, counted in kept_by_children) on a small schema.
XFAIL=" ${PARITY_XFAIL-cinder-blocked} "

# One instant for both sides' clocks: now, to the whole minute, in UTC.
EPOCH=$(($(date -u +%s) / 60 * 60))
NOW=$(date -u -d "@$EPOCH" '+%F %T')
at() { date -u -d "@$((EPOCH - $1))" '+%F %T'; } # at SECONDS-BEFORE-NOW

sql() { mariadb --no-defaults --socket="$DB/sock" -uroot "$@"; }
now_s() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

section "setup"
if [ ! -x "$TF" ]; then
    note "building $TF"
    cargo build --release --locked >"$T/build.log" 2>&1 || { tail -30 "$T/build.log"; fail "cargo build --release"; summary; exit 1; }
fi
check "tokenflush binary: $TF" test -x "$TF"

# Its own tmpdir: a shared /tmp that another job sweeps must not take its temporary tables.
mkdir -p "$DB/tmp"
read -r HOST PORT _ < <(bash scripts/mariadb-sandbox.sh start "$DB" -- --tmpdir="$DB/tmp" \
    --log-bin=binlog --server-id=1 --binlog-format=ROW --innodb-buffer-pool-size=256M \
    --innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0 --max-connections=100) || true
if [ -z "${PORT:-}" ]; then
    fail "MariaDB sandbox (see $DB/err.log)"; summary; exit 1
fi
# tokenflush connects as tf, a user without CONNECTION ADMIN, so the server runs init_connect for
# it: its sessions' clock (UTC_TIMESTAMP(), NOW()) stands at $EPOCH. root (the official side, the
# harness) is not affected.
sql -e "CREATE USER tf@'127.0.0.1'; SET GLOBAL init_connect = 'SET @@timestamp = $EPOCH'"
pinned=$(mariadb --no-defaults -h"$HOST" -P"$PORT" -utf -N -e 'SELECT UTC_TIMESTAMP()' 2>&1)
check "MariaDB at $HOST:$PORT; tokenflush's sessions see UTC_TIMESTAMP() = $NOW ($pinned)" test "$pinned" = "$NOW"

# Config files. Each service reads [database] connection; keystone also the token lifetime and
# revocation buffer (non-default values, so that a preset reading the defaults shows), aodh the
# alarm history TTL.
REV_GRACE=$((7200 + 600))
AODH_TTL=$((7 * 86400))
conf() { # conf SERVICE DB > file
    printf '[database]\nconnection = mysql+pymysql://root@%s:%s/%s?charset=utf8\nmax_retries = 0\n' "$HOST" "$PORT" "$2"
    case "$1" in
        keystone) printf '[token]\nexpiration = 7200\n[revoke]\nexpiration_buffer = 600\n'
            # keystone-manage loads every backend, the token provider's key repository included.
            printf '[fernet_tokens]\nkey_repository = %s\n[fernet_receipts]\nkey_repository = %s\n[credential]\nkey_repository = %s\n' \
                "$T/fernet-keys" "$T/fernet-keys" "$T/credential-keys" ;;
        nova) printf '[api_database]\nconnection = mysql+pymysql://root@%s:%s/nova_api?charset=utf8\nmax_retries = 0\n' "$HOST" "$PORT" ;;
        aodh) printf 'alarm_history_time_to_live = %s\n' "$AODH_TTL" ;;
    esac
}

declare -A VENV
declare -A MIGRATE=(
    [keystone]="keystone-manage --config-file CONF db_sync"
    [nova]="nova-manage --config-file CONF db sync"
    [cinder]="cinder-manage --config-file CONF db sync"
    [glance]="glance-manage --config-file CONF db sync"
    [aodh]="aodh-dbsync --config-file CONF"
)

# prepare SERVICE SCENARIO CUTOFF: migrates and fills src_SERVICE_SCENARIO, dumps it
# to $T/SERVICE_SCENARIO.sql. Once per service and scenario.
declare -A PREPARED
prepare() {
    local svc=$1 scen=$2 cutoff=$3
    local key=${svc}_$scen src=src_${svc}_$scen
    [ -n "${PREPARED[$key]:-}" ] && return "${PREPARED[$key]}"
    PREPARED[$key]=1
    if [ -z "${VENV[$svc]:-}" ]; then
        local t0=$SECONDS v
        if v=$(bash scripts/openstack-venv.sh "$svc" 2>"$T/venv-$svc.err"); then
            VENV[$svc]=$v
            pass "scripts/openstack-venv.sh $svc ($((SECONDS - t0)) s)"
        else
            fail "scripts/openstack-venv.sh $svc"; tail -20 "$T/venv-$svc.err"; return 1
        fi
        if [ "$svc" = keystone ]; then
            conf keystone none >"$T/keystone-keys.conf"
            "$v/bin/keystone-manage" --config-file "$T/keystone-keys.conf" fernet_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" >"$T/keys.log" 2>&1 &&
                "$v/bin/keystone-manage" --config-file "$T/keystone-keys.conf" credential_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" >>"$T/keys.log" 2>&1 ||
                { fail "keystone-manage fernet_setup / credential_setup"; tail -20 "$T/keys.log"; return 1; }
        fi
        if [ "$svc" = nova ]; then
            sql -e 'CREATE DATABASE IF NOT EXISTS nova_api'
            conf nova nova_api >"$T/nova_api.conf"
            "${VENV[nova]}/bin/nova-manage" --config-file "$T/nova_api.conf" api_db sync >"$T/nova_api.log" 2>&1 ||
                { fail "nova-manage api_db sync"; tail -20 "$T/nova_api.log"; return 1; }
        fi
    fi
    local venv=${VENV[$svc]} t0
    sql -e "CREATE DATABASE $src"
    conf "$svc" "$src" >"$T/$src.conf"
    t0=$(now_s)
    # shellcheck disable=SC2086
    if ! "$venv"/bin/${MIGRATE[$svc]//CONF/$T/$src.conf} >"$T/$src.migrate.log" 2>&1; then
        fail "$svc: its own migrations (${MIGRATE[$svc]%% *})"; tail -20 "$T/$src.migrate.log"; return 1
    fi
    local tm
    tm=$(secs "$t0" "$(now_s)")
    t0=$(now_s)
    local extra=()
    [ "$svc" = keystone ] && extra=(--revocation-cutoff "$(at $REV_GRACE)")
    if ! "$venv/bin/python" tests/parity/fill.py "$svc" --url "mysql+pymysql://root@$HOST:$PORT/$src" \
        --now "$NOW" --cutoff "$cutoff" --scenario "$scen" "${extra[@]}" >"$T/$src.fill" 2>"$T/$src.fill.err"; then
        fail "$svc/$scen: fill"; tail -20 "$T/$src.fill.err"; return 1
    fi
    pass "$svc/$scen: migrated by ${MIGRATE[$svc]%% *} ($tm s) and filled ($(awk '{ s += $2 } END { print s }' "$T/$src.fill") rows, $(secs "$t0" "$(now_s)") s)"
    mariadb-dump --no-defaults --socket="$DB/sock" -uroot --single-transaction --skip-dump-date "$src" >"$T/$key.sql" ||
        { fail "$svc/$scen: mariadb-dump $src"; return 1; }
    PREPARED[$key]=0
}

copy() { # copy KEY DB: a fresh database DB holding the prepared rows
    sql -e "DROP DATABASE IF EXISTS \`$2\`; CREATE DATABASE \`$2\`" && sql "$2" <"$T/$1.sql"
}

tables_of() { sql -N -e "SELECT table_name FROM information_schema.tables WHERE table_schema = '$1' ORDER BY table_name"; }

rows_file() { # rows_file DB TABLE: one line per row, ordered by primary key
    mariadb-dump --no-defaults --socket="$DB/sock" -uroot --no-create-info --skip-extended-insert \
        --order-by-primary --compact --skip-triggers --hex-blob "$1" "$2" | sed -n 's/^INSERT INTO `[^`]*` VALUES //p'
    [ "${PIPESTATUS[0]}" = 0 ] || { echo "rows_file: mariadb-dump $1 $2 failed" >&2; DUMP_FAILED=1; }
}
DUMP_FAILED=0

binlog_mark() { sql -e 'FLUSH BINARY LOGS'; sql -N -e 'SHOW BINARY LOGS' | tail -1 | cut -f1; }
binlogs_since() { # binlogs_since FIRST: the files from FIRST up to, not including, the current one
    local first=$1
    sql -N -e 'SHOW BINARY LOGS' | cut -f1 | awk -v f="$first" '$0 >= f' | sed '$d' | sed "s|^|$DB/data/|"
}
txn_json() { # txn_json DB FIRST-LOG: binlog_txns.py's JSON for what DB's side wrote
    local files
    sql -e 'FLUSH BINARY LOGS' # closes the file the side wrote into
    mapfile -t files < <(binlogs_since "$2")
    python3 tests/parity/binlog_txns.py "$1" "${files[@]}"
}
jget() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); v=d
for k in sys.argv[2].split("."): v=v.get(k, 0) if isinstance(v, dict) else 0
print(v)' "$1" "$2"; }

db_rows() { # db_rows DB: rows in all its tables
    local t n=0
    for t in $(tables_of "$1"); do n=$((n + $(sql -N -e "SELECT COUNT(*) FROM \`$1\`.\`$t\`"))); done
    echo "$n"; }

{
    echo "# Parity with the official purge tools, $(date -u '+%F %H:%M') UTC"
    echo
    echo "tests/parity/e2e.sh on $(uname -n) ($(nproc) cores), MariaDB $(sql -N -e 'SELECT VERSION()'), $("$TF" --version 2>/dev/null | head -1) (commit $(git rev-parse --short HEAD 2>/dev/null))."
    echo "Both clocks pinned to $NOW UTC. Largest transaction: rows of the largest transaction in the"
    echo "binary log (ROW format) that side wrote; wall time includes the official command's Python start-up."
    echo
} >"$RESULTS.tmp"

# run_case NAME SERVICE SCENARIO PRESET REPEAT CUTOFF -- OFFICIAL... -- TOKENFLUSH-ARGS...
#   REPEAT: once, or until-stable (run the official command again until a run deletes nothing,
#   as its daily cron job does over as many days as it takes: glance's max_rows, aodh's 100).
#   $EXPECT_SQL (optional): SQL applied to a copy of A after the official run, the documented
#   difference of the preset; B is compared with that copy.
run_case() {
    local name=$1 svc=$2 scen=$3 preset=$4 repeat=$5 cutoff=$6; shift 6
    [ "$1" = -- ] && shift
    local official=() tfargs=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do official+=("$1"); shift; done
    [ "${1:-}" = -- ] && shift
    tfargs=("$@")
    local expect_sql=${EXPECT_SQL:-}
    EXPECT_SQL=""
    section "$name: ${official[*]} vs tokenflush --target $preset"
    prepare "$svc" "$scen" "$cutoff" || { fail "$name: preparing $svc/$scen"; return; }
    local id=${name//[^a-zA-Z0-9]/_}
    local A=a_$id B=b_$id X=a_$id
    copy "${svc}_$scen" "$A" && copy "${svc}_$scen" "$B" || { fail "$name: copying the filled database"; return; }
    DUMP_FAILED=0
    local before=()
    local t
    for t in $(tables_of "$A"); do before+=("$t=$(sql -N -e "SELECT COUNT(*) FROM \`$A\`.\`$t\`")"); done

    # The official side.
    conf "$svc" "$A" >"$T/$A.conf"
    local cmd=() w
    for w in "${official[@]}"; do cmd+=("${w//CONF/$T/$A.conf}"); done
    local mark t0 rc runs=0 prev now_rows a_wall=0
    mark=$(binlog_mark)
    prev=$(db_rows "$A")
    while :; do
        runs=$((runs + 1))
        t0=$(now_s)
        "${VENV[$svc]}/bin/python" tests/parity/official.py --now "$NOW" "${cmd[@]}" >>"$T/$A.official.log" 2>&1
        rc=$?
        a_wall=$(awk -v w="$a_wall" -v d="$(secs "$t0" "$(now_s)")" 'BEGIN { printf "%.2f", w + d }')
        [ "$repeat" = until-stable ] || break
        now_rows=$(db_rows "$A")
        [ "$now_rows" = "$prev" ] && break
        prev=$now_rows
        [ "$runs" -lt 50 ] || break
    done
    local a_json
    a_json=$(txn_json "$A" "$mark")
    # nova-manage db purge exits 3 when it deleted nothing; a purge that fails as a whole (cinder
    # on a foreign key) is what the case is about, and is judged by the rows, not here.
    note "official: exit $rc after $runs run(s), $a_wall s, $(jget "$a_json" transactions) transaction(s), largest $(jget "$a_json" largest) rows"
    if [ "$rc" != 0 ] && [ "$rc" != 3 ] && [ "${OFFICIAL_MAY_FAIL:-}" != 1 ]; then
        fail "$name: the official command failed (exit $rc)"; tail -15 "$T/$A.official.log"
    fi
    OFFICIAL_MAY_FAIL=""
    if [ -n "$expect_sql" ]; then
        X=x_$id
        sql -e "DROP DATABASE IF EXISTS $X; CREATE DATABASE $X"
        mariadb-dump --no-defaults --socket="$DB/sock" -uroot --skip-dump-date "$A" | sql "$X"
        sql "$X" -e "$expect_sql"
    fi

    # The tokenflush side.
    local b_wall="-" b_json="" tf_rc status=run
    sql -e "GRANT ALL ON \`$B\`.* TO tf@'127.0.0.1'"
    local url="mysql://tf@$HOST:$PORT/$B"
    # CONF in tokenflush's options is the official side's configuration file (keystone.conf's
    # [token] expiration and [revoke] expiration_buffer, for keystone-revocation).
    local tfa=()
    for w in "${tfargs[@]}"; do tfa+=("${w//CONF/$T/$A.conf}"); done
    tfargs=("${tfa[@]}")
    # CONF in tokenflush's options is the official side's configuration file (keystone.conf's
    # [token] expiration and [revoke] expiration_buffer, for keystone-revocation).
    local tfa=()
    for w in "${tfargs[@]}"; do tfa+=("${w//CONF/$T/$A.conf}"); done
    tfargs=("${tfa[@]}")
    "$TF" flush --connection "$url" --target "$preset" --dry-run "${tfargs[@]}" >"$T/$B.dry" 2>&1
    tf_rc=$?
    if [ "$tf_rc" != 0 ] && grep -q "target '$preset' is not one of" "$T/$B.dry"; then
        status=skip
    elif [ "$tf_rc" != 0 ]; then
        fail "$name: tokenflush flush --dry-run --target $preset ${tfargs[*]} (exit $tf_rc)"; cat "$T/$B.dry"
        status=error
    else
        mark=$(binlog_mark)
        t0=$(now_s)
        "$TF" flush --connection "$url" --target "$preset" --json "${tfargs[@]}" >"$T/$B.tf" 2>&1
        tf_rc=$?
        b_wall=$(secs "$t0" "$(now_s)")
        b_json=$(txn_json "$B" "$mark")
        note "tokenflush: exit $tf_rc, $b_wall s, $(jget "$b_json" transactions) transaction(s), largest $(jget "$b_json" largest) rows"
        if [ "$tf_rc" != 0 ]; then
            fail "$name: tokenflush flush --target $preset ${tfargs[*]} (exit $tf_rc)"; cat "$T/$B.tf"; status=error
        fi
    fi

    # Compare every table: B against A (or A with the documented difference applied).
    local differ=() table_rows=()
    mkdir -p "$T/rows"
    for t in $(tables_of "$A"); do
        rows_file "$A" "$t" >"$T/rows/$A.$t"
        [ "$X" != "$A" ] && rows_file "$X" "$t" >"$T/rows/$X.$t"
        local nb="-"
        if [ "$status" = run ] || [ "$status" = error ]; then
            rows_file "$B" "$t" >"$T/rows/$B.$t"
            nb=$(wc -l <"$T/rows/$B.$t")
            cmp -s "$T/rows/$X.$t" "$T/rows/$B.$t" || differ+=("$t")
        fi
        local nx=""
        [ "$X" != "$A" ] && nx=$(wc -l <"$T/rows/$X.$t")
        local b0
        for b0 in "${before[@]}"; do [ "${b0%%=*}" = "$t" ] && break; done
        table_rows+=("$t|${b0#*=}|$(wc -l <"$T/rows/$A.$t")|$nx|$nb")
    done

    local verdict
    if [ "$DUMP_FAILED" = 1 ]; then
        fail "$name: dumping the rows to compare failed"; status=error
    fi
    if [ "$status" = skip ]; then
        verdict=skip
        skip "$name: tokenflush refuses --target $preset (preset not there yet); official side ran ($(jget "$a_json" rows) rows deleted)"
    elif [ "$status" = run ] && [ ${#differ[@]} -eq 0 ]; then
        verdict=pass
        pass "$name: every table's rows are the official tool's ($(tables_of "$A" | wc -l) tables)"
    elif [ "$status" = run ]; then
        verdict=differ
        local d
        for d in "${differ[@]}"; do
            {
                echo "$d: $( [ "$X" != "$A" ] && echo expected || echo official ) $(wc -l <"$T/rows/$X.$d") rows, tokenflush $(wc -l <"$T/rows/$B.$d") rows; first differences (- $( [ "$X" != "$A" ] && echo expected || echo official ), + tokenflush):"
                diff "$T/rows/$X.$d" "$T/rows/$B.$d" | grep '^[<>]' | head -8 | sed 's/^</-/; s/^>/+/' | cut -c1-220 | sed 's/^/    /'
            } >>"$T/$id.diff"
        done
        sed 's/^/         /' "$T/$id.diff"
        if [[ "$XFAIL" == *" $name "* ]]; then
            pass "$name: differs in ${differ[*]} (xfail: known, PARITY_XFAIL)"
        else
            fail "$name: rows differ from the official tool's in ${differ[*]}"
        fi
    else
        verdict=error
    fi

    # The results file.
    {
        echo "## $name ($verdict)"
        echo
        echo "- official: \`${official[*]//CONF/$svc.conf}\` (pinned clock; $runs run(s), exit $rc)"
        echo "- tokenflush: \`tokenflush flush --target $preset ${tfargs[*]}\`"
        echo "- cutoff: $cutoff UTC"
        [ -n "$expect_sql" ] && echo "- expected = official + documented difference: \`$expect_sql\`"
        echo
        echo "| | official | tokenflush |"
        echo "|---|---|---|"
        echo "| rows deleted | $(jget "$a_json" rows) | $( [ -n "$b_json" ] && jget "$b_json" rows || echo -) |"
        echo "| transactions | $(jget "$a_json" transactions) | $( [ -n "$b_json" ] && jget "$b_json" transactions || echo -) |"
        echo "| largest transaction (rows) | $(jget "$a_json" largest) | $( [ -n "$b_json" ] && jget "$b_json" largest || echo -) |"
        echo "| wall time (s) | $a_wall | $b_wall |"
        echo
        echo "| table | rows before | official leaves | $( [ "$X" != "$A" ] && echo "expected leaves | ")tokenflush leaves |"
        echo "|---|---|---|$( [ "$X" != "$A" ] && echo "---|")---|"
        local r
        for r in "${table_rows[@]}"; do
            IFS='|' read -r t nbef na nx nb <<<"$r"
            [ "$nbef" = 0 ] && [ "$na" = 0 ] && [ "$nb" = 0 -o "$nb" = - ] && continue
            local flag=""
            [[ " ${differ[*]} " == *" $t "* ]] && flag=" **differs**"
            if [ "$X" != "$A" ]; then echo "| $t | $nbef | $na | $nx | $nb$flag |"; else echo "| $t | $nbef | $na | $nb$flag |"; fi
        done
        echo
        if [ -s "$T/$id.diff" ]; then
            echo "Differences:"
            echo
            sed 's/^/    /' "$T/$id.diff"
            echo
        fi
        echo "Official statements that changed rows (binary log annotations):"
        echo
        python3 -c 'import json,sys
for s in json.loads(sys.argv[1])["statements"]: print("    " + s)' "$a_json"
        echo
        if [ -n "$b_json" ]; then
            echo "tokenflush's statements that changed rows (first distinct ones):"
            echo
            python3 -c 'import json,sys
for s in json.loads(sys.argv[1])["statements"][:4]: print("    " + s)' "$b_json"
            echo
        fi
    } >>"$RESULTS.tmp"
}

# ---------------------------------------------------------------------------------------------
# The cases: each official command and the tokenflush options that ask for the same cutoff.

case_keystone_trust() {
    EXPECT_SQL="DELETE FROM trust_role WHERE trust_id NOT IN (SELECT id FROM trust)" \
        run_case keystone-trust keystone default keystone-trust once "$NOW" \
        -- keystone-manage --config-file CONF trust_flush \
        -- --grace 0
}
case_keystone_revocation() {
    run_case keystone-revocation keystone default keystone-revocation once "$(at $REV_GRACE)" \
        -- keystone-revocation-prune --config-file CONF \
        -- --config CONF
}
case_keystone_revocation_custom() {
    run_case keystone-revocation-custom keystone default custom once "$(at $REV_GRACE)" \
        -- keystone-revocation-prune --config-file CONF \
        -- --table revocation_event --expiry-column revoked_at --grace "$REV_GRACE"
}
case_nova_shadow() {
    run_case nova-shadow nova default nova-shadow once "$(at $((14 * 86400)))" \
        -- nova-manage --config-file CONF db purge --before "$(at $((14 * 86400)))" --verbose \
        -- --age-in-days 14
}
case_cinder() {
    run_case cinder cinder default cinder once "$(at $((30 * 86400)))" \
        -- cinder-manage --config-file CONF db purge 30 \
        -- --age-in-days 30
}
case_cinder_blocked() {
    OFFICIAL_MAY_FAIL=1 run_case cinder-blocked cinder blocked cinder once "$(at $((30 * 86400)))" \
        -- cinder-manage --config-file CONF db purge 30 \
        -- --age-in-days 30
}
case_glance() {
    run_case glance glance default glance until-stable "$(at $((30 * 86400)))" \
        -- glance-manage --config-file CONF db purge --age_in_days 30 --max_rows 100 \
        -- --age-in-days 30
}
case_aodh() {
    run_case aodh-alarm-history aodh default aodh-alarm-history until-stable "$(at $AODH_TTL)" \
        -- aodh-expirer --config-file CONF \
        -- --time-to-live "$AODH_TTL"
}
case_aodh_custom() {
    run_case aodh-alarm-history-custom aodh default custom until-stable "$(at $AODH_TTL)" \
        -- aodh-expirer --config-file CONF \
        -- --table alarm_history --expiry-column timestamp --grace "$AODH_TTL"
}

cases=(keystone_trust keystone_revocation keystone_revocation_custom nova_shadow cinder cinder_blocked glance aodh aodh_custom)
[ $# -gt 0 ] && cases=("${@//-/_}")
for c in "${cases[@]}"; do
    if declare -F "case_$c" >/dev/null; then "case_$c"; else fail "no case $c"; fi
done

mkdir -p "$(dirname "$RESULTS")"
{
    cat "$RESULTS.tmp"
    echo "Whole suite: $((SECONDS - started)) s."
} >"$RESULTS"
rm -f "$RESULTS.tmp"
echo
note "results: ${RESULTS#"$ROOT"/}"
note "whole suite: $((SECONDS - started)) s"
summary
