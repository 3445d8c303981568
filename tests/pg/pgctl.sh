#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# A throw-away PostgreSQL server for the tests (see tests/pg/README).
#   pgctl.sh start DIR   initdb into a new temporary cluster, start it on 127.0.0.1:<free
#                        port> and on a unix socket in DIR/sock, write DIR/url (0600)
#   pgctl.sh stop DIR    stop it (pg_ctl, then the recorded postmaster pid), delete it
# The role "certo_test" logs in with scram-sha-256 and a random password (DIR/password,
# 0600); it is the cluster's superuser, so tests can create their own databases. Run as
# root, the server runs as the system user "postgres" (it refuses root). Nothing secret
# is passed on a command line: initdb reads the password from a file.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [[ -z $cmd || -z $dir ]]; then
    echo "usage: $0 start|stop DIR" >&2
    exit 2
fi

pgbin=${CERTO_PG_BIN:-}
if [[ -z $pgbin ]]; then
    for v in 17 16 15 14 13; do
        if [[ -x /usr/lib/postgresql/$v/bin/pg_ctl ]]; then
            pgbin=/usr/lib/postgresql/$v/bin
            break
        fi
    done
fi
if [[ -z $pgbin || ! -x $pgbin/initdb ]]; then
    echo "pgctl: no PostgreSQL server binaries (apt-get install postgresql)" >&2
    exit 1
fi

# as_pg CMD...: runs CMD as the cluster's owner.
as_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop() {
    local cluster pid i
    [[ -f $dir/cluster ]] || return 0
    cluster=$(cat "$dir/cluster")
    if [[ -f $dir/pid ]]; then
        pid=$(cat "$dir/pid")
        as_pg "$pgbin/pg_ctl" -D "$cluster/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
        # Whatever pg_ctl did, the postmaster we started must be gone.
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            [[ $i -eq 20 ]] && kill -TERM "$pid" 2>/dev/null
            [[ $i -eq 40 ]] && kill -KILL "$pid" 2>/dev/null
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "pgctl: postmaster $pid did not stop" >&2
            return 1
        fi
    fi
    case $cluster in
    */certo-pg.*) rm -rf -- "$cluster" ;;
    esac
    rm -f -- "$dir/cluster" "$dir/pid" "$dir/url" "$dir/password" "$dir/port" \
        "$dir/socket-dir" "$dir/sock-link"
    rm -rf -- "$dir/sock"
}

start() {
    local cluster pw port attempt pid sock
    # A server left over by an interrupted run of this same directory goes first.
    stop || true
    mkdir -p -- "$dir"
    chmod 0700 "$dir"
    cluster=$(mktemp -d "${TMPDIR:-/tmp}/certo-pg.XXXXXX")
    echo "$cluster" >"$dir/cluster"
    mkdir -p "$dir/sock"
    pw=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    (
        umask 077
        printf '%s\n' "$pw" >"$dir/password"
        printf '%s\n' "$pw" >"$cluster/pwfile"
    )
    sock=$dir/sock
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres:postgres "$cluster" "$cluster/pwfile" "$dir/sock"
        # The server must reach its socket directory inside DIR.
        chmod 0711 "$dir"
        if ! as_pg test -w "$dir/sock"; then
            # A parent of DIR is closed to "postgres": the socket goes into the cluster.
            sock=$cluster/sock
            as_pg mkdir -m 0755 "$sock"
            ln -sfn "$sock" "$dir/sock-link"
            echo "pgctl: $dir is not reachable by postgres; socket in $sock" >&2
        fi
    fi
    as_pg "$pgbin/initdb" -D "$cluster/data" -U certo_test --pwfile="$cluster/pwfile" \
        --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C \
        --no-sync >"$cluster/initdb.log" 2>&1 || {
        cat "$cluster/initdb.log" >&2
        return 1
    }
    rm -f "$cluster/pwfile"
    # Two runs (release and ASan, or two checkouts) may pick a port at the same moment:
    # a start that loses the race is retried on another port.
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        if as_pg "$pgbin/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $sock -c fsync=off \
-c max_connections=200 -c shared_buffers=32MB" start >/dev/null; then
            break
        fi
        port=
        if [[ $attempt -eq 5 ]]; then
            tail -n 20 "$cluster/server.log" >&2 || true
            return 1
        fi
    done
    pid=$(head -n 1 "$cluster/data/postmaster.pid")
    echo "$pid" >"$dir/pid"
    echo "$port" >"$dir/port"
    (
        umask 077
        printf 'postgresql://certo_test:%s@127.0.0.1:%s/postgres\n' "$pw" "$port" >"$dir/url"
    )
    echo "$sock" >"$dir/socket-dir"
    echo "pgctl: PostgreSQL (pid $pid) on 127.0.0.1:$port and $sock"
}

case $cmd in
start)
    # A failed start leaves nothing behind: no cluster, no server.
    if ! start; then
        stop || true
        exit 1
    fi
    ;;
stop) stop ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
