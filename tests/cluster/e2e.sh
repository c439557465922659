#!/usr/bin/env bash
# End-to-end tests of ocf:openstack:tokenflush in a real Pacemaker + Corosync cluster (issue 3).
#
#   tests/cluster/e2e.sh        # as root, after scripts/setup.sh; about two to three minutes
#
# Nothing is mocked: the agent is the release binary installed by scripts/install.sh, the cluster is
# scripts/pacemaker-sandbox.sh (1 node, then 2 nodes in network namespaces), the database is a
# throwaway MariaDB from scripts/mariadb-sandbox.sh, and the resources are created by running
# ocf/crm-example.sh and ocf/pcs-example.sh themselves, with short intervals passed in the environment.
#
# Every case prints "ok" or "FAILED"; the last line is "N passed, M failed" and the exit status is
# non-zero when anything failed. Whatever happens, the trap stops the cluster and MariaDB, removes
# what the test installed and leaves the logs of a failed run in the printed directory.
#
# The sandbox runs without fencing (stonith-enabled=false): there is nothing to fence with here. A real
# cluster needs stonith; without it a node that only lost the network keeps flushing too (harmless for
# this agent, fatal for most other resources), and Pacemaker cannot know that a lost node is really down.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/cluster/lib.sh
. "$ROOT/tests/cluster/lib.sh"

SANDBOX=$ROOT/scripts/pacemaker-sandbox.sh
MDB=$ROOT/scripts/mariadb-sandbox.sh
AGENT=/usr/lib/ocf/resource.d/openstack/tokenflush
BIN=/usr/sbin/tokenflush
NODE1=$(uname -n)
NODE2=node2
RSC=p_tokenflush
RSC_PCS=p_tokenflush_pcs
TESTER_RSC=e2e_ocftester
STATE_DIR=/run/resource-agents          # the agent's default ($HA_RSCTMP) on every node
# Every parameter the agent must declare (issue 2).
PARAMS=(connection config password_file table expiry_column interval grace batch_size max_runtime
        retry_interval state_dir log_facility)
# A password with the characters SQLAlchemy URLs make hard (':' and '/'); it must never show up in
# the CIB, the logs or the state file.
PW='Tf:e2e/S3cret-pw'

[ "$(id -u)" = 0 ] || { echo "tests/cluster/e2e.sh must run as root"; echo "0 passed, 1 failed"; exit 1; }

T=$(mktemp -d /tmp/tokenflush-e2e.XXXXXX)
chmod 755 "$T"
DBDIR=$T/mariadb
SANDBOX_STARTED=0
OWN_MACHINE=0          # set once we know no other cluster runs here: only then do we clean up state
INSTALLED_BEFORE=0
[ -e "$BIN" ] && INSTALLED_BEFORE=1
export TOKENFLUSH_SANDBOX_LOGS=$T/cluster-logs

remove_test_state() { # state files of this test's instances on node 1 (node 2's /run dies with it)
    rm -f "$STATE_DIR"/tokenflush-*"$RSC"*.state "$STATE_DIR"/tokenflush-*"$TESTER_RSC"*.state 2>/dev/null || true
}

cleanup() {
    local rc=$?
    set +e
    trap - EXIT
    if [ "$rc" != 0 ] && [ "$FAILED" = 0 ]; then
        fail "the test script itself stopped early (exit status $rc); see the output above"
    elif [ "$rc" != 0 ]; then
        fail "the test script stopped early (exit status $rc) after a failure"
    fi
    section "cleanup"
    [ "$SANDBOX_STARTED" = 1 ] && "$SANDBOX" stop >/dev/null 2>&1
    "$MDB" stop "$DBDIR" >/dev/null 2>&1
    if [ "$OWN_MACHINE" = 1 ]; then
        remove_test_state
        [ "$INSTALLED_BEFORE" = 0 ] && "$ROOT/scripts/install.sh" --uninstall >/dev/null 2>&1
    fi
    if [ "$FAILED" = 0 ]; then
        rm -rf "$T"
    elif ! rmdir "$T" 2>/dev/null; then
        echo "logs of the failed run: $T (cluster-logs/, mariadb/err.log)"
    fi
    if [ ${#TIMINGS[@]} -gt 0 ]; then
        echo "timings:"
        printf '  %s\n' "${TIMINGS[@]}"
    fi
    summary && exit 0
    exit 1
}
trap cleanup EXIT
trap 'exit 130' INT      # so that an interrupted or killed run still cleans up
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------------
# The database.
sql() { mariadb --no-defaults --socket="$DBDIR/sock" -uroot -N -B keystone -e "$1"; }
insert_rows() { # insert_rows PREFIX N expired|valid|null
    local expr
    case "$3" in
        expired) expr="UTC_TIMESTAMP() - INTERVAL 1 DAY" ;;
        valid) expr="UTC_TIMESTAMP() + INTERVAL 1 DAY" ;;
        null) expr="NULL" ;;
    esac
    sql "INSERT INTO token (id, expires, extra, valid, user_id)
         SELECT CONCAT('$1-', seq), $expr, REPEAT('x', 200), 1, 'e2e' FROM seq_1_to_$2"
}
count_rows() { sql "SELECT COUNT(*) FROM token WHERE id LIKE '$1-%'"; }
rows_are() { [ "$(count_rows "$1")" = "$2" ]; }
# Rows the server deleted since it started (MariaDB 10.11 has no Innodb_rows_deleted any more).
rows_deleted() { sql "SHOW GLOBAL STATUS LIKE 'Handler_delete'" | awk '{ print $2 }'; }
db_now() { sql "SELECT NOW(6)"; }
# The client addresses that ran a DELETE as the agent's user since TIME (from the general log).
delete_hosts_since() {
    sql "SELECT DISTINCT SUBSTRING_INDEX(SUBSTRING_INDEX(user_host, '[', -1), ']', 1)
         FROM mysql.general_log
         WHERE event_time >= '$1' AND user_host LIKE 'keystone[%'
           AND command_type IN ('Query', 'Execute') AND argument LIKE '%DELETE%FROM%'" | sort | tr '\n' ' ' | sed 's/ $//'
}
ip_of() { [ "$1" = "$NODE1" ] && echo 10.99.0.1 || echo 10.99.0.2; }

# ---------------------------------------------------------------------------------------------------
# The agent's state file on a node.
state_file() { echo "$STATE_DIR/tokenflush-$1.state"; }
state_on() { # state_on NODE RSC -> the JSON, or nothing
    if [ "$1" = "$NODE1" ]; then cat "$(state_file "$2")" 2>/dev/null
    else "$SANDBOX" node2 cat "$(state_file "$2")" 2>/dev/null; fi
}
state_field() { python3 -c 'import json, sys
d = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    d = d.get(k) if isinstance(d, dict) else None
print("" if d is None else (str(d).lower() if isinstance(d, bool) else d))' "$1"; }
has_state() { [ -n "$(state_on "$1" "$2")" ]; }
state_only_on() { # state_only_on NODE RSC: NODE has the state file, the other node has none
    has_state "$1" "$2" && ! has_state "$(other_node "$1")" "$2"
}
# What the agent says it deleted on a node: the sum of its "flushed N rows" lines, which Pacemaker's
# executor copies from the agent's stderr into that node's pacemaker.log. Unlike the state file this
# survives a stop, a move and a crash.
SBDIR=${TOKENFLUSH_SANDBOX_DIR:-/run/tokenflush-sandbox}
pacemaker_log() { [ "$1" = "$NODE1" ] && echo "$SBDIR/node1/pacemaker.log" || echo "$SBDIR/node2/log-pacemaker/pacemaker.log"; }
flushed_on() { # flushed_on NODE RSC
    { grep -h "pacemaker-execd.*error output \[ tokenflush($2)\[[0-9]*\]: INFO: flushed [0-9]* rows" "$(pacemaker_log "$1")" 2>/dev/null || true; } |
        sed 's/.*INFO: flushed \([0-9]*\) rows.*/\1/' | awk '{ n += $1 } END { print n + 0 }'
}
monitor_ok() { [ "$(last_monitor_rc "$1")" = 0 ]; }
healthy() { # healthy RSC NODE: Started there, nothing under Failed Resource Actions, fail-count 0
    has_no_failures "$1" && is_started "$1" "$2" && [ "$(fail_count "$1" "$2")" = 0 ]
}
no_cluster_processes() {
    ! pgrep -x corosync >/dev/null && ! pgrep -x pacemakerd >/dev/null &&
        ! pgrep -f '^/usr/lib/pacemaker/pacemaker-' >/dev/null
}
password_not_in_cib() { ! cibadmin -Q | grep -qF -- "$PW"; }
password_not_in() { [ -f "$1" ] && ! grep -qF -- "$PW" "$1"; }
listed_as_degraded() { crm_mon -1 | sed -n '/Failed Resource Actions/,$p' | grep -q OCF_DEGRADED; }
no_netns_left() { ! ip netns list | grep -q tfs-node2 && ! ip link show tfs-vh1 >/dev/null 2>&1; }

other_node() { [ "$1" = "$NODE1" ] && echo "$NODE2" || echo "$NODE1"; }

# ===================================================================================================
section "preflight"
# Another cluster (or another run of this test) on the machine: touch nothing of it.
if pgrep -x corosync >/dev/null || pgrep -x pacemakerd >/dev/null || "$SANDBOX" status >/dev/null 2>&1; then
    fail "corosync/pacemakerd or a pacemaker sandbox is already running here; stop it first"
    exit 1
fi
OWN_MACHINE=1
pass "no other cluster runs on this machine"

section "install"
remove_test_state
if "$ROOT/scripts/install.sh" >"$T/install.log" 2>&1; then
    pass "scripts/install.sh installs $BIN and $AGENT"
else
    cat "$T/install.log"; fail "scripts/install.sh"; exit 1
fi
check "the agent is mode 755 and resolves to the binary" \
    test "$(stat -L -c %a "$AGENT")" = 755 -a "$(readlink -f "$AGENT")" = "$BIN"
check "user nobody can run the agent's meta-data" su nobody -s /bin/sh -c "$AGENT meta-data >/dev/null"

section "MariaDB"
"$MDB" start "$DBDIR" >/dev/null
PORT=$(cat "$DBDIR/port")
"$MDB" schema "$DBDIR" keystone
mariadb --no-defaults --socket="$DBDIR/sock" -uroot -e "
    CREATE USER keystone@'%' IDENTIFIED BY '$PW';
    GRANT ALL ON keystone.* TO keystone@'%';"
printf '%s\n' "$PW" >"$T/db.password"
chmod 600 "$T/db.password"
write_keystone_conf() { # write_keystone_conf FILE HOST: Keystone's own SQLAlchemy URL, raw ':' and '/'
    printf '[DEFAULT]\n\n[database]\nconnection = mysql+pymysql://keystone:%s@%s:%s/keystone?charset=utf8\n' \
        "$PW" "$2" "$PORT" >"$1"
    chmod 600 "$1"
}
write_keystone_conf "$T/keystone.conf" 127.0.0.1
note "MariaDB on 127.0.0.1:$PORT, data in $DBDIR"

# ===================================================================================================
section "single node: crm"
BEFORE_CONF=$(sha256sum /etc/corosync/corosync.conf 2>/dev/null || echo absent)
BEFORE_CIB=$(cd /var/lib/pacemaker/cib && find . -printf '%p %U %m %s\n' | sort | sha256sum)
insert_rows a-exp 300 expired
insert_rows a-valid 50 valid
insert_rows a-null 20 null

t_nothing=$(now)
if ! "$SANDBOX" start --nodes 1 >"$T/sandbox-1.log" 2>&1; then
    cat "$T/sandbox-1.log"; fail "pacemaker-sandbox start --nodes 1"; exit 1
fi
SANDBOX_STARTED=1
timing "1-node cluster: sandbox start -> node Online" "$(since "$t_nothing")"
pass "pacemaker-sandbox start --nodes 1: $NODE1 Online"

t_cfg=$(now)
# The README's example, run as it is, with the test's keystone.conf and short intervals.
TF_ID=$RSC TF_CONFIG=$T/keystone.conf TF_INTERVAL=5 TF_MONITOR_INTERVAL=2s TF_MONITOR_TIMEOUT=20s \
    sh "$ROOT/ocf/crm-example.sh" >"$T/crm-example.log" 2>&1 || { cat "$T/crm-example.log"; fail "ocf/crm-example.sh"; }
if wait_until 60 is_started "$RSC" "$NODE1"; then
    timing "crm configure primitive -> Started" "$(since "$t_cfg")"
    timing "nothing -> Started (cluster start + primitive)" "$(since "$t_nothing")"
    pass "ocf/crm-example.sh (config=keystone.conf interval=5, monitor 2s/20s) reaches Started"
else
    crm_mon -1 -rf; fail "ocf/crm-example.sh primitive reaches Started"
fi
if wait_until 40 rows_are a-exp 0; then
    timing "crm configure primitive -> 300 expired rows deleted" "$(since "$t_cfg")"
    pass "the expired rows disappear within a few monitor intervals"
else
    fail "the expired rows disappear (still $(count_rows a-exp) of 300)"
fi
check "the unexpired rows stay (50)" rows_are a-valid 50
check "the rows with a NULL expiry stay (20)" rows_are a-null 20
state=$(state_on "$NODE1" "$RSC")
check "the state file ($(state_file "$RSC")) exists, mode 600" test "$(stat -c %a "$(state_file "$RSC")" 2>/dev/null)" = 600
note "state: $(tr -d '\n ' <<<"$state" | cut -c1-300)"
check "the state shows the last flush (complete, 300 rows deleted in total)" test \
    "$(state_field last_flush.complete <<<"$state")/$(state_field rows_deleted_total <<<"$state")" = "true/300"
check "the password is not in the CIB" password_not_in_cib
check "the password is not in the state file" password_not_in "$(state_file "$RSC")"
check "the password is not in Pacemaker's log" password_not_in /run/tokenflush-sandbox/node1/pacemaker.log

section "single node: meta-data and validation"
ra_info=$(crm ra info ocf:openstack:tokenflush 2>&1 || true)
show_md=$(crm_resource --show-metadata ocf:openstack:tokenflush 2>&1 || true)
missing_info=(); missing_md=()
for p in "${PARAMS[@]}"; do
    grep -qE "(^|[^a-z_])$p([^a-z_]|$)" <<<"$ra_info" || missing_info+=("$p")
    grep -qF "<parameter name=\"$p\"" <<<"$show_md" || missing_md+=("$p")
done
check "crm ra info ocf:openstack:tokenflush lists every parameter${missing_info[*]:+ (missing: ${missing_info[*]})}" \
    test ${#missing_info[@]} = 0
check "crm_resource --show-metadata lists every parameter${missing_md[*]:+ (missing: ${missing_md[*]})}" \
    test ${#missing_md[@]} = 0
quietly() { "$@" >>"$T/commands.log" 2>&1; }     # output kept for a failed run, not shown
check "crm_resource --validate -r $RSC passes" quietly crm_resource --validate -r "$RSC"
BAD_TABLE='token; DROP TABLE token'
reason=$(OCF_RESKEY_table=$BAD_TABLE OCF_RESKEY_config=$T/keystone.conf OCF_RESOURCE_INSTANCE=e2e_validate \
    "$AGENT" validate-all 2>&1 | sed -n 's/^ocf-exit-reason://p' | head -1 || true)
note "the agent's own exit reason: $reason"
rc=0
vout=$(crm_resource --validate --class ocf --provider openstack --agent tokenflush \
    --option "table=$BAD_TABLE" --option "config=$T/keystone.conf" 2>&1) || rc=$?
note "crm_resource --validate with table='$BAD_TABLE': rc $rc: $(grep -v dbus <<<"$vout" | tr '\n' ' ' | cut -c1-300)"
check "crm_resource --validate with a bad parameter fails with the agent's exit reason" \
    test "$rc" != 0 -a -n "$reason" -a "$(grep -cF -- "$reason" <<<"$vout")" -gt 0
check "the resource is still Started after the validation" is_started "$RSC" "$NODE1"

section "single node: crm resource stop"
crm resource stop "$RSC" >/dev/null 2>&1
check "crm resource stop -> Stopped" wait_until 30 is_stopped "$RSC"
check "the state file is gone" test ! -e "$(state_file "$RSC")"
insert_rows a-stopped 100 expired
# Nothing runs while stopped, so this waits a fixed stretch: 8 s covers the flush interval (5 s) plus
# a monitor interval (2 s), i.e. at least one flush would have been due by now.
sleep 8
check "no deletes while Stopped: the 100 new expired rows remain" rows_are a-stopped 100

section "single node: database unreachable"
# After a failed flush the agent waits retry_interval before it tries again; 2 s keeps this short.
crm resource param "$RSC" set retry_interval 2 >/dev/null 2>&1
crm resource start "$RSC" >/dev/null 2>&1
check "crm resource start -> Started again" wait_until 30 is_started "$RSC" "$NODE1"
check "the rows inserted while Stopped are deleted after the start" wait_until 40 rows_are a-stopped 0
cluster_idle || true
starts_before=$(start_calls "$RSC")
"$MDB" stop "$DBDIR"
t_down=$(now)
if wait_until 40 monitor_failure "$RSC" >/dev/null; then
    timing "database stopped -> monitor reports OCF_DEGRADED" "$(since "$t_down")"
    failure=$(monitor_failure "$RSC")
    check "crm_mon --output-as=xml lists the monitor as exit code 190, OCF_DEGRADED ($failure)" test "$failure" = "190 OCF_DEGRADED"
    check "crm_mon lists it under Failed Resource Actions" listed_as_degraded
    # Watch a few more monitors go by: the resource must stay put, with no fail-count and no restart.
    sleep 6
    check "the resource stays Started while the database is down" is_started "$RSC" "$NODE1"
    check "the fail-count stays 0" test "$(fail_count "$RSC" "$NODE1")" = 0
    check "no restart loop (the start operation is still call $starts_before)" test "$(start_calls "$RSC")" = "$starts_before"
else
    crm_mon -1 -rf
    fail "with the database down the monitor reports OCF_DEGRADED (190)"
fi
"$MDB" start "$DBDIR" --port "$PORT" >/dev/null
t_up=$(now)
insert_rows a-after 50 expired
if wait_until 40 rows_are a-after 0; then
    timing "database back -> flushing again" "$(since "$t_up")"
    pass "flushing resumes once the database is back"
else
    fail "flushing resumes once the database is back (still $(count_rows a-after) of 50)"
fi
check "the monitor returns 0 again" wait_until 20 monitor_ok "$RSC"
crm resource cleanup "$RSC" >/dev/null 2>&1
cluster_idle || true
check "after crm resource cleanup: no failed actions, Started, fail-count 0" healthy "$RSC" "$NODE1"
crm resource stop "$RSC" >/dev/null 2>&1
wait_until 30 is_stopped "$RSC" || true
crm configure delete --force "$RSC" >/dev/null 2>&1 || true
cluster_idle || true

section "single node: pcs"
insert_rows p-exp 200 expired
t_cfg=$(now)
TF_ID=$RSC_PCS TF_CONNECTION="mysql+pymysql://keystone@127.0.0.1:$PORT/keystone?charset=utf8" \
    TF_PASSWORD_FILE=$T/db.password TF_INTERVAL=5 TF_MONITOR_INTERVAL=2s TF_MONITOR_TIMEOUT=20s \
    sh "$ROOT/ocf/pcs-example.sh" >"$T/pcs-example.log" 2>&1 || { cat "$T/pcs-example.log"; fail "ocf/pcs-example.sh"; }
if wait_until 60 is_started "$RSC_PCS" "$NODE1"; then
    timing "pcs resource create -> Started" "$(since "$t_cfg")"
    pass "ocf/pcs-example.sh (connection= + password_file=) reaches Started"
else
    crm_mon -1 -rf; fail "ocf/pcs-example.sh resource reaches Started"
fi
check "the expired rows disappear" wait_until 40 rows_are p-exp 0
check "the unexpired and NULL rows stay" test "$(count_rows a-valid)/$(count_rows a-null)" = 50/20
check "the password is not in the CIB" password_not_in_cib
check "pcs resource disable --wait" quietly pcs resource disable "$RSC_PCS" --wait=60
check "pcs resource disable -> Stopped" wait_until 30 is_stopped "$RSC_PCS"
insert_rows p-stopped 100 expired
sleep 8     # as above: longer than a flush interval plus a monitor interval
check "no deletes while disabled: the 100 new expired rows remain" rows_are p-stopped 100
pcs resource delete "$RSC_PCS" >/dev/null 2>&1 || true
cluster_idle || true
sql "DELETE FROM token WHERE id LIKE 'p-stopped-%'"

section "ocf-tester"
if ocf-tester -n "$TESTER_RSC" -o "connection=mysql://keystone@127.0.0.1:$PORT/keystone" \
    -o "password_file=$T/db.password" "$AGENT" >"$T/ocf-tester.log" 2>&1; then
    pass "ocf-tester passes against $AGENT ($(tail -1 "$T/ocf-tester.log"))"
else
    cat "$T/ocf-tester.log"; fail "ocf-tester against $AGENT"
fi

section "single node: sandbox stop"
"$SANDBOX" stop >/dev/null 2>&1
SANDBOX_STARTED=0
check "no corosync, pacemakerd or pacemaker daemon is left" no_cluster_processes
check "corosync.conf is restored" test "$(sha256sum /etc/corosync/corosync.conf 2>/dev/null || echo absent)" = "$BEFORE_CONF"
check "/var/lib/pacemaker/cib is restored" \
    test "$(cd /var/lib/pacemaker/cib && find . -printf '%p %U %m %s\n' | sort | sha256sum)" = "$BEFORE_CIB"

# ===================================================================================================
section "two nodes"
t_nothing=$(now)
if ! "$SANDBOX" start --nodes 2 >"$T/sandbox-2.log" 2>&1; then
    cat "$T/sandbox-2.log"; fail "pacemaker-sandbox start --nodes 2"; exit 1
fi
SANDBOX_STARTED=1
timing "2-node cluster: sandbox start -> both nodes Online" "$(since "$t_nothing")"
pass "pacemaker-sandbox start --nodes 2: $NODE1 and $NODE2 Online"
check "node2 runs in its own UTS namespace" test "$("$SANDBOX" node2 hostname)" = "$NODE2"

# The database now has to be reachable from node2, across the veth pair.
"$MDB" stop "$DBDIR"
"$MDB" start "$DBDIR" --port "$PORT" --bind 10.99.0.1 >/dev/null
write_keystone_conf "$T/keystone2.conf" 10.99.0.1
db_from_node2() { "$SANDBOX" node2 mariadb --no-defaults -h10.99.0.1 -P"$PORT" -ukeystone -p"$PW" -e "SELECT 1" keystone >/dev/null; }
check "node2 reaches MariaDB at 10.99.0.1:$PORT" db_from_node2
sql "SET GLOBAL log_output = 'TABLE'; SET GLOBAL general_log = 1"
deleted_base=$(rows_deleted)

t_cfg=$(now)
TF_ID=$RSC TF_CONFIG=$T/keystone2.conf TF_INTERVAL=5 TF_MONITOR_INTERVAL=2s TF_MONITOR_TIMEOUT=20s \
    sh "$ROOT/ocf/crm-example.sh" >"$T/crm-example-2.log" 2>&1 || { cat "$T/crm-example-2.log"; fail "ocf/crm-example.sh on 2 nodes"; }
if wait_until 60 is_started "$RSC"; then
    timing "2 nodes: crm configure primitive -> Started" "$(since "$t_cfg")"
    pass "the primitive reaches Started on 2 nodes"
else
    crm_mon -1 -rf; fail "the primitive reaches Started on 2 nodes"
fi
cluster_idle || true
A=$(rsc_node "$RSC"); B=$(other_node "$A")
note "running on $A"
check "it runs on exactly one node (crm_mon: nodes_running_on=1)" test "$(rsc_nodes_running "$RSC")" = 1
check "only $A has a state file" state_only_on "$A" "$RSC"
t_db=$(db_now)
insert_rows b1 200 expired
check "the expired rows disappear (on $A)" wait_until 40 rows_are b1 0
check "only $A ($(ip_of "$A")) ran DELETEs" test "$(delete_hosts_since "$t_db")" = "$(ip_of "$A")"

# --- standby moves it ------------------------------------------------------------------------------
t_move=$(now); t_db=$(db_now)
# From node2: crmsh pings every node by name first, and only node2's namespace resolves both names
# (the sandbox leaves the host's /etc/hosts alone). It exits 0 even when it refuses, hence the check.
"$SANDBOX" node2 crm node standby "$A" >/dev/null 2>&1
if wait_until 60 is_started "$RSC" "$B"; then
    timing "crm node standby $A -> Started on $B" "$(since "$t_move")"
    pass "crm node standby $A moves it to $B"
else
    crm_mon -1 -rf; fail "crm node standby $A moves it to $B"
fi
check "$A's state file is gone (stopped there), $B has one" state_only_on "$B" "$RSC"
insert_rows b2 200 expired
check "flushing goes on on $B" wait_until 40 rows_are b2 0
check "since the move only $B ($(ip_of "$B")) ran DELETEs" test "$(delete_hosts_since "$t_db")" = "$(ip_of "$B")"
"$SANDBOX" node2 crm node online "$A" >/dev/null 2>&1
cluster_idle || true
wait_until 30 is_started "$RSC" || true

# --- killing the active node moves it ---------------------------------------------------------------
X=$(rsc_node "$RSC"); S=$(other_node "$X")
note "killing $X (pacemakerd + corosync, SIGKILL) while it runs the resource"
t_kill=$(now); t_db=$(db_now)
if [ "$X" = "$NODE1" ]; then "$SANDBOX" kill 1 >/dev/null 2>&1; ON=("$SANDBOX" node2); else "$SANDBOX" kill 2 >/dev/null 2>&1; fi
if wait_until 90 is_started "$RSC" "$S"; then
    timing "kill $X -> Started on $S (failover)" "$(since "$t_kill")"
    pass "killing $X's pacemakerd and corosync moves it to $S"
else
    cl crm_mon -1 -rf || true; fail "killing $X's pacemakerd and corosync moves it to $S"
fi
check "$S sees $X offline" node_offline "$X"
insert_rows b3 200 expired
check "flushing goes on on the survivor $S" wait_until 40 rows_are b3 0
check "since the kill only $S ($(ip_of "$S")) ran DELETEs" test "$(delete_hosts_since "$t_db")" = "$(ip_of "$S")"
f1=$(flushed_on "$NODE1" "$RSC"); f2=$(flushed_on "$NODE2" "$RSC")
deleted=$(( $(rows_deleted) - deleted_base ))
note "the agent logged $f1 rows flushed on $NODE1 and $f2 on $NODE2; the server deleted $deleted rows"
check "deleted rows are counted once: $f1 + $f2 logged = $deleted deleted by the server = 600 expired" \
    test "$((f1 + f2))/$deleted" = 600/600
check "the unexpired and NULL rows are all still there" test "$(count_rows a-valid)/$(count_rows a-null)" = 50/20
note "the sandbox has no fencing; a production cluster must have stonith (see README.md, "Running it in a cluster")"

section "two nodes: a clone is refused"
# Configuring it as a clone (clone-max defaults to the number of nodes, 2) must not give two flushers:
# the agent's start fails with 6, OCF_ERR_CONFIGURED, naming the reason, and nothing flushes.
# (Wrapping the *running* primitive into a clone would not do: Pacemaker keeps the running instance and
# its recurring monitor as they are, so the agent only sees clone-max at the next start.)
clone_start_failure() { # "exitcode exitreason" of a failed start of the clone's instance
    local x
    x=$(mon_xml) || return 1
    [ "$(xp "count(//failures/failure[starts-with(@op_key, '$RSC') and @task='start'])" <<<"$x")" -ge 1 ] || return 1
    echo "$(xp "string((//failures/failure[starts-with(@op_key, '$RSC') and @task='start'])[1]/@exitcode)" <<<"$x") $(xp "string((//failures/failure[starts-with(@op_key, '$RSC') and @task='start'])[1]/@exitreason)" <<<"$x")"
}
runs_nowhere() { [ "$(mon_xml | xp "count(//resources//resource[starts-with(@id, '$RSC') and @active='true'])")" = 0 ]; }
cl crm resource stop "$RSC" >>"$T/commands.log" 2>&1 || true
wait_until 30 is_stopped "$RSC" || true
cl crm configure delete --force "$RSC" >>"$T/commands.log" 2>&1 || true
printf 'primitive %s ocf:openstack:tokenflush params config=%s interval=5 op monitor interval=2s timeout=20s\nclone cl_tokenflush %s\n' \
    "${RSC}_clone" "$T/keystone2.conf" "${RSC}_clone" >"$T/clone.crm"
cl crm configure load update "$T/clone.crm" >>"$T/commands.log" 2>&1 || true
if wait_until 30 clone_start_failure >/dev/null; then
    cf=$(clone_start_failure)
    note "start of the clone: $cf"
    check "as a clone its start fails with exit code 6 and says why" \
        test "${cf%% *}" = 6 -a "$(grep -c 'not a clone' <<<"$cf")" = 1
else
    cl crm_mon -1 -rf || true; fail "as a clone its start fails with exit code 6"
fi
check "the clone runs nowhere" wait_until 30 runs_nowhere
insert_rows b4 100 expired
sleep 8     # a flush interval plus a monitor interval
check "the refused clone deletes nothing: the 100 expired rows remain" rows_are b4 100

section "two nodes: sandbox stop"
ON=()
"$SANDBOX" stop >/dev/null 2>&1
SANDBOX_STARTED=0
check "no corosync, pacemakerd or pacemaker daemon is left" no_cluster_processes
check "no network namespace and no veth pair are left" no_netns_left
check "corosync.conf is restored" test "$(sha256sum /etc/corosync/corosync.conf 2>/dev/null || echo absent)" = "$BEFORE_CONF"
