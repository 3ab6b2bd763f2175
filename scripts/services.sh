#!/usr/bin/env bash
# Local services for development and tests: a PostgreSQL and a Redis.
#
# Usage: scripts/services.sh [start|env|status|stop|destroy|python|protoc|help]
#
#   start (default)  Make a Postgres and a Redis available and print
#                    export DATABASE_URL='...' / export REDIS_URL='...'
#                    on stdout, so that  eval "$(scripts/services.sh)"  works.
#                    A non-empty DATABASE_URL / REDIS_URL in the environment is
#                    used as is; otherwise a private server is started under
#                    the data directory on its own port (installing Debian's
#                    postgresql / redis-server packages when missing). Idempotent.
#   env              Print the export lines without starting anything; fails
#                    when a private server is not running.
#   status           Report on stderr whether the servers are up (exit 1 if not).
#   stop             Stop the private servers (not those given by the environment).
#   destroy          Stop them and delete their data.
#   python           Make Debian's Python 3 with the packages the Python
#                    client and its tests import available (python3-grpcio,
#                    -protobuf, -numpy, -pandas, -pytest; and openssl),
#                    installing those missing; the client's tests run with
#                    /usr/bin/python3.
#   protoc           Make protoc and gRPC's Python plugin available
#                    (protobuf-compiler, protobuf-compiler-grpc), which
#                    make generate uses for the Python client's stubs; fails
#                    unless protoc is of the release the committed stubs
#                    come from.
#
# The script never adopts, uses, flushes or stops a server it did not start.
# A private server counts as its own only when its pid file in the data
# directory names a live process that listens on the recorded port and
# serves that data directory. When the port it wants is taken by anything
# else, it starts its server on the next free port and records that port in
# the data directory, where env and stop find it. The Redis it starts
# carries the key featurestore:test:disposable, which tells the tests that
# they may empty its logical databases 1-15.
#
# Environment: DATABASE_URL, REDIS_URL (use these instead of private servers),
# FS_PG_PORT (default 55432), FS_REDIS_PORT (default 56379): the ports to
# start on when free; FS_DATA_DIR (default .data in the repository): where
# the private servers keep their data, pid files and ports.
#
# Only the export lines go to stdout; all progress messages go to stderr.
set -euo pipefail

# fd 3 is the real stdout (for the export lines); everything else -> stderr.
exec 3>&1 1>&2

ROOT=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
DATA=${FS_DATA_DIR:-$ROOT/.data}
[[ $DATA == /* ]] || DATA=$PWD/$DATA
if [[ ${1:-start} == start ]]; then
	mkdir -p -- "$DATA"
fi
# The canonical path: Redis reports its directory so, and ownership is
# checked against it.
if [[ -d $DATA ]]; then
	DATA=$(cd -P -- "$DATA" && pwd -P)
fi
DEFAULT_PG_PORT=55432
DEFAULT_REDIS_PORT=56379
PG_DB=featurestore
TIMEOUT=30
# ALT_BASE is used when the postgres user cannot reach $DATA (e.g. a
# repository under /root). The default data directory keeps the name it
# always had, so that existing clusters are found.
if [[ -z ${FS_DATA_DIR:-} ]]; then
	HASH=$(printf '%s' "$ROOT" | sha1sum | cut -c1-12)
else
	HASH=$(printf '%s' "$DATA" | sha1sum | cut -c1-12)
fi
ALT_BASE=/var/tmp/featurestore-$HASH

REDIS_DIR=$DATA/redis
REDIS_PIDFILE=$REDIS_DIR/redis.pid
REDIS_LOG=$REDIS_DIR/redis.log
REDIS_PORTFILE=$REDIS_DIR/port
# REDIS_MARKER is the key that marks a Redis this script started.
REDIS_MARKER=featurestore:test:disposable

log() { printf 'services: %s\n' "$*" >&2; }
die() {
	printf 'services: error: %s\n' "$*" >&2
	exit 1
}

valid_port() { [[ $1 =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= 65535)); }

for p in "${FS_PG_PORT:-$DEFAULT_PG_PORT}" "${FS_REDIS_PORT:-$DEFAULT_REDIS_PORT}"; do
	valid_port "$p" || die "invalid port: $p"
done

# read_port FILE: the port recorded in FILE, or nothing.
read_port() {
	local p
	p=$(cat -- "$1" 2>/dev/null || true)
	if valid_port "$p"; then printf '%s' "$p"; fi
}

# The ports of the private servers: the recorded ones once a server was
# started, else the wanted ones. ensure_postgres/ensure_redis settle them.
REDIS_PORT=$(read_port "$REDIS_PORTFILE")
REDIS_PORT=${REDIS_PORT:-${FS_REDIS_PORT:-$DEFAULT_REDIS_PORT}}
PG_PORTFILE=$DATA/postgres.port
PG_PORT=$(read_port "$PG_PORTFILE")
PG_PORT=${PG_PORT:-${FS_PG_PORT:-$DEFAULT_PG_PORT}}

private_url() {
	case $1 in
	DATABASE_URL) printf 'postgres://postgres@127.0.0.1:%s/%s?sslmode=disable' "$PG_PORT" "$PG_DB" ;;
	REDIS_URL) printf 'redis://127.0.0.1:%s/0' "$REDIS_PORT" ;;
	esac
}

# given NAME: NAME (DATABASE_URL or REDIS_URL) is set by the environment to
# something other than the private server's URL (which a previous
# eval "$(scripts/services.sh)" exports: that one is still managed here).
given() {
	[[ -n ${!1:-} && ${!1} != "$(private_url "$1")" ]]
}

# shell_quote VALUE: single-quote VALUE for eval.
shell_quote() {
	local v=$1 q="'\\''"
	printf "'%s'" "${v//\'/$q}"
}

print_exports() {
	local db rd
	if given DATABASE_URL; then db=$DATABASE_URL; else db=$(private_url DATABASE_URL); fi
	if given REDIS_URL; then rd=$REDIS_URL; else rd=$(private_url REDIS_URL); fi
	printf 'export DATABASE_URL=%s\nexport REDIS_URL=%s\n' "$(shell_quote "$db")" "$(shell_quote "$rd")" >&3
}

# log_size FILE: current size of FILE in bytes (0 if missing).
log_size() { stat -c %s -- "$1" 2>/dev/null || echo 0; }

# tail_log FILE [OFFSET]: show the end of a log file (written after byte
# OFFSET) on stderr.
tail_log() {
	if [[ -r $1 ]]; then
		printf -- '--- last lines of %s ---\n' "$1" >&2
		tail -c "+$((${2:-0} + 1))" -- "$1" | tail -n 30 >&2 || true
		printf -- '---\n' >&2
	else
		printf 'services: (no log at %s)\n' "$1" >&2
	fi
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 8<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port PORT: PORT if nothing listens on it, else the next port above
# it that is free; fails when none of the next 200 is.
free_port() {
	local p
	for ((p = $1; p <= $1 + 200 && p <= 65535; p++)); do
		if ! port_open "$p"; then
			printf '%s' "$p"
			return 0
		fi
	done
	return 1
}

# pid_listens PID PORT: process PID holds the socket listening on TCP PORT
# (seen through /proc: the listening sockets' inodes among PID's fds).
pid_listens() {
	local pid=$1 hex inodes fd link inode
	hex=$(printf '%04X' "$2")
	inodes=$(awk -v p="$hex" '$4 == "0A" { n = split($2, a, ":"); if (a[n] == p) print $10 }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null || true)
	[[ -n $inodes ]] || return 1
	for fd in /proc/"$pid"/fd/*; do
		link=$(readlink -- "$fd" 2>/dev/null) || continue
		for inode in $inodes; do
			[[ $link == "socket:[$inode]" ]] && return 0
		done
	done
	return 1
}

# ---------------------------------------------------------------- packages --

APT_UPDATED=
apt_install() {
	local sudo=()
	if ((EUID != 0)); then
		if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
			sudo=(sudo)
		else
			die "need packages '$*' but not root and no passwordless sudo: install them, or set DATABASE_URL/REDIS_URL"
		fi
	fi
	command -v apt-get >/dev/null || die "need packages '$*' but apt-get is not available: install them, or set DATABASE_URL/REDIS_URL"
	if [[ -z $APT_UPDATED ]]; then
		log "apt-get update"
		"${sudo[@]}" apt-get update -q >&2 || die "apt-get update failed"
		APT_UPDATED=1
	fi
	log "apt-get install $*"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2 ||
		die "apt-get install $* failed"
}

# ---------------------------------------------------------------- postgres --

PG_BIN=
PG_BASE=
PG_DATA=
PG_RUN=
PG_LOG=
PG_LOG_OFFSET=0

# as_pg CMD...: run CMD as the user that owns the cluster (postgres when root,
# since Postgres refuses to run as root), from / so that an unreachable cwd
# does not matter. Closes fds 3 (stdout) and 9 (lock) so that a daemonized
# server never holds them open.
as_pg() {
	if ((EUID == 0)); then
		(cd / && runuser -u postgres -- "$@") 3>&- 9>&-
	else
		(cd / && "$@") 3>&- 9>&-
	fi
}

# find_pg_bin [VERSION]: set PG_BIN to a directory holding pg_ctl/initdb/psql,
# preferring VERSION, else the newest installed; return 1 if none.
find_pg_bin() {
	local want=${1:-} d
	if [[ -n $want ]]; then
		if [[ -x /usr/lib/postgresql/$want/bin/pg_ctl ]]; then
			PG_BIN=/usr/lib/postgresql/$want/bin
			return 0
		fi
		# Fall back to pg_ctl on PATH only if it is the same major version.
		if d=$(command -v pg_ctl) && [[ $("$d" --version 2>/dev/null) =~ \ ${want}[.\ ] ]]; then
			PG_BIN=$(dirname -- "$d")
			return 0
		fi
		return 1
	fi
	d=$(compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' | sort -V | tail -n 1 || true)
	if [[ -n $d ]]; then
		PG_BIN=$(dirname -- "$d")
		return 0
	fi
	if d=$(command -v pg_ctl) && [[ -x $(dirname -- "$d")/initdb ]]; then
		PG_BIN=$(dirname -- "$d")
		return 0
	fi
	return 1
}

ensure_pg_user() {
	((EUID == 0)) || return 0
	getent passwd postgres >/dev/null && return 0
	log "creating system user postgres"
	useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
		--shell /usr/sbin/nologin postgres
}

# pg_can_use_dir DIR: whether the cluster and its socket can live in DIR.
pg_can_use_dir() {
	local dir=$1
	# Keep the socket path short (sun_path limit) and the path free of
	# characters that would need quoting in postgresql.conf.
	[[ $dir =~ ^[A-Za-z0-9/._+-]+$ ]] || return 1
	((${#dir} + ${#PG_PORT} + 20 <= 100)) || return 1
	if ((EUID == 0)); then
		(cd / && runuser -u postgres -- test -x "$dir") 2>/dev/null || return 1
	fi
	return 0
}

# pg_layout [create]: set PG_BASE/PG_DATA/PG_RUN/PG_LOG. .data/postgres is the
# cluster, either a directory or a symlink to $ALT_BASE/postgres. Returns 1
# when there is no cluster yet, unless "create" is given, in which case the
# location is chosen (and symlinks made).
pg_layout() {
	local create=${1:-}
	if [[ -L $DATA/postgres ]]; then
		PG_BASE=$(dirname -- "$(readlink -- "$DATA/postgres")")
	elif [[ -d $DATA/postgres ]]; then
		PG_BASE=$DATA
	elif [[ -z $create ]]; then
		return 1
	elif pg_can_use_dir "$DATA"; then
		PG_BASE=$DATA
	else
		PG_BASE=$ALT_BASE
	fi
	PG_DATA=$PG_BASE/postgres
	PG_RUN=$PG_BASE/pgrun
	PG_LOG=$PG_RUN/postgres.log
	[[ -n $create ]] || return 0

	if [[ $PG_BASE != "$DATA" ]]; then
		if [[ ! -d $PG_BASE ]]; then
			log "the postgres user cannot use $DATA; keeping the cluster in $PG_BASE (linked from .data/)"
			mkdir -m 755 -- "$PG_BASE"
		fi
		[[ ! -L $PG_BASE && -O $PG_BASE ]] || die "$PG_BASE is not a directory owned by $(id -un)"
		printf '%s\n' "$ROOT" >"$PG_BASE/ROOT"
		ln -sfn -- "$PG_DATA" "$DATA/postgres"
		ln -sfn -- "$PG_RUN" "$DATA/pgrun"
	fi
	local d
	for d in "$PG_DATA" "$PG_RUN"; do
		if [[ ! -d $d ]]; then
			mkdir -m 700 -- "$d"
			((EUID != 0)) || chown postgres:postgres -- "$d"
		fi
	done
}

pg_initialized() { [[ -f $PG_DATA/PG_VERSION ]]; }

# pid_alive PID: PID exists and is not a zombie (a killed daemon whose parent
# is an init that reaps slowly still answers kill -0).
pid_alive() {
	if ! [[ $1 =~ ^[0-9]+$ ]] || ! kill -0 "$1" 2>/dev/null; then
		return 1
	fi
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

pg_pid() { sed -n 1p -- "$PG_DATA/postmaster.pid" 2>/dev/null || true; }

pg_running() {
	pg_initialized && as_pg "$PG_BIN/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1 &&
		pid_alive "$(pg_pid)"
}

# Port the running postmaster listens on (line 4 of postmaster.pid).
pg_running_port() { sed -n 4p -- "$PG_DATA/postmaster.pid" 2>/dev/null || true; }

pg_ready() {
	"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -t 2 >/dev/null 2>&1
}

pg_initdb() {
	local locale=C
	if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
		locale=C.UTF-8
	fi
	log "initdb $PG_DATA (locale $locale)"
	as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 \
		--locale="$locale" --no-sync >&2 || die "initdb failed"
	printf '\n# Settings for a local dev/test server (scripts/services.sh).\ninclude_if_exists = '\''featurestore.conf'\''\n' \
		>>"$PG_DATA/postgresql.conf"
}

# Rewritten before every start so that the chosen port takes effect.
pg_write_conf() {
	local f=$PG_DATA/featurestore.conf
	cat >"$f.tmp" <<CONF
# Written by scripts/services.sh before each start; edits are overwritten.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_RUN'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 256MB
timezone = 'UTC'
log_timezone = 'UTC'
CONF
	((EUID != 0)) || chown postgres:postgres -- "$f.tmp"
	mv -f -- "$f.tmp" "$f"
}

# pg_start: start the cluster on PG_PORT, or, when that port is taken by
# the time the server binds it, on the next free one.
pg_start() {
	# A postmaster that was killed but not yet reaped still "owns"
	# postmaster.pid, and a new one would refuse to start: wait for it to go.
	local pid i attempt
	pid=$(pg_pid)
	for ((i = 0; i < TIMEOUT * 5; i++)); do
		# exists (kill -0 works) but is a zombie
		if ! [[ $pid =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null || pid_alive "$pid"; then
			break
		fi
		((i > 0)) || log "waiting for the old postmaster (pid $pid) to be reaped"
		sleep 0.2
	done
	for attempt in 1 2 3 4 5; do
		log "starting postgres on 127.0.0.1:$PG_PORT ($PG_DATA)"
		pg_write_conf
		printf '%s\n' "$PG_PORT" >"$PG_PORTFILE"
		PG_LOG_OFFSET=$(log_size "$PG_LOG")
		if as_pg "$PG_BIN/pg_ctl" start -w -t "$TIMEOUT" -D "$PG_DATA" -l "$PG_LOG" >&2; then
			return 0
		fi
		if tail -c "+$((PG_LOG_OFFSET + 1))" -- "$PG_LOG" 2>/dev/null | grep -q 'Address already in use'; then
			# Another program took the port since it was chosen.
			PG_PORT=$(free_port "$((PG_PORT + 1))") || die "no free port for postgres above $PG_PORT"
			continue
		fi
		break
	done
	tail_log "$PG_LOG" "$PG_LOG_OFFSET"
	die "postgres did not start"
}

pg_wait() {
	local i
	for ((i = 0; i < TIMEOUT * 5; i++)); do
		pg_ready && return 0
		sleep 0.2
	done
	tail_log "$PG_LOG" "$PG_LOG_OFFSET"
	die "postgres on 127.0.0.1:$PG_PORT did not answer within ${TIMEOUT}s"
}

pg_psql() {
	"$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"
}

# pg_ours: the cluster in the data directory runs, and is the server on
# the port its pid file records: the pid is alive, listens on that port,
# and the server there serves this data directory. Sets PG_PORT to it.
pg_ours() {
	pg_running || return 1
	local pid port dir
	pid=$(pg_pid)
	port=$(pg_running_port)
	valid_port "$port" && pid_listens "$pid" "$port" || return 1
	PG_PORT=$port
	pg_ready || return 1
	dir=$(pg_psql -c 'SHOW data_directory' 2>/dev/null) || return 1
	[[ $(realpath -- "$dir" 2>/dev/null) == "$(realpath -- "$PG_DATA")" ]]
}

ensure_postgres() {
	local ver=
	if [[ -f $DATA/postgres/PG_VERSION ]]; then
		ver=$(<"$DATA/postgres/PG_VERSION")
	fi
	if ! find_pg_bin "$ver"; then
		if [[ -n $ver ]] && find_pg_bin; then
			die "the cluster in $DATA/postgres is PostgreSQL $ver, which is not installed (found $PG_BIN); install postgresql-$ver or run '$0 destroy'"
		fi
		apt_install postgresql
		find_pg_bin "$ver" || die "no PostgreSQL ${ver:+$ver }binaries found after installing postgresql"
	fi
	ensure_pg_user
	pg_layout create
	pg_initialized || pg_initdb

	if pg_running; then
		pg_ours || die "the postgres of $PG_DATA (pid $(pg_pid)) runs but does not answer as expected on the port its pid file records; run '$0 stop' and try again"
		local want=${FS_PG_PORT:-}
		if [[ -n $want && $want != "$PG_PORT" ]] && ! port_open "$want"; then
			log "postgres is running on port $PG_PORT, restarting it on $want"
			as_pg "$PG_BIN/pg_ctl" stop -w -m fast -D "$PG_DATA" >&2
			PG_PORT=$want
			pg_start
		fi
	else
		local want=${FS_PG_PORT:-$PG_PORT} port
		port=$(free_port "$want") || die "no free port for postgres at or above $want"
		if [[ $port != "$want" ]]; then
			log "127.0.0.1:$want is in use by a server this script did not start; postgres goes on port $port"
		fi
		PG_PORT=$port
		pg_start
	fi
	pg_wait
	pg_ours || die "the postgres just started on port $PG_PORT is not the server of $PG_DATA"

	if [[ -z $(pg_psql -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'") ]]; then
		log "creating database $PG_DB"
		pg_psql -c "CREATE DATABASE $PG_DB" || die "could not create database $PG_DB"
	fi
}

# ------------------------------------------------------------------- redis --

redis_on() { local port=$1; shift; redis-cli -h 127.0.0.1 -p "$port" "$@"; }

redis_ready() {
	command -v redis-cli >/dev/null || return 1
	[[ $(redis_on "${1:-$REDIS_PORT}" ping 2>/dev/null) == PONG ]]
}

# redis_pid: the pid that the Redis started here wrote, if that process
# is alive and is a redis-server.
redis_pid() {
	local pid
	pid=$(cat -- "$REDIS_PIDFILE" 2>/dev/null || true)
	pid_alive "$pid" || return 1
	[[ $(cat "/proc/$pid/comm" 2>/dev/null) == redis-server* ]] || return 1
	printf '%s' "$pid"
}

# redis_ours PORT: the Redis on PORT is the one started here: its pid file
# names a live redis-server that listens on PORT, and the server on PORT
# works in this data directory.
redis_ours() {
	local port=$1 pid
	pid=$(redis_pid) || return 1
	pid_listens "$pid" "$port" || return 1
	[[ $(redis_on "$port" config get dir 2>/dev/null | sed -n 2p) == "$REDIS_DIR" ]]
}

# redis_shutdown PID: stop our Redis, found by its pid (not by a port
# that another server may hold by now).
redis_shutdown() {
	local pid=$1 i
	log "stopping redis (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < TIMEOUT * 5; i++)); do
		pid_alive "$pid" || break
		sleep 0.2
	done
	! pid_alive "$pid" || die "redis (pid $pid) did not stop"
	rm -f -- "$REDIS_PIDFILE"
}

# redis_start: start a Redis on REDIS_PORT, or, when that port is taken by
# the time the server binds it, on the next free one.
redis_start() {
	local attempt offset i
	mkdir -p -- "$REDIS_DIR"
	for attempt in 1 2 3 4 5; do
		printf '%s\n' "$REDIS_PORT" >"$REDIS_PORTFILE"
		log "starting redis on 127.0.0.1:$REDIS_PORT ($REDIS_DIR)"
		offset=$(log_size "$REDIS_LOG")
		if ! redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes \
			--save '' --appendonly no --dir "$REDIS_DIR" \
			--pidfile "$REDIS_PIDFILE" --logfile "$REDIS_LOG" </dev/null >&2 3>&- 9>&-; then
			tail_log "$REDIS_LOG" "$offset"
			die "redis did not start"
		fi
		for ((i = 0; i < TIMEOUT * 5; i++)); do
			redis_ours "$REDIS_PORT" && return 0
			# The daemonized server exits on fatal errors (e.g. port in use).
			if tail -c "+$((offset + 1))" -- "$REDIS_LOG" 2>/dev/null | grep -qiE 'aborting|fatal|bye bye|could not create server'; then
				break
			fi
			sleep 0.2
		done
		if tail -c "+$((offset + 1))" -- "$REDIS_LOG" 2>/dev/null | grep -q 'Address already in use'; then
			# Another program took the port since it was chosen.
			REDIS_PORT=$(free_port "$((REDIS_PORT + 1))") || die "no free port for redis above $REDIS_PORT"
			continue
		fi
		tail_log "$REDIS_LOG" "$offset"
		die "redis on 127.0.0.1:$REDIS_PORT did not start within ${TIMEOUT}s"
	done
	die "redis found no free port"
}

ensure_redis() {
	if ! command -v redis-server >/dev/null; then
		apt_install redis-server
	elif ! command -v redis-cli >/dev/null; then
		apt_install redis-tools
	fi
	if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
		die "redis-server/redis-cli not found after installing"
	fi

	local pid want=${FS_REDIS_PORT:-}
	if redis_ours "$REDIS_PORT"; then
		if [[ -n $want && $want != "$REDIS_PORT" ]] && ! port_open "$want"; then
			log "redis is running on port $REDIS_PORT, restarting it on $want"
			redis_shutdown "$(redis_pid)"
			REDIS_PORT=$want
			redis_start
		fi
	else
		if pid=$(redis_pid) && [[ $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$REDIS_DIR" ]]; then
			# The server started here (its pid file, working in its data
			# directory) no longer answers on the recorded port.
			log "redis (pid $pid) of $REDIS_DIR does not answer on port $REDIS_PORT"
			redis_shutdown "$pid"
		fi
		want=${want:-$REDIS_PORT}
		REDIS_PORT=$(free_port "$want") || die "no free port for redis at or above $want"
		if [[ $REDIS_PORT != "$want" ]]; then
			log "127.0.0.1:$want is in use by a server this script did not start; redis goes on port $REDIS_PORT"
		fi
		redis_start
	fi
	# The mark that lets the tests empty databases 1-15 of this server; set
	# again on every start, since the server keeps nothing on disk.
	redis_on "$REDIS_PORT" set "$REDIS_MARKER" "started by scripts/services.sh for $DATA" >/dev/null ||
		die "could not mark redis on port $REDIS_PORT"
}

# ------------------------------------------------------------------ python --

# PYTHON is the interpreter Debian's python3-* packages install into, which
# a pyenv or virtualenv python3 earlier on PATH would not see.
PYTHON=/usr/bin/python3
# PY_MODULES maps each module the Python client or its tests import to the
# Debian package that provides it.
PY_MODULES=(grpc:python3-grpcio google.protobuf:python3-protobuf numpy:python3-numpy
	pandas:python3-pandas pytest:python3-pytest)
# PROTOC_RELEASE is the protoc release the committed Python stubs were
# generated with (Debian 12's and 13's protobuf-compiler): another release
# writes other code, so make check-generated would fail.
PROTOC_RELEASE=3.21

# py_missing: the Debian packages of the modules PYTHON cannot import, and
# openssl, which the tests make a certificate with.
py_missing() {
	local m
	for m in "${PY_MODULES[@]}"; do
		if ! [[ -x $PYTHON ]] || ! "$PYTHON" -c "import ${m%%:*}" 2>/dev/null; then
			printf '%s\n' "${m#*:}"
		fi
	done
	command -v openssl >/dev/null || printf 'openssl\n'
}

cmd_python() {
	local missing
	missing=$(py_missing)
	if [[ -n $missing ]]; then
		# shellcheck disable=SC2086 # one package a line
		apt_install python3 $missing
		missing=$(py_missing)
		[[ -z $missing ]] || die "$PYTHON still cannot import the modules of: $missing"
	fi
	log "python: $("$PYTHON" -c 'import sys, grpc, google.protobuf as pb, numpy, pandas; print("Python %d.%d.%d" % sys.version_info[:3], "grpcio", grpc.__version__, "protobuf", pb.__version__, "numpy", numpy.__version__, "pandas", pandas.__version__)')"
}

cmd_protoc() {
	local pkgs=() version
	command -v protoc >/dev/null || pkgs+=(protobuf-compiler)
	command -v grpc_python_plugin >/dev/null || pkgs+=(protobuf-compiler-grpc)
	if ((${#pkgs[@]} > 0)); then
		apt_install "${pkgs[@]}"
	fi
	version=$(protoc --version 2>/dev/null) || die "protoc does not run"
	[[ $version == "libprotoc $PROTOC_RELEASE".* ]] ||
		die "protoc is $version, but the Python stubs are generated with libprotoc $PROTOC_RELEASE.x (Debian's protobuf-compiler); put that protoc first on PATH"
	command -v grpc_python_plugin >/dev/null || die "grpc_python_plugin not found after installing protobuf-compiler-grpc"
}

# ---------------------------------------------------------------- commands --

lock() {
	mkdir -p -- "$DATA"
	exec 9>"$DATA/.services.lock"
	flock -w 120 9 || die "another scripts/services.sh is still running (lock $DATA/.services.lock)"
}

cmd_start() {
	lock
	if given DATABASE_URL; then
		log "using DATABASE_URL from the environment"
	else
		ensure_postgres
	fi
	if given REDIS_URL; then
		log "using REDIS_URL from the environment"
	else
		ensure_redis
	fi
	print_exports
}

# Sets up PG_BIN and the layout for an existing cluster; returns 1 if none.
pg_existing() {
	pg_layout || return 1
	pg_initialized || return 1
	find_pg_bin "$(<"$PG_DATA/PG_VERSION")"
}

cmd_status() {
	local ok=0
	if given DATABASE_URL; then
		log "postgres: DATABASE_URL given by the environment"
	elif pg_existing && pg_ours; then
		log "postgres: running on 127.0.0.1:$PG_PORT ($PG_DATA)"
	else
		log "postgres: not running (its data directory is $DATA)"
		ok=1
	fi
	if given REDIS_URL; then
		log "redis: REDIS_URL given by the environment"
	elif redis_ours "$REDIS_PORT"; then
		log "redis: running on 127.0.0.1:$REDIS_PORT ($REDIS_DIR)"
	else
		log "redis: not running (its data directory is $REDIS_DIR)"
		ok=1
	fi
	return "$ok"
}

cmd_env() {
	cmd_status 2>/dev/null || die "services are not running: run scripts/services.sh (or make services)"
	print_exports
}

cmd_stop() {
	[[ -d $DATA ]] && lock
	local pid
	if given DATABASE_URL; then
		log "postgres: DATABASE_URL given by the environment, not stopping it"
	elif pg_existing && pg_ours; then
		log "stopping postgres ($PG_DATA)"
		as_pg "$PG_BIN/pg_ctl" stop -w -t "$TIMEOUT" -m fast -D "$PG_DATA" >&2
	elif pg_initialized 2>/dev/null && pg_running 2>/dev/null; then
		log "postgres: the pid file of $PG_DATA names a process that is not its server on its port; not stopping it"
	else
		log "postgres: not running"
	fi
	if given REDIS_URL; then
		log "redis: REDIS_URL given by the environment, not stopping it"
	elif redis_ours "$REDIS_PORT"; then
		redis_shutdown "$(redis_pid)"
	elif pid=$(redis_pid); then
		log "redis: pid $pid of $REDIS_PIDFILE is not the server of $REDIS_DIR on the recorded port $REDIS_PORT; not stopping it"
	else
		log "redis: not running"
	fi
}

cmd_destroy() {
	cmd_stop
	if [[ -L $DATA/postgres ]]; then
		local base
		base=$(dirname -- "$(readlink -- "$DATA/postgres")")
		if [[ $base == "$ALT_BASE" && -d $base ]]; then
			log "removing $base"
			rm -rf -- "$base"
		fi
	fi
	if [[ -e $DATA/postgres || -L $DATA/postgres || -e $DATA/pgrun || -L $DATA/pgrun || -e $REDIS_DIR ]]; then
		log "removing $DATA/postgres $DATA/pgrun $REDIS_DIR"
		rm -rf -- "$DATA/postgres" "$DATA/pgrun" "$REDIS_DIR" "$PG_PORTFILE"
	fi
}

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
}

case ${1:-start} in
start) cmd_start ;;
env) cmd_env ;;
status) cmd_status ;;
stop) cmd_stop ;;
destroy) cmd_destroy ;;
python) cmd_python ;;
protoc) cmd_protoc ;;
help | -h | --help) usage ;;
*)
	usage
	exit 2
	;;
esac
