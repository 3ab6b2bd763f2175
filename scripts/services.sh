#!/usr/bin/env bash
# Local services for development and tests: a PostgreSQL and a Redis.
#
# Usage: scripts/services.sh [start|env|status|stop|destroy|python|protoc|help]
#
#   start (default)  Make a Postgres and a Redis available and print
#                    export DATABASE_URL='...' / export REDIS_URL='...' /
#                    export FEATURESTORE_REDIS_MODE=...
#                    on stdout, so that  eval "$(scripts/services.sh)"  works.
#                    A non-empty DATABASE_URL / REDIS_URL in the environment is
#                    used as is; otherwise a private server is started under
#                    the data directory on its own port (installing Debian's
#                    postgresql / redis-server packages when missing). Idempotent.
#   env              Print the export lines without starting anything; fails
#                    when a private server is not running.
#   status           Report on stderr whether the servers are up (exit 1 if not).
#   stop             Stop the private servers (not those given by the
#                    environment), the Redis Cluster's too.
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
# With REDIS=cluster (make services REDIS=cluster), the Redis is a local
# Redis Cluster instead: six redis-servers with cluster mode on, three
# masters and three replicas, made by redis-cli --cluster create. REDIS_URL
# then names every node in the form go-redis' ParseClusterURL reads,
# redis://127.0.0.1:P0?addr=127.0.0.1:P1&addr=..., and
# FEATURESTORE_REDIS_MODE is cluster. The same ownership rules hold for
# each node (pid file, port, data directory). Nodes that are not all
# running and agreeing are stopped and the cluster made anew: it holds
# nothing but a cache. The cluster carries the same disposable key, which
# tells the tests that they may delete its keys.
#
# Environment: DATABASE_URL, REDIS_URL (use these instead of private servers),
# FS_PG_PORT (default 55432), FS_REDIS_PORT (default 56379): the ports to
# start on when free; FS_DATA_DIR (default .data in the repository): where
# the private servers keep their data, pid files and ports. REDIS (single or
# cluster; default FEATURESTORE_REDIS_MODE, else single): which Redis;
# FS_REDIS_CLUSTER_PORT (default 56700): the first of the twelve ports the
# cluster takes (six for clients, six for its bus) when they are free;
# FS_REDIS_CLUSTER_NODE_TIMEOUT (milliseconds, default 3000): how long a
# master may not answer before its replica takes over.
#
# PG=replica (make services PG=replica) also starts a streaming replica of
# the private Postgres: a copy made with pg_basebackup -R that replays the
# primary's WAL, on FS_PG_REPLICA_PORT (default 55433, or the next free
# port), and prints export DATABASE_READ_URL='...' for it. The primary
# allows replication from 127.0.0.1 (pg_hba) with wal_level replica. A
# DATABASE_READ_URL in the environment is used as is; a given DATABASE_URL
# without one cannot get a replica here. stop and destroy stop (and
# delete) the replica too, whatever PG says.
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
DEFAULT_PG_REPLICA_PORT=55433
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

# REDIS_MODE is which Redis: one server, or a Redis Cluster.
REDIS_MODE=${REDIS:-${FEATURESTORE_REDIS_MODE:-single}}
[[ $REDIS_MODE == single || $REDIS_MODE == cluster ]] || {
	printf 'services: error: REDIS must be single or cluster, not %s\n' "$REDIS_MODE" >&2
	exit 1
}

log() { printf 'services: %s\n' "$*" >&2; }
die() {
	printf 'services: error: %s\n' "$*" >&2
	exit 1
}

valid_port() { [[ $1 =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= 65535)); }

for p in "${FS_PG_PORT:-$DEFAULT_PG_PORT}" "${FS_REDIS_PORT:-$DEFAULT_REDIS_PORT}" "${FS_PG_REPLICA_PORT:-$DEFAULT_PG_REPLICA_PORT}"; do
	valid_port "$p" || die "invalid port: $p"
done
case ${PG:-single} in
single | replica) ;;
*) die "PG must be single or replica, not '$PG'" ;;
esac

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
	REDIS_URL)
		if [[ $REDIS_MODE == cluster ]]; then cluster_url; else printf 'redis://127.0.0.1:%s/0' "$REDIS_PORT"; fi
		;;
	esac
}

# given NAME: NAME (DATABASE_URL or REDIS_URL) is set by the environment to
# something other than a private server's URL (which a previous
# eval "$(scripts/services.sh)" exports: that one is still managed here).
given() {
	[[ -n ${!1:-} && ${!1} != "$(private_url "$1")" ]] || return 1
	[[ $1 != REDIS_URL || (${!1} != "$(REDIS_MODE=single private_url REDIS_URL)" && ${!1} != "$(cluster_url)") ]]
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
	printf 'export DATABASE_URL=%s\nexport REDIS_URL=%s\nexport FEATURESTORE_REDIS_MODE=%s\n' \
		"$(shell_quote "$db")" "$(shell_quote "$rd")" "$REDIS_MODE" >&3
	print_replica_export
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

# redis_shutdown PID [PIDFILE]: stop our Redis, found by its pid (not by a
# port that another server may hold by now), and remove its pid file.
redis_shutdown() {
	local pid=$1 pidfile=${2:-$REDIS_PIDFILE} i
	log "stopping redis (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < TIMEOUT * 5; i++)); do
		pid_alive "$pid" || break
		sleep 0.2
	done
	! pid_alive "$pid" || die "redis (pid $pid) did not stop"
	rm -f -- "$pidfile"
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

redis_packages() {
	if ! command -v redis-server >/dev/null; then
		apt_install redis-server
	elif ! command -v redis-cli >/dev/null; then
		apt_install redis-tools
	fi
	if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
		die "redis-server/redis-cli not found after installing"
	fi
}

ensure_redis() {
	redis_packages

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

# ----------------------------------------------------------- redis cluster --
# REDIS=cluster: a Redis Cluster of CLUSTER_NODES redis-servers under
# $CLUSTER_DIR/node-<i>, node i on client port CLUSTER_PORT+i and cluster bus
# port CLUSTER_PORT+CLUSTER_NODES+i (set with cluster-port: the default bus
# port, client port + 10000, is out of range for ports above 55535).

DEFAULT_REDIS_CLUSTER_PORT=56700
CLUSTER_NODES=6
CLUSTER_DIR=$DATA/redis-cluster
CLUSTER_PORTFILE=$CLUSTER_DIR/port
CLUSTER_NODE_TIMEOUT=${FS_REDIS_CLUSTER_NODE_TIMEOUT:-3000}
[[ $CLUSTER_NODE_TIMEOUT =~ ^[0-9]+$ ]] && ((CLUSTER_NODE_TIMEOUT >= 100)) ||
	die "FS_REDIS_CLUSTER_NODE_TIMEOUT must be a number of milliseconds of at least 100, not $CLUSTER_NODE_TIMEOUT"
CLUSTER_PORT=$(read_port "$CLUSTER_PORTFILE")
CLUSTER_PORT=${CLUSTER_PORT:-${FS_REDIS_CLUSTER_PORT:-$DEFAULT_REDIS_CLUSTER_PORT}}
valid_port "$CLUSTER_PORT" && ((CLUSTER_PORT + 2 * CLUSTER_NODES <= 65536)) ||
	die "invalid cluster port: $CLUSTER_PORT (the cluster takes it and the next $((2 * CLUSTER_NODES - 1)))"

cluster_node_dir() { printf '%s/node-%s' "$CLUSTER_DIR" "$1"; }
cluster_node_port() { printf '%s' "$((CLUSTER_PORT + $1))"; }

# cluster_url: REDIS_URL of the cluster, every node a seed.
cluster_url() {
	local i
	printf 'redis://127.0.0.1:%s' "$CLUSTER_PORT"
	for ((i = 1; i < CLUSTER_NODES; i++)); do
		printf '%saddr=127.0.0.1:%s' "$([[ $i == 1 ]] && echo '?' || echo '&')" "$(cluster_node_port "$i")"
	done
}

# cluster_node_pid I: the pid that node I wrote, if that process is alive,
# is a redis-server and works in node I's directory.
cluster_node_pid() {
	local dir pid
	dir=$(cluster_node_dir "$1")
	pid=$(cat -- "$dir/redis.pid" 2>/dev/null || true)
	pid_alive "$pid" || return 1
	[[ $(cat "/proc/$pid/comm" 2>/dev/null) == redis-server* ]] || return 1
	[[ $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$dir" ]] || return 1
	printf '%s' "$pid"
}

# cluster_node_ours I: node I is the server started here, on its port.
cluster_node_ours() {
	local pid port
	port=$(cluster_node_port "$1")
	pid=$(cluster_node_pid "$1") || return 1
	pid_listens "$pid" "$port" || return 1
	[[ $(redis_on "$port" config get dir 2>/dev/null | sed -n 2p) == "$(cluster_node_dir "$1")" ]]
}

# cluster_ok: every node is ours and sees a cluster in state ok of
# CLUSTER_NODES nodes with CLUSTER_NODES/2 masters serving slots.
cluster_ok() {
	local i info
	for ((i = 0; i < CLUSTER_NODES; i++)); do
		cluster_node_ours "$i" || return 1
		info=$(redis_on "$(cluster_node_port "$i")" cluster info 2>/dev/null | tr -d '\r') || return 1
		grep -qx 'cluster_state:ok' <<<"$info" || return 1
		grep -qx "cluster_known_nodes:$CLUSTER_NODES" <<<"$info" || return 1
		grep -qx "cluster_size:$((CLUSTER_NODES / 2))" <<<"$info" || return 1
	done
}

# cluster_wait_ok SECONDS: wait until cluster_ok.
cluster_wait_ok() {
	local i
	for ((i = 0; i < $1 * 5; i++)); do
		cluster_ok && return 0
		sleep 0.2
	done
	return 1
}

# cluster_stop: stop every node started here (found by pid file and
# working directory; a node's port may be another server's by now).
cluster_stop() {
	local i pid any=
	for ((i = 0; i < CLUSTER_NODES; i++)); do
		if pid=$(cluster_node_pid "$i"); then
			any=1
			redis_shutdown "$pid" "$(cluster_node_dir "$i")/redis.pid"
		fi
	done
	[[ -n $any ]] || log "redis cluster: not running"
}

# cluster_free_block PORT: the first port at or above PORT from which the
# cluster's 2*CLUSTER_NODES ports are all free.
cluster_free_block() {
	local base=$1 p
	while ((base + 2 * CLUSTER_NODES <= 65536)); do
		for ((p = base; p < base + 2 * CLUSTER_NODES; p++)); do
			port_open "$p" && break
		done
		if ((p == base + 2 * CLUSTER_NODES)); then
			printf '%s' "$base"
			return 0
		fi
		base=$((p + 1))
	done
	return 1
}

# cluster_start_nodes: start the nodes on fresh directories at
# CLUSTER_PORT; fails (with the nodes stopped) when a port was taken
# between the check and the bind, as an outgoing connection's port can be.
cluster_start_nodes() {
	local i port dir waited
	rm -rf -- "$CLUSTER_DIR"
	mkdir -p -- "$CLUSTER_DIR"
	printf '%s\n' "$CLUSTER_PORT" >"$CLUSTER_PORTFILE"
	log "starting a redis cluster of $CLUSTER_NODES nodes on 127.0.0.1:$CLUSTER_PORT-$((CLUSTER_PORT + CLUSTER_NODES - 1)) ($CLUSTER_DIR)"
	for ((i = 0; i < CLUSTER_NODES; i++)); do
		port=$(cluster_node_port "$i")
		dir=$(cluster_node_dir "$i")
		mkdir -p -- "$dir"
		redis-server --bind 127.0.0.1 --port "$port" --daemonize yes \
			--cluster-enabled yes --cluster-port "$((CLUSTER_PORT + CLUSTER_NODES + i))" \
			--cluster-config-file nodes.conf --cluster-node-timeout "$CLUSTER_NODE_TIMEOUT" \
			--cluster-replica-validity-factor 0 \
			--save '' --appendonly no --dir "$dir" \
			--pidfile "$dir/redis.pid" --logfile "$dir/redis.log" </dev/null >&2 3>&- 9>&- ||
			{
				tail_log "$dir/redis.log"
				die "redis cluster node $i did not start"
			}
	done
	for ((i = 0; i < CLUSTER_NODES; i++)); do
		dir=$(cluster_node_dir "$i")
		for ((waited = 0; waited < TIMEOUT * 5; waited++)); do
			cluster_node_ours "$i" && break
			grep -qiE 'aborting|fatal' "$dir/redis.log" 2>/dev/null && break
			sleep 0.2
		done
		cluster_node_ours "$i" && continue
		if grep -q 'Address already in use' "$dir/redis.log" 2>/dev/null; then
			log "a port of node $i was taken meanwhile"
			cluster_stop
			return 1
		fi
		tail_log "$dir/redis.log"
		die "redis cluster node $i on port $(cluster_node_port "$i") did not start within ${TIMEOUT}s"
	done
}

# cluster_create: start the nodes and join them into a cluster with one
# replica per master.
cluster_create() {
	local want=${FS_REDIS_CLUSTER_PORT:-$CLUSTER_PORT} from attempt i addrs=()
	from=$want
	for attempt in 1 2 3 4 5; do
		CLUSTER_PORT=$(cluster_free_block "$from") || die "no $((2 * CLUSTER_NODES)) free ports for the redis cluster at or above $want"
		if [[ $CLUSTER_PORT != "$want" ]]; then
			log "ports $want-$((want + 2 * CLUSTER_NODES - 1)) are not all free; the redis cluster goes on $CLUSTER_PORT"
		fi
		cluster_start_nodes && break
		from=$((CLUSTER_PORT + 2 * CLUSTER_NODES))
		((attempt < 5)) || die "the redis cluster found no free ports"
	done
	for ((i = 0; i < CLUSTER_NODES; i++)); do
		addrs+=("127.0.0.1:$(cluster_node_port "$i")")
	done
	redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >&2 3>&- 9>&- ||
		die "redis-cli --cluster create failed"
	cluster_wait_ok "$TIMEOUT" || {
		redis_on "$CLUSTER_PORT" cluster info >&2 || true
		die "the redis cluster did not reach state ok within ${TIMEOUT}s"
	}
}

ensure_redis_cluster() {
	redis_packages
	local want=${FS_REDIS_CLUSTER_PORT:-$CLUSTER_PORT}
	if cluster_ok && [[ $want == "$CLUSTER_PORT" ]]; then
		log "redis cluster: running on 127.0.0.1:$CLUSTER_PORT-$((CLUSTER_PORT + CLUSTER_NODES - 1))"
	elif [[ $want == "$CLUSTER_PORT" ]] && cluster_node_ours 0 && cluster_wait_ok 10; then
		log "redis cluster: running on 127.0.0.1:$CLUSTER_PORT-$((CLUSTER_PORT + CLUSTER_NODES - 1)) (it settled)"
	else
		# Not all running, not agreeing, or wanted elsewhere: it holds only
		# a cache, so it is made anew.
		cluster_stop
		cluster_create
	fi
	# The mark that lets the tests delete this cluster's keys; set again on
	# every start, since the nodes keep nothing on disk.
	redis-cli -c -h 127.0.0.1 -p "$CLUSTER_PORT" set "$REDIS_MARKER" "started by scripts/services.sh for $DATA" >/dev/null ||
		die "could not mark the redis cluster"
}

# cluster_status: report on the cluster; fails when it is not running.
cluster_status() {
	if cluster_ok; then
		log "redis cluster: running on 127.0.0.1:$CLUSTER_PORT-$((CLUSTER_PORT + CLUSTER_NODES - 1)) ($CLUSTER_DIR)"
		return 0
	fi
	log "redis cluster: not running (its data directory is $CLUSTER_DIR)"
	return 1
}

# ------------------------------------------------ postgres streaming replica --
#
# The replica is a second cluster beside the primary's ($PG_BASE/postgres-replica,
# its socket and log in $PG_BASE/pgrun-replica, its port recorded in
# $DATA/postgres-replica.port). It is driven by the same functions as the
# primary, run in a subshell with the PG_* variables pointed at it
# (as_replica), so the same ownership rules hold: it counts as ours only
# when its pid file names a live postmaster that listens on the recorded
# port and serves its data directory.

REPLICA_PORTFILE=$DATA/postgres-replica.port
REPLICA_PORT=

replica_wanted() { [[ ${PG:-single} == replica ]]; }

# as_replica CMD...: run CMD (a function of this script) in a subshell with
# PG_DATA/PG_RUN/PG_LOG/PG_PORT/PG_PORTFILE naming the replica. pg_layout
# must have set PG_BASE.
as_replica() {
	(
		PG_DATA=$PG_BASE/postgres-replica
		PG_RUN=$PG_BASE/pgrun-replica
		PG_LOG=$PG_RUN/postgres.log
		PG_PORTFILE=$REPLICA_PORTFILE
		PG_PORT=$(read_port "$PG_PORTFILE")
		PG_PORT=${PG_PORT:-${FS_PG_REPLICA_PORT:-$DEFAULT_PG_REPLICA_PORT}}
		"$@"
	)
}

# replica_port_now: print the port the replica's pid file records (the
# port it runs on), when it is ours.
replica_port_now() { pg_ours && printf '%s' "$PG_PORT"; }

# replica_prepare_primary: the primary must let a replica stream its WAL:
# wal_level replica or logical (replica is the default), WAL senders, and a
# pg_hba entry for replication connections from 127.0.0.1.
replica_prepare_primary() {
	local level senders
	level=$(pg_psql -c 'SHOW wal_level') || die "could not ask the primary for wal_level"
	senders=$(pg_psql -c 'SHOW max_wal_senders') || die "could not ask the primary for max_wal_senders"
	if [[ $level == minimal || $senders == 0 ]]; then
		die "the primary has wal_level=$level, max_wal_senders=$senders; a replica needs wal_level replica and WAL senders"
	fi
	if [[ -z $(pg_psql -c "SELECT 1 FROM pg_hba_file_rules WHERE 'replication' = ANY(database) AND type = 'host' AND address = '127.0.0.1' LIMIT 1") ]]; then
		log "allowing replication connections from 127.0.0.1 (pg_hba.conf)"
		printf '\n# scripts/services.sh: the streaming replica (PG=replica).\nhost replication all 127.0.0.1/32 trust\n' >>"$PG_DATA/pg_hba.conf"
		pg_psql -c 'SELECT pg_reload_conf()' >/dev/null || die "could not reload the primary's configuration"
	fi
}

# replica_create: copy the primary into the replica's data directory with
# pg_basebackup -R (which writes standby.signal and primary_conninfo), and
# give it settings of its own.
replica_create() {
	local d
	for d in "$PG_DATA" "$PG_RUN"; do
		[[ -d $d ]] && continue
		mkdir -m 700 -- "$d"
		((EUID != 0)) || chown postgres:postgres -- "$d"
	done
	log "pg_basebackup from 127.0.0.1:$1 into $PG_DATA"
	as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$1" -U postgres -D "$PG_DATA" -R -X stream -c fast --no-sync >&2 ||
		{ rm -rf -- "${PG_DATA:?}"/* && die "pg_basebackup failed"; }
	cat >"$PG_DATA/featurestore-replica.conf" <<CONF
# Written by scripts/services.sh: a streaming replica for read tests.
hot_standby = on
# The primary keeps the rows that the replica's queries still read, so
# that long exports on the replica are not cancelled by the primary's
# vacuum.
hot_standby_feedback = on
CONF
	printf "include_if_exists = 'featurestore-replica.conf'\n" >>"$PG_DATA/postgresql.conf"
	((EUID != 0)) || chown postgres:postgres -- "$PG_DATA/featurestore-replica.conf"
}

# replica_ensure PRIMARY_PORT: make the replica run (create it when
# missing) and print its port.
replica_ensure() {
	local primary=$1
	if ! pg_initialized; then
		replica_create "$primary"
	elif [[ ! -f $PG_DATA/standby.signal ]]; then
		die "$PG_DATA is not a standby (no standby.signal; promoted?); run '$0 destroy' to start over"
	fi
	if pg_running; then
		pg_ours || die "the replica of $PG_DATA (pid $(pg_pid)) runs but does not answer as expected on the port its pid file records; run '$0 stop' and try again"
	else
		# The primary may have moved to another port since the copy.
		sed -i -E "s/(primary_conninfo = '.*port=)[0-9]+/\1$primary/" "$PG_DATA/postgresql.auto.conf"
		local want=${FS_PG_REPLICA_PORT:-$PG_PORT} port
		port=$(free_port "$want") || die "no free port for the replica at or above $want"
		[[ $port == "$want" ]] || log "127.0.0.1:$want is in use by a server this script did not start; the replica goes on port $port"
		PG_PORT=$port
		pg_start
	fi
	pg_wait
	pg_ours || die "the replica just started on port $PG_PORT is not the server of $PG_DATA"
	[[ $(pg_psql -c 'SELECT pg_is_in_recovery()') == t ]] || die "the server of $PG_DATA is not in recovery: not a replica"
	printf '%s' "$PG_PORT"
}

# replica_stop: stop the replica if it is ours.
replica_stop() {
	if ! pg_initialized; then
		return 0
	elif pg_ours; then
		log "stopping the postgres replica ($PG_DATA)"
		as_pg "$PG_BIN/pg_ctl" stop -w -t "$TIMEOUT" -m fast -D "$PG_DATA" >&2
	elif pg_running; then
		log "postgres replica: the pid file of $PG_DATA names a process that is not its server on its port; not stopping it"
	else
		log "postgres replica: not running"
	fi
}

replica_status() {
	if pg_initialized && pg_ours; then
		log "postgres replica: running on 127.0.0.1:$PG_PORT ($PG_DATA)"
	else
		log "postgres replica: not running"
		return 1
	fi
}

# ensure_replica: with PG=replica, a running replica of the private primary
# (or DATABASE_READ_URL from the environment); sets REPLICA_PORT.
ensure_replica() {
	replica_wanted || return 0
	if [[ -n ${DATABASE_READ_URL:-} && ${DATABASE_READ_URL} != "$(replica_url)" ]]; then
		log "using DATABASE_READ_URL from the environment"
		return 0
	fi
	given DATABASE_URL && die "PG=replica starts a replica of the private Postgres only; with DATABASE_URL given, give DATABASE_READ_URL too"
	replica_prepare_primary
	REPLICA_PORT=$(as_replica replica_ensure "$PG_PORT") || exit 1
}

replica_url() { printf 'postgres://postgres@127.0.0.1:%s/%s?sslmode=disable' "${REPLICA_PORT:-$(read_port "$REPLICA_PORTFILE")}" "$PG_DB"; }

# print_replica_export: with PG=replica, the DATABASE_READ_URL line.
print_replica_export() {
	replica_wanted || return 0
	local url
	if [[ -n ${DATABASE_READ_URL:-} && ${DATABASE_READ_URL} != "$(replica_url)" ]]; then url=$DATABASE_READ_URL; else url=$(replica_url); fi
	printf 'export DATABASE_READ_URL=%s\n' "$(shell_quote "$url")" >&3
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
	ensure_replica
	if given REDIS_URL; then
		log "using REDIS_URL from the environment"
	elif [[ $REDIS_MODE == cluster ]]; then
		ensure_redis_cluster
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
	if replica_wanted && ! [[ -n ${DATABASE_READ_URL:-} && ${DATABASE_READ_URL} != "$(replica_url)" ]]; then
		if pg_existing && as_replica replica_status; then
			REPLICA_PORT=$(as_replica replica_port_now)
		else
			ok=1
		fi
	fi
	if given REDIS_URL; then
		log "redis: REDIS_URL given by the environment"
	elif [[ $REDIS_MODE == cluster ]]; then
		cluster_status || ok=1
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
	# The replica first (whatever PG says), while its primary still runs.
	if ! given DATABASE_URL && pg_existing; then
		as_replica replica_stop || true
	fi
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
	given REDIS_URL || cluster_stop
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
	if [[ -e $CLUSTER_DIR ]] && ! given REDIS_URL; then
		log "removing $CLUSTER_DIR"
		rm -rf -- "$CLUSTER_DIR"
	fi
	if [[ -e $DATA/postgres-replica || -e $DATA/pgrun-replica || -e $REPLICA_PORTFILE ]]; then
		log "removing $DATA/postgres-replica $DATA/pgrun-replica"
		rm -rf -- "$DATA/postgres-replica" "$DATA/pgrun-replica" "$REPLICA_PORTFILE"
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
