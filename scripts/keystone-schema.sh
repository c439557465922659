#!/usr/bin/env bash
# The DDL of Keystone's tables exactly as Keystone itself creates them: installs keystone into the
# cached virtualenv (scripts/openstack-venv.sh), runs `keystone-manage db_sync` against a throwaway
# MariaDB (scripts/mariadb-sandbox.sh) and prints `SHOW CREATE TABLE` of each table.
#
#   scripts/keystone-schema.sh [--dir OUT] [--work DIR] [TABLE...]
#
# TABLE defaults to token trust trust_role revocation_event. Without --dir the statements go to
# stdout, each ended by `;` and a blank line; with --dir each goes to OUT/TABLE.sql instead, in the
# same form as the committed scripts/keystone-*.sql files (less their header comment). The server
# runs in a temp dir that is removed when the script ends (on error and interrupt too). With --work it runs in
# DIR/db instead, so that a caller can stop it even if this script is killed
# (`scripts/mariadb-sandbox.sh stop DIR/db`, and kill the pid in DIR/db_sync.pid while that file
# exists); DIR/db is removed at the end, and DIR keeps keystone.conf and db_sync.log.
set -euo pipefail

die() { echo "keystone-schema: $*" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)

out=""
keep=""
tables=()
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) out=$2; shift 2 ;;
        --work) keep=$2; shift 2 ;;
        -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
        -*) die "unknown option $1" ;;
        *) tables+=("$1"); shift ;;
    esac
done
[ ${#tables[@]} -gt 0 ] || tables=(token trust trust_role revocation_event)
[ -z "$out" ] || mkdir -p "$out"

venv=$(bash "$here/openstack-venv.sh" keystone)

if [ -n "$keep" ]; then
    mkdir -p "$keep"
    work=$(cd "$keep" && pwd)
    [ ! -e "$work/db" ] || die "$work/db exists already"
else
    work=$(mktemp -d /tmp/tokenflush-keystone-schema.XXXXXX)
fi
# keystone-manage shrugs off SIGTERM for a few seconds at times: TERM, then KILL.
stop_db_sync() {
    local pid
    pid=$(cat "$work/db_sync.pid" 2>/dev/null) || return 0
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    rm -f "$work/db_sync.pid"
}
cleanup() {
    stop_db_sync
    bash "$here/mariadb-sandbox.sh" stop "$work/db" >/dev/null 2>&1 || true
    if [ -n "$keep" ]; then rm -rf "$work/db"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r host port _ < <(bash "$here/mariadb-sandbox.sh" start "$work/db") || true
[ -n "${port:-}" ] || die "the MariaDB sandbox did not start (see $work/db/err.log)"
sql() { mariadb --no-defaults --socket="$work/db/sock" -uroot "$@"; }
# As in Keystone's install guide: a plain CREATE DATABASE (its first migration sets the charset).
sql -e 'CREATE DATABASE keystone'

# max_retries = 0: no start-up connection test and its retries (10 x 10 s by default); the server is
# up already, and losing it should end db_sync at once.
cat >"$work/keystone.conf" <<CONF
[database]
connection = mysql+pymysql://root@$host:$port/keystone?charset=utf8
max_retries = 0
CONF
# In the background and waited for, so that an interrupt is handled at once, not after db_sync.
"$venv/bin/keystone-manage" --config-file "$work/keystone.conf" db_sync >"$work/db_sync.log" 2>&1 &
echo $! >"$work/db_sync.pid"
rc=0
wait $! || rc=$?
rm -f "$work/db_sync.pid"
[ "$rc" = 0 ] || { tail -30 "$work/db_sync.log" >&2; die "keystone-manage db_sync failed (exit $rc)"; }

for t in "${tables[@]}"; do
    # --raw keeps the statement's own line breaks; the first field is the table's name.
    ddl=$(sql -N -B --raw keystone -e "SHOW CREATE TABLE \`$t\`" | cut -f2-) || die "no table $t after db_sync"
    if [ -n "$out" ]; then
        printf '%s;\n' "$ddl" >"$out/$t.sql"
    else
        printf '%s;\n\n' "$ddl"
    fi
done
