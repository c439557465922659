#!/usr/bin/env bash
# End-to-end check that the schemas the tests use are OpenStack's own (scripts/test.sh runs every
# tests/*/e2e.sh and reads the last "N passed, M failed" line):
#
#   1. scripts/openstack-venv.sh installs keystone 30.0.0 (every dependency pinned by
#      scripts/constraints/) into the cached virtualenv, and a second call is quiet and instant;
#   2. scripts/keystone-schema.sh runs the real `keystone-manage db_sync` on a throwaway MariaDB;
#   3. SHOW CREATE TABLE of token, trust, trust_role and revocation_event is, table by table, the
#      DDL committed in scripts/keystone-*.sql: a new Keystone or a hand edit that drifts from
#      db_sync fails here;
#   4. the comparison itself is not blind: it reports the drifts issue 10 was about (a DEFAULT 1
#      on token.valid, the initial migration's 6-column trust key).
#
# Needs PyPI the first time (about 20 s to build the virtualenv, under
# ${TOKENFLUSH_CACHE:-/var/cache/tokenflush}); later runs take a few seconds. Leaves nothing behind
# but that cache: the MariaDB server and the temp dir are removed whatever happens.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

# shellcheck source=tests/lib/report.sh
. "$ROOT/tests/lib/report.sh"

T=$(mktemp -d /tmp/tokenflush-openstack-e2e.XXXXXX)
SCHEMA_PID=""
cleanup() {
    set +e
    # keystone-schema.sh stops its own server and db_sync; should it have been killed before it
    # could, their pids are still in $T/work/db/pid and $T/work/db_sync.pid, and are stopped here.
    [ -n "$SCHEMA_PID" ] && kill -TERM "$SCHEMA_PID" 2>/dev/null && wait "$SCHEMA_PID" 2>/dev/null
    if [ -f "$T/work/db_sync.pid" ]; then
        pid=$(cat "$T/work/db_sync.pid")
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    fi
    [ -f "$T/work/db/pid" ] && bash scripts/mariadb-sandbox.sh stop "$T/work/db" >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
started=$SECONDS

section "keystone in a cached virtualenv"
t0=$SECONDS
if VENV=$(bash scripts/openstack-venv.sh keystone 2>"$T/venv.err"); then
    pass "scripts/openstack-venv.sh keystone ($((SECONDS - t0)) s): $VENV"
else
    fail "scripts/openstack-venv.sh keystone"; cat "$T/venv.err"
    echo; summary; exit 1
fi
check "it holds keystone 30.0.0 and keystone-manage" \
    test "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("keystone"))' 2>/dev/null)" = 30.0.0 \
    -a -x "$VENV/bin/keystone-manage"
t0=$SECONDS
again=$(bash scripts/openstack-venv.sh keystone 2>"$T/venv2.err")
check "a second call prints only the directory, says nothing else and takes no time ($((SECONDS - t0)) s)" \
    test "$again" = "$VENV" -a ! -s "$T/venv2.err" -a $((SECONDS - t0)) -le 2

section "keystone-manage db_sync on a throwaway MariaDB"
t0=$SECONDS
# In the background, so that an interrupt reaches cleanup (which stops it) without waiting for it.
bash scripts/keystone-schema.sh --work "$T/work" --dir "$T/live" >"$T/schema.out" 2>&1 &
SCHEMA_PID=$!
wait "$SCHEMA_PID"; rc=$?
SCHEMA_PID=""
if [ "$rc" = 0 ]; then
    pass "scripts/keystone-schema.sh ran db_sync and dumped the tables ($((SECONDS - t0)) s)"
else
    fail "scripts/keystone-schema.sh (exit $rc)"; tail -30 "$T/schema.out"
    [ -f "$T/work/db_sync.log" ] && tail -30 "$T/work/db_sync.log"
fi
check "its server is gone and its directory removed" test ! -e "$T/work/db"

section "the committed DDL is db_sync's"
# What may differ between a committed file and a fresh SHOW CREATE TABLE without the schema being
# different, and is therefore normalised away; nothing else is:
#   - the committed file's header comment (lines starting with --);
#   - the order of the secondary indexes: db_sync creates the initial migration's indexes by walking
#     a Python set (alembic's create_table iterates Table.indexes), so their order changes from run
#     to run, and the committed files list them in the order the migration declares them. The lines
#     are compared sorted, and so without their trailing commas;
#   - an AUTO_INCREMENT=N table option: a counter, i.e. data. db_sync writes no row into these
#     tables today, so none appears, but a migration that seeded one would add it.
key_re='^  (UNIQUE |FULLTEXT |SPATIAL )?KEY '
normalise() { # FILE: one CREATE TABLE statement
    local body
    body=$(grep -v '^--' "$1" | grep -v '^[[:space:]]*$' | sed -E 's/ AUTO_INCREMENT=[0-9]+//; s/,$//')
    grep -vE "$key_re" <<<"$body" | sed '$d'
    grep -E "$key_re" <<<"$body" | LC_ALL=C sort
    grep -vE "$key_re" <<<"$body" | tail -1
}
same_ddl() { # COMMITTED LIVE: prints the difference when there is one
    diff -u --label "committed $(basename "$1")" --label "db_sync" <(normalise "$1") <(normalise "$2") >"$T/diff" &&
        return 0
    sed 's/^/         /' "$T/diff"
    return 1
}
for table in token trust trust_role revocation_event; do
    committed=scripts/keystone-${table//_/-}.sql
    if [ ! -s "$T/live/$table.sql" ]; then
        fail "$committed is what db_sync creates for $table (no DDL came out of db_sync)"
    else
        check "$committed is what db_sync creates for $table" same_ddl "$committed" "$T/live/$table.sql"
    fi
done

section "the comparison sees the drifts it is there for"
differs() { ! diff <(normalise "$1") <(normalise "$2") >/dev/null; }
sed 's/`valid` tinyint(1) NOT NULL,/`valid` tinyint(1) NOT NULL DEFAULT 1,/' scripts/keystone-token.sql >"$T/token-default.sql"
check "a DEFAULT 1 on token.valid is a difference" differs "$T/token-default.sql" scripts/keystone-token.sql
sed 's/UNIQUE KEY `duplicate_trust_constraint` (\(.*\)`expires_at`)/UNIQUE KEY `duplicate_trust_constraint_expanded` (\1`expires_at`,`expires_at_int`)/' \
    scripts/keystone-trust.sql >"$T/trust-6.sql"
check "the initial migration's 6-column trust key is a difference" differs "$T/trust-6.sql" scripts/keystone-trust.sql
sed '/ix_token_expires_valid/d' scripts/keystone-token.sql >"$T/token-noidx.sql"
check "a missing index is a difference" differs "$T/token-noidx.sql" scripts/keystone-token.sql
grep -v ix_token_trust_id scripts/keystone-token.sql |
    sed '/KEY `ix_token_expires` /a\  KEY `ix_token_trust_id` (`trust_id`),' >"$T/token-reordered.sql"
check "indexes in another order are not" same_ddl scripts/keystone-token.sql "$T/token-reordered.sql"

echo
note "whole suite: $((SECONDS - started)) s"
summary
