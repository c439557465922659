#!/usr/bin/env bash
# A throwaway MariaDB server in a directory of its own, for the demo, the benchmark and the shell tests.
#
#   scripts/mariadb-sandbox.sh start DIR [--port N] [--bind ADDR] [-- extra mariadbd options]
#   scripts/mariadb-sandbox.sh stop DIR
#   scripts/mariadb-sandbox.sh status DIR
#   scripts/mariadb-sandbox.sh schema DIR [DATABASE]   # the Keystone token table, empty
#                                                       # (kept as it is if it exists already)
#
# start prints the server's address as `host port socket` on stdout. Root over TCP has no password.
# Nothing outside DIR is touched, and stop kills only the server that start recorded in DIR/pid.
# The Rust tests do the same from tests/common/ and do not use this script.
set -euo pipefail

die() { echo "mariadb-sandbox: $*" >&2; exit 1; }

free_port() {
    python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

client() { # client DIR [mariadb args...]
    local dir=$1; shift
    mariadb --no-defaults --socket="$dir/sock" -uroot "$@"
}

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: $0 start|stop|status|schema DIR [options]"
shift 2

case "$cmd" in
start)
    port=""; bind=127.0.0.1; extra=()
    while [ $# -gt 0 ]; do
        case "$1" in
            --port) port=$2; shift 2 ;;
            --bind) bind=$2; shift 2 ;;
            --) shift; extra=("$@"); break ;;
            *) die "unknown option $1" ;;
        esac
    done
    [ -n "$port" ] || port=$(free_port)
    if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
        die "a server is already running in $dir (pid $(cat "$dir/pid"))"
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ ! -d "$dir/data/mysql" ]; then
        mariadb-install-db --no-defaults --datadir="$dir/data" --auth-root-authentication-method=normal \
            --skip-test-db --user="$(id -un)" >"$dir/install.log" 2>&1 || die "mariadb-install-db failed, see $dir/install.log"
    fi
    user_opt=()
    [ "$(id -u)" = 0 ] && user_opt=(--user=root)
    mariadbd --no-defaults --datadir="$dir/data" --socket="$dir/sock" --port="$port" --bind-address="$bind" \
        --pid-file="$dir/mariadbd.pid" --log-error="$dir/err.log" --skip-name-resolve "${user_opt[@]}" \
        "${extra[@]}" >/dev/null 2>&1 </dev/null &
    echo $! >"$dir/pid"
    echo "$port" >"$dir/port"
    echo "$bind" >"$dir/bind"
    for _ in $(seq 1 300); do
        if mariadb-admin --no-defaults --socket="$dir/sock" -uroot ping >/dev/null 2>&1; then
            echo "$bind $port $dir/sock"
            exit 0
        fi
        kill -0 "$(cat "$dir/pid")" 2>/dev/null || die "mariadbd exited, see $dir/err.log"
        sleep 0.1
    done
    die "mariadbd did not answer within 30 s, see $dir/err.log"
    ;;
stop)
    [ -f "$dir/pid" ] || exit 0
    pid=$(cat "$dir/pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill -CONT "$pid" 2>/dev/null || true
        kill -TERM "$pid"
        for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$dir/pid"
    ;;
status)
    if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
        echo "running: $(cat "$dir/bind") $(cat "$dir/port") $dir/sock (pid $(cat "$dir/pid"))"
    else
        echo "stopped"; exit 3
    fi
    ;;
schema)
    db=${1:-keystone}
    { printf 'CREATE DATABASE IF NOT EXISTS `%s`;\nUSE `%s`;\n' "$db" "$db"
      # The committed DDL is db_sync's verbatim; IF NOT EXISTS keeps this command repeatable.
      sed 's/^CREATE TABLE /CREATE TABLE IF NOT EXISTS /' "$(dirname "$0")/keystone-token.sql"; } | client "$dir"
    ;;
*) die "unknown command $cmd" ;;
esac
