#!/usr/bin/env bash
# A throwaway 3-node MariaDB Galera cluster on 127.0.0.1, for the Galera end-to-end tests.
#
#   scripts/galera-sandbox.sh start  [--dir DIR]   # fresh datadirs; prints "P1 P2 P3" (the SQL ports)
#   scripts/galera-sandbox.sh stop   [--dir DIR]   # stops exactly the servers start recorded, waits for exit
#   scripts/galera-sandbox.sh status [--dir DIR]   # one line per node; exit 3 unless all three are running
#
# DIR defaults to $GALERA_SANDBOX_DIR or /tmp/tokenflush-galera. Node i lives in DIR/n<i>
# (data/, sock, err.log, pid). Root has no password and is reachable over TCP on every node
# (mariadb -h127.0.0.1 -P<port> -uroot), and over DIR/n<i>/sock.
#
# Ports. Every node needs four: SQL, group communication (gmcast), IST and rsync SST. By default
# start picks a base port B where B..B+3, B+10..B+13, ... are all free; node i then gets
#   SQL B+i-1, gcomm B+10+i-1, IST B+20+i-1, SST B+30+i-1.
# Override with GALERA_BASE_PORT=B, or port by port with space-separated lists of three:
#   GALERA_SQL_PORTS, GALERA_GCOMM_PORTS, GALERA_IST_PORTS, GALERA_SST_PORTS.
#
# Facts this relies on (measured here, see /work/shared/notes/infrastructure.md section 5):
# - mariadbd runs as user mysql, not root: wsrep_sst_rsync's rsync daemon drops to nobody/mysql and
#   cannot write into root-owned directories, so SST fails as root;
# - distinct IST ports are needed (the default is gmcast port + 1);
# - each joiner is started only once the previous node reports wsrep_ready=ON and Synced
#   (the joins are sequential SSTs; ~26 s for the whole cluster);
# - replicas apply asynchronously: readers on other nodes should SET SESSION wsrep_sync_wait=1.
set -euo pipefail

die() { echo "galera-sandbox: $*" >&2; exit 1; }
log() { echo "galera-sandbox: $*" >&2; }

PROVIDER=${GALERA_PROVIDER:-/usr/lib/galera/libgalera_smm.so}
NODES=(1 2 3)

cmd=${1:-}
[ -n "$cmd" ] || die "usage: $0 start|stop|status [--dir DIR]"
shift
dir=${GALERA_SANDBOX_DIR:-/tmp/tokenflush-galera}
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) [ $# -ge 2 ] || die "--dir needs a value"; dir=$2; shift 2 ;;
        --dir=*) dir=${1#--dir=}; shift ;;
        *) die "unknown option $1" ;;
    esac
done

listening_ports() { ss -Htln 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u; }

port_free() { # port_free PORT  (nothing listens on it, TCP, any address)
    ! listening_ports | grep -qx "$1"
}

pick_base() {
    local used base p ok
    used=$(listening_ports)
    for _ in $(seq 1 200); do
        base=$((20000 + (RANDOM % 400) * 100))
        ok=1
        for off in 0 1 2 10 11 12 20 21 22 30 31 32; do
            p=$((base + off))
            if grep -qx "$p" <<<"$used"; then ok=0; break; fi
        done
        [ $ok = 1 ] && { echo "$base"; return 0; }
    done
    die "found no free port range"
}

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# A node's mariadbd PID, only if the recorded process is still a mariadbd of this sandbox.
node_pid() {
    local f="$dir/n$1/pid" pid
    [ -f "$f" ] || return 1
    pid=$(cat "$f")
    pid_alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--datadir=$dir/n$1/data" || return 1
    echo "$pid"
}

sql() { # sql NODE STATEMENT  -> tab-separated result, no headers
    mariadb --no-defaults --socket="$dir/n$1/sock" -uroot -N -B -e "$2"
}

status_var() { sql "$1" "SHOW GLOBAL STATUS LIKE '$2'" 2>/dev/null | cut -f2; }

stop_all() {
    local pids=() pid i
    for i in 3 2 1; do
        pid=$(node_pid "$i") || continue
        kill -CONT "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
        pids+=("$pid")
    done
    # A clean Galera leave takes a few seconds per node; the data is thrown away anyway,
    # so wait up to 30 s and then SIGKILL what is left.
    for _ in $(seq 1 300); do
        local alive=0
        for pid in "${pids[@]}"; do pid_alive "$pid" && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do
        if pid_alive "$pid"; then log "pid $pid did not exit after SIGTERM, sending SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 100); do pid_alive "$pid" || break; sleep 0.1; done
    done
    # State-transfer helpers (wsrep_sst_rsync and its rsync daemon) are children of our servers.
    # They normally exit with the SST; kill any that survived, by PID, matched on this sandbox's paths.
    local p
    for p in $(pgrep -f -- "$dir/n[123]/" 2>/dev/null || true); do
        [ "$p" = $$ ] && continue
        log "killing leftover helper $p: $(tr '\0' ' ' </proc/$p/cmdline 2>/dev/null | cut -c1-120)"
        kill -KILL "$p" 2>/dev/null || true
    done
    for i in "${NODES[@]}"; do rm -f "$dir/n$i/pid"; done
}

start_node() { # start_node I SQL GCOMM IST SST ADDRESS [--wsrep-new-cluster]
    local i=$1 sqlp=$2 g=$3 ist=$4 sst=$5 addr=$6; shift 6
    local d="$dir/n$i"
    mkdir -p "$d"
    mariadb-install-db --no-defaults --datadir="$d/data" --auth-root-authentication-method=normal \
        --skip-test-db --user=mysql >"$d/install.log" 2>&1 || die "mariadb-install-db failed for node $i, see $d/install.log"
    chown -R mysql:mysql "$d"
    # setsid: the server must not share the caller's process group or terminal; stop finds it by PID.
    setsid mariadbd --no-defaults --datadir="$d/data" --socket="$d/sock" --port="$sqlp" \
        --bind-address=127.0.0.1 --pid-file="$d/mariadbd.pid" --log-error="$d/err.log" \
        --skip-name-resolve --user=mysql \
        --innodb-buffer-pool-size=256M --innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0 \
        --binlog-format=ROW --innodb-autoinc-lock-mode=2 \
        --wsrep-on=ON --wsrep-provider="$PROVIDER" --wsrep-cluster-name=tokenflush-sandbox \
        --wsrep-cluster-address="$addr" --wsrep-node-name="n$i" --wsrep-node-address=127.0.0.1 \
        --wsrep-node-incoming-address="127.0.0.1:$sqlp" \
        --wsrep-provider-options="gmcast.listen_addr=tcp://127.0.0.1:$g;ist.recv_addr=127.0.0.1:$ist" \
        --wsrep-sst-method=rsync --wsrep-sst-receive-address="127.0.0.1:$sst" \
        "$@" </dev/null >"$d/stdout.log" 2>&1 &
    echo $! >"$d/pid"
    local t0=$SECONDS
    while :; do
        if [ "$(status_var "$i" wsrep_ready)" = ON ] && [ "$(status_var "$i" wsrep_local_state_comment)" = Synced ]; then
            log "node $i ready on port $sqlp after $((SECONDS - t0)) s"
            return 0
        fi
        pid_alive "$(cat "$d/pid")" || die "node $i (mariadbd) exited, see $d/err.log"
        [ $((SECONDS - t0)) -lt 120 ] || die "node $i not Synced within 120 s, see $d/err.log"
        sleep 0.2
    done
}

case "$cmd" in
start)
    [ "$(id -u)" = 0 ] || die "start must run as root (mariadbd drops to user mysql)"
    id mysql >/dev/null 2>&1 || die "user mysql does not exist (install mariadb-server: scripts/setup.sh)"
    [ -e "$PROVIDER" ] || die "$PROVIDER not found (install galera-4: scripts/setup.sh)"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    for i in "${NODES[@]}"; do
        if p=$(node_pid "$i"); then die "node $i is already running in $dir (pid $p); stop it first"; fi
    done
    # Fresh datadirs every start.
    rm -rf "$dir/n1" "$dir/n2" "$dir/n3" "$dir/ports"
    # mysql must be able to reach the datadirs (mktemp -d makes 0700 directories).
    chmod 755 "$dir"
    setpriv --reuid=mysql --regid=mysql --clear-groups test -x "$dir" 2>/dev/null \
        || die "user mysql cannot enter $dir (a parent directory is not searchable by others?)"
    if [ -n "${GALERA_SQL_PORTS:-}${GALERA_GCOMM_PORTS:-}${GALERA_IST_PORTS:-}${GALERA_SST_PORTS:-}" ] || [ -n "${GALERA_BASE_PORT:-}" ]; then
        base=${GALERA_BASE_PORT:-23300}
    else
        base=$(pick_base)
    fi
    read -r -a SQLP <<<"${GALERA_SQL_PORTS:-$base $((base + 1)) $((base + 2))}"
    read -r -a GP <<<"${GALERA_GCOMM_PORTS:-$((base + 10)) $((base + 11)) $((base + 12))}"
    read -r -a ISTP <<<"${GALERA_IST_PORTS:-$((base + 20)) $((base + 21)) $((base + 22))}"
    read -r -a SSTP <<<"${GALERA_SST_PORTS:-$((base + 30)) $((base + 31)) $((base + 32))}"
    for a in SQLP GP ISTP SSTP; do
        declare -n arr=$a
        [ ${#arr[@]} = 3 ] || die "need exactly three ports in each GALERA_*_PORTS list"
        for p in "${arr[@]}"; do
            [[ $p =~ ^[0-9]+$ ]] && [ "$p" -ge 1024 ] && [ "$p" -le 65535 ] || die "bad port '$p'"
            port_free "$p" || die "port $p is already in use"
        done
        unset -n arr
    done
    addr="gcomm://127.0.0.1:${GP[0]},127.0.0.1:${GP[1]},127.0.0.1:${GP[2]}"
    # From here on, a failure must not leave half a cluster behind.
    trap 'rc=$?; if [ $rc != 0 ]; then log "start failed, stopping what was started"; stop_all; fi' EXIT
    t0=$SECONDS
    start_node 1 "${SQLP[0]}" "${GP[0]}" "${ISTP[0]}" "${SSTP[0]}" "$addr" --wsrep-new-cluster
    start_node 2 "${SQLP[1]}" "${GP[1]}" "${ISTP[1]}" "${SSTP[1]}" "$addr"
    start_node 3 "${SQLP[2]}" "${GP[2]}" "${ISTP[2]}" "${SSTP[2]}" "$addr"
    size=$(status_var 1 wsrep_cluster_size)
    [ "$size" = 3 ] || die "cluster size is '$size', expected 3"
    for i in "${NODES[@]}"; do
        mariadb --no-defaults -h127.0.0.1 -P"${SQLP[$((i - 1))]}" -uroot -N -B -e 'SELECT 1' >/dev/null \
            || die "root cannot log in over TCP on node $i"
    done
    echo "${SQLP[*]}" >"$dir/ports"
    log "cluster of 3 formed in $((SECONDS - t0)) s in $dir"
    trap - EXIT
    echo "${SQLP[*]}"
    ;;
stop)
    [ -d "$dir" ] || exit 0
    dir=$(cd "$dir" && pwd)
    stop_all
    ;;
status)
    [ -d "$dir" ] || { echo "stopped"; exit 3; }
    dir=$(cd "$dir" && pwd)
    up=0
    read -r -a SQLP <"$dir/ports" 2>/dev/null || SQLP=(? ? ?)
    for i in "${NODES[@]}"; do
        if pid=$(node_pid "$i"); then
            up=$((up + 1))
            echo "node $i: running pid $pid port ${SQLP[$((i - 1))]} cluster_size=$(status_var "$i" wsrep_cluster_size) state=$(status_var "$i" wsrep_local_state_comment)"
        else
            echo "node $i: stopped"
        fi
    done
    [ $up = 3 ] || exit 3
    ;;
*) die "unknown command $cmd (start|stop|status)" ;;
esac
