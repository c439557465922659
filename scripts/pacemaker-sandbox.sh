#!/usr/bin/env bash
# A real, throwaway Pacemaker + Corosync cluster on this machine, for the cluster tests and for trying
# the agent by hand. It needs root and works without systemd.
#
#   scripts/pacemaker-sandbox.sh start [--nodes 1|2]   # default 1
#   scripts/pacemaker-sandbox.sh stop                  # idempotent; restores what start changed
#   scripts/pacemaker-sandbox.sh status
#   scripts/pacemaker-sandbox.sh node2 CMD [ARGS...]   # run CMD "on" node 2 (its mount/UTS/net namespaces)
#   scripts/pacemaker-sandbox.sh kill NODE             # SIGKILL a node's corosync + pacemakerd and then
#                                                      # its pacemaker daemons (NODE 1 or 2): a crash
#   scripts/pacemaker-sandbox.sh pids NODE             # the node's corosync and pacemakerd PIDs
#
# Node 1 is this machine's own network/mount namespace, named `uname -n`. With --nodes 2, node 2 ("node2")
# runs in a network namespace linked to node 1 by a veth pair (10.99.0.1 <-> 10.99.0.2), inside private
# mount and UTS namespaces: its own /run, /dev/shm, /etc/corosync, /var/lib/{pacemaker,corosync}, log
# directories and /etc/hosts (naming both nodes). Cluster traffic stays on loopback or on that veth pair.
# crmsh commands that ping every node by name (crm node standby/online) work on node 2 only.
#
# The sandbox leaves the machine as it found it: start backs up /etc/corosync/corosync.conf,
# /var/lib/pacemaker/{cib,pengine} and /var/lib/corosync and stop puts them back; it refuses to start
# while any corosync or pacemakerd runs; and it kills only the processes it started, by PID (checked
# against their start time, so a recycled PID is never hit).
#
# Run state lives in $TOKENFLUSH_SANDBOX_DIR (default /run/tokenflush-sandbox). Node 1's logs are there
# too; stop deletes the directory, after copying the logs to $TOKENFLUSH_SANDBOX_LOGS if that is set.
set -euo pipefail

RUN=${TOKENFLUSH_SANDBOX_DIR:-/run/tokenflush-sandbox}
NS=tfs-node2            # network namespace of node 2
VETH1=tfs-vh1           # veth end in the root namespace (node 1)
VETH2=tfs-vn2           # veth end inside $NS (node 2)
ADDR1=10.99.0.1
ADDR2=10.99.0.2
NODE1=$(uname -n)
NODE2=node2
CLUSTER=tokenflush

die() { echo "pacemaker-sandbox: $*" >&2; exit 1; }
say() { echo "pacemaker-sandbox: $*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" = 0 ] || die "must run as root (it starts corosync and pacemakerd)"

# ---------------------------------------------------------------------------------------------------
# Process bookkeeping. A PID file line is "PID STARTTIME COMM"; STARTTIME is field 22 of /proc/PID/stat,
# so a PID reused by an unrelated process after ours died is recognised and left alone.
starttime() { awk '{ sub(/^.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null; }
record() { # record PID FILE [NAME]: NAME defaults to the process's comm; pass it when the process
           # may not have exec'd its program yet (setsid corosync ... &)
    local st comm
    st=$(starttime "$1") || return 0
    comm=${3:-$(cat "/proc/$1/comm" 2>/dev/null)} || return 0
    echo "$1 $st $comm" >>"$2"
}
ours_alive() { # ours_alive PID STARTTIME -> 0 when that very process still exists
    [ -n "$1" ] && [ "$(starttime "$1")" = "$2" ]
}
signal_file() { # signal_file SIG FILE: send SIG to every recorded process that is still ours
    local sig=$1 f=$2 pid st _c
    [ -f "$f" ] || return 0
    while read -r pid st _c; do
        if ours_alive "$pid" "$st"; then kill "-$sig" "$pid" 2>/dev/null || true; fi
    done <"$f"
}
wait_file() { # wait_file FILE SECONDS: wait until no recorded process is alive; 1 on timeout
    local f=$1 deadline pid st _c alive
    [ -f "$f" ] || return 0
    deadline=$(( $(date +%s) + $2 ))
    while :; do
        alive=0
        while read -r pid st _c; do
            if ours_alive "$pid" "$st"; then alive=1; fi
        done <"$f"
        [ "$alive" = 0 ] && return 0
        [ "$(date +%s)" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}
first_pid() { # the PID on the first line of a PID file, if that process is still ours
    local pid st _c
    [ -f "$1" ] || return 1
    read -r pid st _c <"$1" || return 1
    ours_alive "$pid" "$st" || return 1
    echo "$pid"
}
record_children() { # record_children PARENT FILE: pacemakerd's daemons (based, fenced, execd, ...)
    local c
    for c in $(pgrep -P "$1" || true); do record "$c" "$2"; done
}

# ---------------------------------------------------------------------------------------------------
write_corosync_conf() { # write_corosync_conf FILE NODES LOGFILE
    local f=$1 nodes=$2 log=$3
    {
        cat <<EOF
# Written by tokenflush's scripts/pacemaker-sandbox.sh; the original is restored on stop.
totem {
    version: 2
    cluster_name: $CLUSTER
    transport: knet
    crypto_cipher: none
    crypto_hash: none
}

logging {
    to_stderr: yes
    to_logfile: yes
    logfile: $log
    to_syslog: no
    timestamp: on
}

quorum {
    provider: corosync_votequorum
EOF
        if [ "$nodes" = 1 ]; then
            echo "    expected_votes: 1"
        else
            echo "    two_node: 1"
        fi
        cat <<EOF
}

nodelist {
    node {
        name: $NODE1
        nodeid: 1
        ring0_addr: $([ "$nodes" = 1 ] && echo 127.0.0.1 || echo "$ADDR1")
    }
EOF
        if [ "$nodes" = 2 ]; then
            cat <<EOF
    node {
        name: $NODE2
        nodeid: 2
        ring0_addr: $ADDR2
    }
EOF
        fi
        echo "}"
    } >"$f"
}

# A fresh CIB: no fencing (there is nothing to fence with here), keep running without quorum, and a
# 2 s dc-deadtime (the default 20 s makes a new node sit in S_PENDING for 20 s before it elects a DC).
seed_cib() { # seed_cib DIR
    local dir=$1
    rm -rf "${dir:?}"/*
    cat >"$dir/cib.xml" <<'EOX'
<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="cib-bootstrap-options-stonith-enabled" name="stonith-enabled" value="false"/>
        <nvpair id="cib-bootstrap-options-no-quorum-policy" name="no-quorum-policy" value="ignore"/>
        <nvpair id="cib-bootstrap-options-dc-deadtime" name="dc-deadtime" value="2s"/>
      </cluster_property_set>
    </crm_config>
    <nodes/>
    <resources/>
    <constraints/>
  </configuration>
  <status/>
</cib>
EOX
    chown hacluster:haclient "$dir/cib.xml"
    chmod 600 "$dir/cib.xml"
}

# ---------------------------------------------------------------------------------------------------
backup() {
    local b=$RUN/backup
    mkdir -p "$b"
    if [ -e /etc/corosync/corosync.conf ]; then
        cp -a /etc/corosync/corosync.conf "$b/corosync.conf"
    else
        touch "$b/corosync.conf.absent"
    fi
    mkdir -p /var/lib/pacemaker/cib /var/lib/pacemaker/pengine /var/lib/corosync
    cp -a /var/lib/pacemaker/cib "$b/cib"
    cp -a /var/lib/pacemaker/pengine "$b/pengine"
    cp -a /var/lib/corosync "$b/lib-corosync"
    # pacemakerd re-owns its directories at startup (/var/lib/pacemaker becomes hacluster's): note
    # owners and modes so that stop can put them back.
    stat -c '%u:%g %a %n' /var/lib/pacemaker /var/lib/pacemaker/* /var/log/pacemaker /var/log/corosync \
        /var/lib/corosync /etc/corosync >"$b/modes" 2>/dev/null || true
    [ -e /run/crm ] || touch "$b/run-crm.absent"
    [ -e /run/resource-agents ] || touch "$b/run-resource-agents.absent"
    [ -e /run/netns ] || touch "$b/run-netns.absent"
    [ -e /run/corosync.pid ] || touch "$b/run-corosync-pid.absent"
    touch "$b/complete"
}

restore() {
    local b=$RUN/backup d
    [ -f "$b/complete" ] || return 0
    if [ -f "$b/corosync.conf.absent" ]; then
        rm -f /etc/corosync/corosync.conf
    else
        cp -a "$b/corosync.conf" /etc/corosync/corosync.conf
    fi
    for d in cib pengine; do
        rm -rf "/var/lib/pacemaker/$d"
        cp -a "$b/$d" "/var/lib/pacemaker/$d"
    done
    rm -rf /var/lib/corosync
    cp -a "$b/lib-corosync" /var/lib/corosync
    local owner mode path
    while read -r owner mode path; do
        [ -e "$path" ] && chown "$owner" "$path" && chmod "$mode" "$path"
    done <"$b/modes"
    # Directories that only exist because the sandbox ran (pacemakerd makes /run/crm, the agent makes
    # its default state directory) go again.
    [ -f "$b/run-crm.absent" ] && rm -rf /run/crm
    [ -f "$b/run-resource-agents.absent" ] && rm -rf /run/resource-agents
    [ -f "$b/run-corosync-pid.absent" ] && rm -f /run/corosync.pid   # a killed corosync leaves it
    # `ip netns add` made /run/netns (a bind mount of itself); undo that unless someone else uses it now.
    if [ -f "$b/run-netns.absent" ] && [ -z "$(ls -A /run/netns 2>/dev/null)" ]; then
        umount /run/netns 2>/dev/null || true
        rmdir /run/netns 2>/dev/null || true
    fi
    rm -f "$b/complete"
}

# ---------------------------------------------------------------------------------------------------
start_node1() { # start_node1 NODES
    local n=$RUN/node1
    mkdir -p "$n"
    chmod 755 "$RUN" "$n"
    write_corosync_conf /etc/corosync/corosync.conf "$1" "$n/corosync.log"
    seed_cib /var/lib/pacemaker/cib
    rm -rf /var/lib/pacemaker/pengine/*
    # Pacemaker's daemons run as hacluster and open the log themselves.
    install -o hacluster -g haclient -m 660 /dev/null "$n/pacemaker.log"
    : >"$n/pids"
    setsid corosync -f >"$n/corosync.out" 2>&1 </dev/null &
    record $! "$n/pids" corosync
}

start_pacemakerd_node1() {
    local n=$RUN/node1
    PCMK_logfile=$n/pacemaker.log setsid pacemakerd -f >"$n/pacemakerd.out" 2>&1 </dev/null &
    record $! "$n/pids" pacemakerd
}

# Node 2's side. Runs as `ip netns exec $NS unshare -m -u bash inner.sh DIR`, so it
# is already in the private mount, UTS and network namespaces. It starts corosync, waits for it to
# answer, starts pacemakerd and then waits for both: it lives exactly as long as node 2 does.
# shellcheck disable=SC2016 # expanded by the inner shell, not here
NODE2_INNER='
set -euo pipefail
d=$1
hostname node2
mount --make-rprivate /
mount --bind "$d/etc-corosync" /etc/corosync
mount --bind "$d/lib-pacemaker" /var/lib/pacemaker
mount --bind "$d/lib-corosync" /var/lib/corosync
mount --bind "$d/log-pacemaker" /var/log/pacemaker
mount --bind "$d/log-corosync" /var/log/corosync
mount --bind "$d/hosts" /etc/hosts
# From here on $d is hidden under the new /run; everything node 2 writes goes through the binds above.
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
install -d -o hacluster -g haclient -m 750 /run/crm
corosync -f >/var/log/corosync/corosync.out 2>&1 </dev/null &
for _ in $(seq 1 300); do
    rc=0; corosync-quorumtool -s >/dev/null 2>&1 || rc=$?
    [ "$rc" != 1 ] && break      # 0 quorate, 2 not (yet) quorate, 1 no answer
    sleep 0.1
done
pacemakerd -f >/var/log/pacemaker/pacemakerd.out 2>&1 </dev/null &
wait
'

start_node2() {
    local n=$RUN/node2
    mkdir -p "$n"/{etc-corosync,lib-corosync,log-corosync}
    # /var/lib/pacemaker and /var/log/pacemaker as the package lays them out.
    install -d -o hacluster -g haclient -m 750 "$n/lib-pacemaker" "$n/lib-pacemaker/cib" \
        "$n/lib-pacemaker/pengine" "$n/lib-pacemaker/blackbox" "$n/lib-pacemaker/cores"
    install -d -o hacluster -g haclient -m 770 "$n/log-pacemaker"
    write_corosync_conf "$n/etc-corosync/corosync.conf" 2 /var/log/corosync/corosync.log
    # Node 2 resolves both node names (crmsh pings every node by name before `crm node standby`).
    # The host's /etc/hosts is left alone, so on node 1 the name node2 does not resolve.
    printf '127.0.0.1\tlocalhost\n%s\t%s\n%s\t%s\n' "$ADDR1" "$NODE1" "$ADDR2" "$NODE2" >"$n/hosts"
    seed_cib "$n/lib-pacemaker/cib"
    : >"$n/pids"
    : >"$n/inner.pid"

    ip netns add "$NS"
    ip link add "$VETH1" type veth peer name "$VETH2"
    ip link set "$VETH2" netns "$NS"
    ip addr add "$ADDR1/24" dev "$VETH1"
    ip link set "$VETH1" up
    ip netns exec "$NS" ip addr add "$ADDR2/24" dev "$VETH2"
    ip netns exec "$NS" ip link set "$VETH2" up
    ip netns exec "$NS" ip link set lo up

    # ip netns exec and unshare (without --fork) both exec, so $! is the inner bash itself. bash keeps
    # its script open, so hiding $n under the new /run does not matter.
    echo "$NODE2_INNER" >"$n/inner.sh"
    setsid ip netns exec "$NS" unshare -m -u bash "$n/inner.sh" "$n" >"$n/inner.out" 2>&1 </dev/null &
    record $! "$n/inner.pid" bash
}

node2_pid() { first_pid "$RUN/node2/inner.pid"; }

# Wait until a child called NAME of PARENT exists; print its PID.
wait_child() { # wait_child PARENT NAME SECONDS
    local i c
    for i in $(seq 1 $(( $3 * 10 ))); do
        c=$(pgrep -P "$1" -x "$2" || true)
        [ -n "$c" ] && { echo "$c"; return 0; }
        : "$i"
        sleep 0.1
    done
    return 1
}

wait_corosync_node1() {
    local i rc pid
    pid=$(first_pid "$RUN/node1/pids") || die "corosync exited, see $RUN/node1/corosync.out"
    for i in $(seq 1 300); do
        rc=0; corosync-quorumtool -s >/dev/null 2>&1 || rc=$?
        [ "$rc" != 1 ] && return 0
        kill -0 "$pid" 2>/dev/null || die "corosync exited, see $RUN/node1/corosync.out"
        : "$i"
        sleep 0.1
    done
    die "corosync did not answer within 30 s, see $RUN/node1/corosync.out"
}

# Wait until node 1's crm_mon lists every expected node as Online. Gives up early when a pacemakerd
# of ours has exited.
wait_online() { # wait_online NODES SECONDS
    local want out deadline i
    want="Online: \[ $NODE1 \]"
    [ "$1" = 2 ] && want="Online: \[ ($NODE1 $NODE2|$NODE2 $NODE1) \]"
    deadline=$(( $(date +%s) + $2 ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        out=$(crm_mon -1 2>/dev/null || true)
        grep -Eq "$want" <<<"$out" && return 0
        for i in $(seq 1 "$1"); do
            node_alive "$i" || { say "pacemakerd of node $i exited"; return 1; }
        done
        sleep 0.1
    done
    return 1
}

do_start() {
    local nodes=$1 t0 inner c p
    pgrep -x corosync >/dev/null && die "corosync is already running; refusing to start (stop it first)"
    pgrep -x pacemakerd >/dev/null && die "pacemakerd is already running; refusing to start (stop it first)"
    [ -e "$RUN" ] && die "$RUN exists: a sandbox is running or was not stopped; run '$0 stop' first"
    if [ "$nodes" = 2 ]; then
        ip netns list | grep -qw "$NS" && die "network namespace $NS exists; run '$0 stop' first"
        ip link show "$VETH1" >/dev/null 2>&1 && die "interface $VETH1 exists; run '$0 stop' first"
    fi

    t0=$(now)
    mkdir -p "$RUN"
    echo "$nodes" >"$RUN/nodes"
    # From now on any failure (set -e, die) undoes everything.
    trap 'say "start failed; cleaning up"; do_stop >&2 || true' EXIT
    backup

    [ "$nodes" = 2 ] && start_node2
    start_node1 "$nodes"
    wait_corosync_node1
    start_pacemakerd_node1
    if [ "$nodes" = 2 ]; then
        inner=$(node2_pid) || { say "node 2 exited early:"; cat "$RUN/node2/inner.out" >&2; false; }
        c=$(wait_child "$inner" corosync 30) || { say "node 2: no corosync"; false; }
        record "$c" "$RUN/node2/pids"
        p=$(wait_child "$inner" pacemakerd 30) || { say "node 2: no pacemakerd"; false; }
        record "$p" "$RUN/node2/pids"
    fi
    if ! wait_online "$nodes" 60; then
        crm_mon -1 >&2 || true
        say "the cluster did not come online (60 s at most); logs in $RUN/node*/"
        false
    fi
    # Record pacemakerd's daemons too, so stop can be sure none is left behind.
    record_children "$(sed -n 2p "$RUN/node1/pids" | cut -d' ' -f1)" "$RUN/node1/pids"
    [ "$nodes" = 2 ] && record_children "$p" "$RUN/node2/pids"
    trap - EXIT

    say "cluster of $nodes node(s) online in $(elapsed "$t0") s"
    do_status
}

# ---------------------------------------------------------------------------------------------------
# Stop one node the polite way: pacemakerd first (it stops the resources and its daemons), then corosync.
term_pacemakerd() { # term_pacemakerd NODEDIR
    local f=$1/pids pid st comm
    [ -f "$f" ] || return 0
    while read -r pid st comm; do
        if [ "$comm" = pacemakerd ] && ours_alive "$pid" "$st"; then kill -TERM "$pid" 2>/dev/null || true; fi
    done <"$f"
}
wait_pacemakerd() { # wait_pacemakerd NODEDIR SECONDS
    local f=$1/pids pid st comm deadline
    [ -f "$f" ] || return 0
    deadline=$(( $(date +%s) + $2 ))
    while read -r pid st comm; do
        [ "$comm" = pacemakerd ] || continue
        while ours_alive "$pid" "$st" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
    done <"$f"
}

remove_shm() { # libqb's shared-memory files of processes that were killed and could not clean up
    local f=$1 pid _st _c
    [ -f "$f" ] || return 0
    while read -r pid _st _c; do
        rm -rf /dev/shm/qb-"$pid"-* /dev/shm/qb-*-"$pid"-* 2>/dev/null || true
    done <"$f"
}

do_stop() {
    local n
    [ -d "$RUN" ] || { say "not running"; return 0; }
    # Both pacemakerds at once: the DC then plans a cluster-wide shutdown instead of moving the
    # resources from the first node to stop onto the second.
    for n in "$RUN/node2" "$RUN/node1"; do term_pacemakerd "$n"; done
    for n in "$RUN/node2" "$RUN/node1"; do wait_pacemakerd "$n" 60; done
    for n in "$RUN/node2" "$RUN/node1"; do signal_file TERM "$n/pids"; done
    for n in "$RUN/node2" "$RUN/node1"; do
        if ! wait_file "$n/pids" 20; then
            say "processes in $n did not stop on SIGTERM; sending SIGKILL"
            signal_file KILL "$n/pids"
            wait_file "$n/pids" 10 || say "some processes in $n survived SIGKILL"
        fi
    done
    # node 2's inner shell exits with its children; make sure.
    if [ -f "$RUN/node2/inner.pid" ]; then
        signal_file TERM "$RUN/node2/inner.pid"
        wait_file "$RUN/node2/inner.pid" 5 || signal_file KILL "$RUN/node2/inner.pid"
    fi
    remove_shm "$RUN/node1/pids"
    if ip link show "$VETH1" >/dev/null 2>&1; then ip link del "$VETH1" || true; fi
    if ip netns list | grep -qw "$NS"; then ip netns del "$NS" || true; fi
    restore
    if [ -n "${TOKENFLUSH_SANDBOX_LOGS:-}" ]; then
        mkdir -p "$TOKENFLUSH_SANDBOX_LOGS"
        cp -a "$RUN/node1" "$TOKENFLUSH_SANDBOX_LOGS/node1" 2>/dev/null || true
        if [ -d "$RUN/node2" ]; then
            mkdir -p "$TOKENFLUSH_SANDBOX_LOGS/node2"
            cp -a "$RUN/node2/log-pacemaker" "$RUN/node2/log-corosync" "$RUN/node2/inner.out" \
                "$TOKENFLUSH_SANDBOX_LOGS/node2/" 2>/dev/null || true
        fi
    fi
    rm -rf "$RUN"
    say "stopped"
}

# ---------------------------------------------------------------------------------------------------
node_alive() { # node_alive NODE -> 0 when its pacemakerd runs
    local f=$RUN/node$1/pids pid st comm
    [ -f "$f" ] || return 1
    while read -r pid st comm; do
        [ "$comm" = pacemakerd ] && ours_alive "$pid" "$st" && return 0
    done <"$f"
    return 1
}

do_status() {
    local nodes i pid st comm state
    [ -d "$RUN" ] || { echo "stopped"; return 3; }
    nodes=$(cat "$RUN/nodes")
    echo "sandbox: $nodes node(s), state in $RUN"
    for i in $(seq 1 "$nodes"); do
        echo "node$i ($([ "$i" = 1 ] && echo "$NODE1" || echo "$NODE2")):"
        while read -r pid st comm; do
            state=dead; ours_alive "$pid" "$st" && state=running
            echo "    $comm pid $pid $state"
        done <"$RUN/node$i/pids"
    done
    if [ "$nodes" = 2 ]; then
        if pid=$(node2_pid); then
            echo "run commands on node2 with:"
            echo "    nsenter -t $pid -m -u -n CMD...     (or: $0 node2 CMD...)"
            echo "    e.g. nsenter -t $pid -m -u -n crm_mon -1"
        else
            echo "node2 is down"
        fi
    fi
    echo "logs: $RUN/node1/{corosync,pacemaker}.log$([ "$nodes" = 2 ] && echo " $RUN/node2/log-{corosync,pacemaker}/")"
    if node_alive 1; then
        crm_mon -1 || true
    elif [ "$nodes" = 2 ] && node_alive 2; then
        do_node2 crm_mon -1 || true
    fi
}

do_node2() {
    local pid
    pid=$(node2_pid) || die "node 2 is not running"
    exec nsenter -t "$pid" -m -u -n "$@"
}

do_pids() { # corosync and pacemakerd of node N
    local pid st comm
    [ -f "$RUN/node$1/pids" ] || die "no node $1"
    while read -r pid st comm; do
        case "$comm" in corosync|pacemakerd) ours_alive "$pid" "$st" && echo "$comm $pid" ;; esac
    done <"$RUN/node$1/pids"
    return 0
}

# A node crash: SIGKILL corosync and pacemakerd together, then whatever pacemakerd's daemons are left
# (pacemaker-based, -fenced, -attrd and -controld exit once their cluster connection is gone, but
# pacemaker-execd and -schedulerd would linger; a node that lost power runs nothing at all).
do_kill() {
    local node=$1 pid st comm
    [ -f "$RUN/node$node/pids" ] || die "no node $node"
    while read -r pid st comm; do
        case "$comm" in
            corosync|pacemakerd) if ours_alive "$pid" "$st"; then kill -KILL "$pid" 2>/dev/null || true; fi ;;
        esac
    done <"$RUN/node$node/pids"
    signal_file KILL "$RUN/node$node/pids"
    wait_file "$RUN/node$node/pids" 10 || say "some processes of node $node survived SIGKILL"
    say "killed corosync, pacemakerd and the pacemaker daemons of node $node"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
start)
    nodes=1
    while [ $# -gt 0 ]; do
        case "$1" in
            --nodes) nodes=${2:-}; shift 2 ;;
            --nodes=*) nodes=${1#--nodes=}; shift ;;
            *) die "unknown option $1" ;;
        esac
    done
    case "$nodes" in 1|2) ;; *) die "--nodes must be 1 or 2" ;; esac
    do_start "$nodes"
    ;;
stop) do_stop ;;
status) do_status ;;
node2) [ $# -gt 0 ] || die "usage: $0 node2 CMD [ARGS...]"; do_node2 "$@" ;;
kill) [ "${1:-}" = 1 ] || [ "${1:-}" = 2 ] || die "usage: $0 kill 1|2"; do_kill "$1" ;;
pids) [ "${1:-}" = 1 ] || [ "${1:-}" = 2 ] || die "usage: $0 pids 1|2"; do_pids "$1" ;;
*) die "usage: $0 start [--nodes 1|2] | stop | status | node2 CMD... | kill 1|2 | pids 1|2" ;;
esac
