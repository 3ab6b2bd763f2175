#!/usr/bin/env bash
# Local services for development and tests: a PostgreSQL and a Redis.
#
# Usage: scripts/services.sh [start|env|status|stop|destroy|help]
#
#   start (default)  Make a Postgres and a Redis available and print
#                    export DATABASE_URL='...' / export REDIS_URL='...'
#                    on stdout, so that  eval "$(scripts/services.sh)"  works.
#                    A non-empty DATABASE_URL / REDIS_URL in the environment is
#                    used as is; otherwise a private server is started under
#                    .data/ on its own port (installing Debian's postgresql /
#                    redis-server packages when missing). Idempotent.
#   env              Print the export lines without starting anything; fails
#                    when a private server is not running.
#   status           Report on stderr whether the servers are up (exit 1 if not).
#   stop             Stop the private servers (not those given by the environment).
#   destroy          Stop them and delete their data.
#
# Environment: DATABASE_URL, REDIS_URL (use these instead of private servers),
# FS_PG_PORT (default 55432), FS_REDIS_PORT (default 56379).
#
# Only the export lines go to stdout; all progress messages go to stderr.
set -euo pipefail

# fd 3 is the real stdout (for the export lines); everything else -> stderr.
exec 3>&1 1>&2

ROOT=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
DATA=$ROOT/.data
PG_PORT=${FS_PG_PORT:-55432}
REDIS_PORT=${FS_REDIS_PORT:-56379}
PG_DB=featurestore
TIMEOUT=30
HASH=$(printf '%s' "$ROOT" | sha1sum | cut -c1-12)
# Used when the postgres user cannot reach $DATA (e.g. a repository under /root).
ALT_BASE=/var/tmp/featurestore-$HASH

REDIS_DIR=$DATA/redis
REDIS_PIDFILE=$REDIS_DIR/redis.pid
REDIS_LOG=$REDIS_DIR/redis.log
REDIS_PORTFILE=$REDIS_DIR/port

log() { printf 'services: %s\n' "$*" >&2; }
die() {
	printf 'services: error: %s\n' "$*" >&2
	exit 1
}

for p in "$PG_PORT" "$REDIS_PORT"; do
	if ! [[ $p =~ ^[0-9]+$ ]] || ((p < 1 || p > 65535)); then
		die "invalid port: $p"
	fi
done

PRIVATE_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/$PG_DB?sslmode=disable"
PRIVATE_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"

# given NAME: NAME (DATABASE_URL or REDIS_URL) is set by the environment to
# something other than the private server's URL (which a previous
# eval "$(scripts/services.sh)" exports: that one is still managed here).
given() {
	local private=PRIVATE_$1
	[[ -n ${!1:-} && ${!1} != "${!private}" ]]
}

# shell_quote VALUE: single-quote VALUE for eval.
shell_quote() {
	local v=$1 q="'\\''"
	printf "'%s'" "${v//\'/$q}"
}

print_exports() {
	local db=${DATABASE_URL:-$PRIVATE_DATABASE_URL}
	local rd=${REDIS_URL:-$PRIVATE_REDIS_URL}
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

# Rewritten before every start so FS_PG_PORT changes take effect.
pg_write_conf() {
	local f=$PG_DATA/featurestore.conf
	cat >"$f.tmp" <<EOF
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
EOF
	((EUID != 0)) || chown postgres:postgres -- "$f.tmp"
	mv -f -- "$f.tmp" "$f"
}

pg_start() {
	log "starting postgres on 127.0.0.1:$PG_PORT ($PG_DATA)"
	pg_write_conf
	# A postmaster that was killed but not yet reaped still "owns"
	# postmaster.pid, and a new one would refuse to start: wait for it to go.
	local pid i
	pid=$(pg_pid)
	for ((i = 0; i < TIMEOUT * 5; i++)); do
		# exists (kill -0 works) but is a zombie
		if ! [[ $pid =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null || pid_alive "$pid"; then
			break
		fi
		((i > 0)) || log "waiting for the old postmaster (pid $pid) to be reaped"
		sleep 0.2
	done
	if port_open "$PG_PORT"; then
		die "127.0.0.1:$PG_PORT is already in use by another program: set FS_PG_PORT to a free port (or DATABASE_URL)"
	fi
	PG_LOG_OFFSET=$(log_size "$PG_LOG")
	if ! as_pg "$PG_BIN/pg_ctl" start -w -t "$TIMEOUT" -D "$PG_DATA" -l "$PG_LOG" >&2; then
		tail_log "$PG_LOG" "$PG_LOG_OFFSET"
		die "postgres did not start"
	fi
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

ensure_postgres() {
	mkdir -p -- "$DATA"
	local ver=
	if [[ -f $DATA/postgres/PG_VERSION ]]; then
		ver=$(<"$DATA/postgres/PG_VERSION")
	fi
	if ! find_pg_bin "$ver"; then
		if [[ -n $ver ]] && find_pg_bin; then
			die "the cluster in .data/postgres is PostgreSQL $ver, which is not installed (found $PG_BIN); install postgresql-$ver or run '$0 destroy'"
		fi
		apt_install postgresql
		find_pg_bin "$ver" || die "no PostgreSQL ${ver:+$ver }binaries found after installing postgresql"
	fi
	ensure_pg_user
	pg_layout create
	pg_initialized || pg_initdb

	if pg_running; then
		local port
		port=$(pg_running_port)
		if [[ $port != "$PG_PORT" ]]; then
			if port_open "$PG_PORT"; then
				die "postgres is running on port $port, and 127.0.0.1:$PG_PORT is already in use by another program: set FS_PG_PORT to a free port (or DATABASE_URL)"
			fi
			log "postgres is running on port $port, restarting it on $PG_PORT"
			as_pg "$PG_BIN/pg_ctl" stop -w -m fast -D "$PG_DATA" >&2
			pg_start
		fi
	else
		pg_start
	fi
	pg_wait

	if [[ -z $(pg_psql -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'") ]]; then
		log "creating database $PG_DB"
		pg_psql -c "CREATE DATABASE $PG_DB" || die "could not create database $PG_DB"
	fi
}

# ------------------------------------------------------------------- redis --

redis_cli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

redis_ready() {
	command -v redis-cli >/dev/null || return 1
	[[ $(redis_cli ping 2>/dev/null) == PONG ]]
}

# Whether the Redis on port ${1:-$REDIS_PORT} is one this script started.
redis_ours() {
	[[ $(redis-cli -h 127.0.0.1 -p "${1:-$REDIS_PORT}" config get dir 2>/dev/null | sed -n 2p) == "$REDIS_DIR" ]]
}

# The private Redis recorded in .data/redis: sets R_PID and R_PORT and
# returns 0 if that process is still alive.
redis_recorded() {
	R_PID=$(cat -- "$REDIS_PIDFILE" 2>/dev/null || true)
	R_PORT=$(cat -- "$REDIS_PORTFILE" 2>/dev/null || true)
	pid_alive "$R_PID" && [[ $(cat "/proc/$R_PID/comm" 2>/dev/null || echo redis-server) == redis-server* ]]
}

# redis_shutdown PID PORT: stop our Redis (SHUTDOWN NOSAVE, else SIGTERM).
redis_shutdown() {
	local pid=$1 port=$2 i
	log "stopping redis on 127.0.0.1:${port:-?} (pid $pid)"
	if [[ -n $port ]] && redis_ours "$port"; then
		redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
	else
		kill -TERM "$pid" 2>/dev/null || true
	fi
	for ((i = 0; i < TIMEOUT * 5; i++)); do
		pid_alive "$pid" || break
		sleep 0.2
	done
	! pid_alive "$pid" || die "redis (pid $pid) did not stop"
	rm -f -- "$REDIS_PIDFILE" "$REDIS_PORTFILE"
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

	redis_ready && return 0

	if port_open "$REDIS_PORT"; then
		die "127.0.0.1:$REDIS_PORT is in use by something that is not a usable Redis: set FS_REDIS_PORT to a free port (or REDIS_URL)"
	fi

	# Our Redis is up on another port (FS_REDIS_PORT changed): move it.
	if redis_recorded && [[ $R_PORT != "$REDIS_PORT" ]]; then
		log "redis is running on port ${R_PORT:-?}, restarting it on $REDIS_PORT"
		redis_shutdown "$R_PID" "$R_PORT"
	fi

	mkdir -p -- "$REDIS_DIR"
	printf '%s\n' "$REDIS_PORT" >"$REDIS_PORTFILE"
	log "starting redis on 127.0.0.1:$REDIS_PORT ($REDIS_DIR)"
	local offset
	offset=$(log_size "$REDIS_LOG")
	if ! redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes \
		--save '' --appendonly no --dir "$REDIS_DIR" \
		--pidfile "$REDIS_PIDFILE" --logfile "$REDIS_LOG" </dev/null >&2 3>&- 9>&-; then
		tail_log "$REDIS_LOG" "$offset"
		die "redis did not start"
	fi
	local i
	for ((i = 0; i < TIMEOUT * 5; i++)); do
		redis_ready && return 0
		# The daemonized server exits on fatal errors (e.g. port in use).
		if tail -c "+$((offset + 1))" -- "$REDIS_LOG" 2>/dev/null | grep -qiE 'aborting|fatal|bye bye'; then
			tail_log "$REDIS_LOG" "$offset"
			die "redis did not start"
		fi
		sleep 0.2
	done
	tail_log "$REDIS_LOG" "$offset"
	die "redis on 127.0.0.1:$REDIS_PORT did not answer within ${TIMEOUT}s"
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

pg_status_ok() {
	pg_existing && pg_running && [[ $(pg_running_port) == "$PG_PORT" ]] && pg_ready
}

cmd_status() {
	local ok=0
	if given DATABASE_URL; then
		log "postgres: DATABASE_URL given by the environment"
	elif pg_status_ok; then
		log "postgres: running on 127.0.0.1:$PG_PORT ($PG_DATA)"
	else
		log "postgres: not running on 127.0.0.1:$PG_PORT"
		ok=1
	fi
	if given REDIS_URL; then
		log "redis: REDIS_URL given by the environment"
	elif redis_ready; then
		log "redis: running on 127.0.0.1:$REDIS_PORT"
	else
		log "redis: not running on 127.0.0.1:$REDIS_PORT"
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
	if given DATABASE_URL; then
		log "postgres: DATABASE_URL given by the environment, not stopping it"
	elif pg_existing && pg_running; then
		log "stopping postgres ($PG_DATA)"
		as_pg "$PG_BIN/pg_ctl" stop -w -t "$TIMEOUT" -m fast -D "$PG_DATA" >&2
	else
		log "postgres: not running"
	fi
	if given REDIS_URL; then
		log "redis: REDIS_URL given by the environment, not stopping it"
	elif redis_recorded; then
		redis_shutdown "$R_PID" "$R_PORT"
	elif redis_ready && redis_ours; then
		log "stopping redis on 127.0.0.1:$REDIS_PORT"
		redis_cli shutdown nosave >/dev/null 2>&1 || true
	elif redis_ready; then
		log "redis on 127.0.0.1:$REDIS_PORT was not started by this script (its dir is not $REDIS_DIR), leaving it"
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
		log "removing .data/postgres .data/pgrun .data/redis"
		rm -rf -- "$DATA/postgres" "$DATA/pgrun" "$REDIS_DIR"
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
help | -h | --help) usage ;;
*)
	usage
	exit 2
	;;
esac
