# Helpers for tests/cluster/e2e.sh (sourced; not executable on its own).
# shellcheck shell=bash

# shellcheck source=tests/lib/report.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/report.sh"
TIMINGS=()

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
timing() { TIMINGS+=("$(printf '%-52s %6s s' "$1" "$2")"); note "timing: $1 = $2 s"; }

# wait_until SECONDS CMD...: poll CMD every 0.25 s until it succeeds; 1 when the time runs out.
wait_until() {
    local deadline
    deadline=$(awk -v t="$1" -v n="$(now)" 'BEGIN { printf "%.2f", n + t }'); shift
    while :; do
        if "$@"; then return 0; fi
        awk -v d="$deadline" -v n="$(now)" 'BEGIN { exit !(n >= d) }' && return 1
        sleep 0.25
    done
}

# ---------------------------------------------------------------------------------------------------
# The cluster. Commands go to node 1 unless ON is set to a command prefix (node 2 via nsenter), which
# the failover test does once node 1 is dead.
ON=()
cl() { "${ON[@]}" "$@"; }

mon_xml() { cl crm_mon -1 --inactive --output-as=xml 2>/dev/null; }
xp() { xmllint --xpath "$1" - 2>/dev/null; }

rsc_role() { mon_xml | xp "string(//resources/resource[@id='$1']/@role)"; }
rsc_nodes_running() { mon_xml | xp "string(//resources/resource[@id='$1']/@nodes_running_on)"; }
rsc_node() { mon_xml | xp "string(//resources/resource[@id='$1']/node[1]/@name)"; }
# Started on exactly one node (the given one, if any) and not failed.
is_started() { # is_started RSC [NODE]
    local x
    x=$(mon_xml) || return 1
    [ "$(xp "string(//resources/resource[@id='$1']/@role)" <<<"$x")" = Started ] || return 1
    [ "$(xp "string(//resources/resource[@id='$1']/@nodes_running_on)" <<<"$x")" = 1 ] || return 1
    [ "$(xp "string(//resources/resource[@id='$1']/@failed)" <<<"$x")" = false ] || return 1
    [ -z "${2:-}" ] || [ "$(xp "string(//resources/resource[@id='$1']/node[1]/@name)" <<<"$x")" = "$2" ]
}
is_stopped() { # the resource exists, is stopped and runs nowhere
    local x
    x=$(mon_xml) || return 1
    [ "$(xp "string(//resources/resource[@id='$1']/@role)" <<<"$x")" = Stopped ] &&
        [ "$(xp "string(//resources/resource[@id='$1']/@nodes_running_on)" <<<"$x")" = 0 ]
}
node_offline() { [ "$(mon_xml | xp "string(//nodes/node[@name='$1']/@online)")" = false ]; }
cluster_idle() { cl crm_resource --wait --timeout=60s >/dev/null 2>&1; }

# The resource's entry under "Failed Resource Actions" for its recurring monitor: "exitcode exitreason".
monitor_failure() { # monitor_failure RSC
    local x
    x=$(mon_xml) || return 1
    [ "$(xp "count(//failures/failure[@op_key='${1}_monitor_2000'])" <<<"$x")" = 1 ] || return 1
    echo "$(xp "string(//failures/failure[@op_key='${1}_monitor_2000']/@exitcode)" <<<"$x") $(xp "string(//failures/failure[@op_key='${1}_monitor_2000']/@exitstatus)" <<<"$x")"
}
has_no_failures() { [ "$(mon_xml | xp "count(//failures/failure[starts-with(@op_key, '${1}_')])")" = 0 ]; }
# The newest result of the 2 s monitor, from the operation history.
last_monitor_rc() {
    mon_xml | xp "string((//resource_history[@id='$1']/operation_history[@task='monitor' and @interval='2000ms'])[last()]/@rc)"
}
start_calls() { # the call ids of start operations: a restart adds one
    mon_xml | xp "//resource_history[@id='$1']/operation_history[@task='start']/@call" | grep -o '[0-9][0-9]*' | tr '\n' ' '
}
fail_count() { # fail_count RSC NODE -> the number, 0 when none was ever recorded
    local out
    out=$(cl crm_failcount --query -r "$1" -N "$2" 2>/dev/null) || { echo "?"; return 0; }
    sed -n 's/.*value=\([^ ]*\).*/\1/p' <<<"$out"
}
