#!/usr/bin/env bash
# Run a real single-node Slurm cluster (munged + slurmctld + slurmd, and slurmdbd on a private MariaDB so that
# `sacct` works, as on most real clusters) on this machine, without systemd, for tests and local runs of the Slurm
# backend. Everything it writes (config, state, spool, database, logs, pid files) lives in DIR.
#   eval "$(scripts/slurm-local.sh start)"   # prints only `export SLURM_CONF=DIR/slurm.conf` on stdout
#   SLURM_CONF=DIR/slurm-noacct.conf ...     # the same cluster seen by a client without accounting: sacct fails
#   scripts/slurm-local.sh status            # pid per daemon and the node state; exit 0 if all up, 3 otherwise
#   scripts/slurm-local.sh stop              # cancels its jobs, stops only the daemons it started
# DIR (2nd argument) defaults to ${HARNESS_SLURM_DIR:-/tmp/harness-slurm}. Needs root (it re-runs itself with sudo).
# Each fresh start wipes the cluster's jobs and node state (slurmctld -c); job ids go on from the last run's in DIR,
# and the accounting database (DIR/mariadb) is kept, so sacct still knows the earlier runs' jobs.
set -euo pipefail
shopt -s extglob
export PATH=$PATH:/usr/sbin:/sbin

usage() { echo "usage: $0 start|stop|status [DIR]" >&2; exit 2; }
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
cmd=$1
case $cmd in start|stop|status) ;; *) usage ;; esac
dir=$(realpath -m "${2:-${HARNESS_SLURM_DIR:-/tmp/harness-slurm}}")

if [ "$cmd" != status ] && [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "slurm-local: $cmd needs root (or sudo)" >&2; exit 1; }
    exec sudo "$0" "$cmd" "$dir"
fi

conf=$dir/slurm.conf
export SLURM_CONF=$conf
# Every process we start carries this variable; slurmd passes its environment on to the slurmstepd it forks, so it
# also marks the job step daemons. A pid counts as ours only if its environment holds this exact value.
tag="HARNESS_SLURM_OWNER=$dir"
# owned by munge: munged runs as that user and writes its pid file and log there. Not inside DIR, whose parents
# may be private to root (pytest's and mktemp's folders are 0700), which the munge user could not get through.
munge_dir=${TMPDIR:-/tmp}/harness-munge-$(printf '%s' "$dir" | sha256sum | cut -c1-12)
declare -A pidfile=([munged]=$munge_dir/munged.pid [slurmctld]=$dir/slurmctld.pid [slurmd]=$dir/slurmd.pid
                    [mariadbd]=$dir/mariadbd.pid [slurmdbd]=$dir/slurmdbd.pid)
declare -A logfile=([munged]=$munge_dir/munged.log [slurmctld]=$dir/slurmctld.log [slurmd]=$dir/slurmd.log
                    [mariadbd]=$dir/mariadbd.log [slurmdbd]=$dir/slurmdbd.log)
daemons=(munged mariadbd slurmdbd slurmctld slurmd)  # in start order; do_stop goes the other way

log() { echo "slurm-local: $*" >&2; }

ours() {  # ours PID: is PID alive and started by this script for this DIR?
    [ -e "/proc/$1" ] || return 1
    if [ -r "/proc/$1/environ" ]; then
        { tr '\0' '\n' <"/proc/$1/environ"; } 2>/dev/null | grep -qxF "$tag"
    else  # not root (status): another user's environment is unreadable; our daemons name DIR on their command line
        { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -qF "$dir/"
    fi
}

daemon_pid() {  # daemon_pid NAME: print the pid of our running NAME, or fail
    local pid
    pid=$(cat "${pidfile[$1]}" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    if ours "$pid"; then echo "$pid"; return 0; fi
    # slurmdbd's command line names no file (it reads the slurmdbd.conf next to $SLURM_CONF): a non-root `status`
    # can only go by its pid file and its name
    [ "$1" = slurmdbd ] && [ ! -r "/proc/$pid/environ" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = slurmdbd ] \
        && echo "$pid"
}

spawn() {  # spawn NAME CMD...: start a daemon carrying our tag, with no file descriptor of ours
    # A daemon that inherits the caller's stdout pipe keeps `$(slurm-local.sh start)` waiting forever, so close
    # every descriptor above 2 and send its stdout/stderr (startup errors before it opens its log) to a file.
    local out=$dir/$1.stderr; shift
    (
        for fd in "/proc/$BASHPID/fd/"*; do
            fd=${fd##*/}
            if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
        done 2>/dev/null
        exec env "$tag" "$@" </dev/null >"$out" 2>&1
    )
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

node_state() { sinfo -h -o %T 2>/dev/null | head -1; }

tagged_pids() {  # every live process carrying our tag (daemons and slurmstepd)
    local p
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" != $$ ] && ours "$p" && echo "$p"
    done
    return 0
}

stop_pids() {  # stop_pids PID...: SIGTERM, wait up to 10 s, then SIGKILL what is left
    [ $# -gt 0 ] || return 0
    kill -TERM "$@" 2>/dev/null || true
    local p left
    for _ in $(seq 100); do
        left=()
        for p in "$@"; do ours "$p" && left+=("$p"); done
        [ ${#left[@]} -eq 0 ] && return 0
        sleep 0.1
    done
    log "still running after 10 s, sending SIGKILL to ${left[*]}"
    kill -KILL "${left[@]}" 2>/dev/null || true
    sleep 0.5
}

do_stop() {
    local pid name ids
    # slurmd leaves running job steps (slurmstepd) behind when it stops, so cancel the jobs first while
    # slurmctld can still do it cleanly; KillWait=5 bounds how long a job gets after SIGTERM.
    if daemon_pid slurmctld >/dev/null; then
        ids=$(squeue -h -o %A 2>/dev/null || true)
        if [ -n "$ids" ]; then
            log "cancelling jobs: $(echo "$ids" | tr '\n' ' ')"
            # shellcheck disable=SC2086  # one word per job id
            scancel $ids 2>/dev/null || true
            for _ in $(seq 30); do
                [ -z "$(squeue -h -t PD,R,CG,S 2>/dev/null)" ] && break
                sleep 0.5
            done
        fi
    fi
    for name in slurmd slurmctld slurmdbd mariadbd munged; do
        if pid=$(daemon_pid "$name"); then
            log "stopping $name (pid $pid)"
            stop_pids "$pid"
        fi
        [ "$name" = munged ] || rm -f "${pidfile[$name]}"  # munged removes its own; the dir is not ours to write
    done
    # munged's pid and log folder (outside DIR, named after it): gone with the munged we started
    if ! daemon_pid munged >/dev/null && [ -d "$munge_dir" ]; then rm -rf "$munge_dir"; fi
    # Anything else we started (a slurmstepd whose job did not go away).
    mapfile -t left < <(tagged_pids)
    if [ ${#left[@]} -gt 0 ]; then
        log "stopping leftover processes: ${left[*]}"
        stop_pids "${left[@]}"
    fi
}

do_status() {
    local name pid rc=0 state
    for name in "${daemons[@]}"; do
        if pid=$(daemon_pid "$name"); then
            echo "$name: running, pid $pid"
        elif [ "$name" = munged ] && munge_ok; then
            echo "munged: running (not started by this script; reused)"
        else
            echo "$name: not running"; rc=3
        fi
    done
    if daemon_pid slurmctld >/dev/null; then
        state=$(node_state)
        echo "node: ${state:-unknown (sinfo failed)}"
        echo "SLURM_CONF=$conf"
    fi
    return $rc
}

install_packages() {
    local c missing=
    for c in slurmctld slurmd munged sinfo slurmdbd sacctmgr mariadbd mariadb-install-db mariadb; do
        command -v "$c" >/dev/null || missing=1
    done
    [ -z "$missing" ] && return 0
    log "installing slurm, slurmdbd, munge and mariadb with apt"
    local sudo=(); [ "$(id -u)" = 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -q >&2
    # MariaDB's -core packages: the server and client programs without mariadb-server's system service and
    # /etc/mysql setup, which this script does not use (it runs its own mariadbd on a datadir in DIR).
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
        slurmctld slurmd slurm-client slurmdbd munge mariadb-server-core mariadb-client-core >&2
}

start_munge() {
    if munge_ok; then
        daemon_pid munged >/dev/null || log "reusing the munged that already answers on this machine"
        return 0
    fi
    local key=/etc/munge/munge.key
    if [ ! -s "$key" ]; then
        log "creating $key"
        install -d -o munge -g munge -m 0700 /etc/munge
        mungekey --create --keyfile="$key" 2>/dev/null || dd if=/dev/urandom of="$key" bs=1 count=1024 status=none
        chown munge:munge "$key"; chmod 0400 "$key"
    fi
    install -d -o munge -g munge -m 0755 /run/munge          # the socket dir, normally made by systemd
    [ -d /var/lib/munge ] || install -d -o munge -g munge -m 0700 /var/lib/munge   # munged's seed file
    install -d -o munge -g munge -m 0755 "$munge_dir"  # readable: `status` as a non-root user reads the pid file
    # --force: the socket did not answer, so whatever socket file is there is stale.
    spawn munged runuser -u munge -- munged --force --pid-file="${pidfile[munged]}" --log-file="${logfile[munged]}"
    for _ in $(seq 50); do munge_ok && return 0; sleep 0.1; done
    fail munged "munged does not answer"
}

free_ports() {  # free_ports N: print N TCP ports nobody listens on, from a random spot in 20000-29999
    # (below the kernel's ephemeral range, so an outgoing connection does not take it meanwhile)
    local used p n=0
    used=$(ss -Htln | awk '{print $4}' | sed 's/.*://')
    p=$((20000 + RANDOM % 9000))
    while [ $n -lt "$1" ]; do
        grep -qx "$p" <<<"$used" || { echo "$p"; n=$((n + 1)); }
        p=$((p + 1))
    done
}

write_conf() {  # slurm.conf (ports: global, from free_ports) and slurm-noacct.conf
    local host nodeline mem cpus
    host=$(hostname -s)
    # slurmd -C reports this machine's NodeName/CPUs/sockets/cores/RealMemory (first line; the second is UpTime).
    nodeline=$(slurmd -C | head -1)
    mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$nodeline")
    cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$nodeline")
    # Claim 5% less memory than there is: a node whose slurmd reports less than RealMemory gets drained.
    mem=$((mem * 95 / 100))
    nodeline=${nodeline/RealMemory=+([0-9])/RealMemory=$mem}
    cat >"$conf" <<EOF
# Written by scripts/slurm-local.sh for a single-node cluster on $host; rewritten on each fresh start.
ClusterName=harness
SlurmctldHost=$host
# Not the default ports 6817/6818, so a second cluster or a leftover daemon does not collide with this one.
SlurmctldPort=${ports[0]}
SlurmdPort=${ports[1]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# Linux without cgroup mounts (containers): cgroup process tracking and task binding fail to start.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, a job that does not ask for memory gets the whole node's and the jobs run one at a time.
DefMemPerCPU=$((mem / cpus))
# Accounting through our slurmdbd: sacct works. No AccountingStorageEnforce: a job needs no account or association.
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=${ports[2]}
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# A node that was DOWN comes back as soon as its slurmd registers with a valid configuration.
ReturnToService=2
# Seconds between SIGTERM and SIGKILL when a job is cancelled or hits its time limit.
KillWait=5
# Finished jobs stay visible to squeue/scontrol show job for 10 minutes.
MinJobAge=600
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=20
# No mail program here: the default /bin/mail is missing and slurmctld logs an error at each start.
MailProg=/bin/true
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=${pidfile[slurmctld]}
SlurmdPidFile=${pidfile[slurmd]}
SlurmctldLogFile=${logfile[slurmctld]}
SlurmdLogFile=${logfile[slurmd]}
$nodeline State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    # A client of a cluster without slurmdbd: the same controller, but its sacct fails ("Slurm accounting storage
    # is disabled"), so the job states of harness/app/slurm.py come from scontrol. slurmctld reads only slurm.conf.
    sed -e 's|^AccountingStorageType=.*|AccountingStorageType=accounting_storage/none|' \
        -e '/^AccountingStorage\(Host\|Port\)=/d' \
        -e 's|^# Accounting through.*|# A client without accounting (sacct fails) of the cluster of slurm.conf.|' \
        "$conf" >"$dir/slurm-noacct.conf"
}

private() {  # private FILE: write stdin to FILE, a new file of mode 0600
    rm -f "$1"
    (umask 077; cat >"$1")
}

start_accounting() {  # a private MariaDB (datadir in DIR, kept from one start to the next) and slurmdbd on it
    local db=$dir/mariadb pass
    # As root: the mysql user comes only with Debian's mariadb-server package (not installed), and SlurmUser is
    # root too. A small buffer pool, redo log and growth step, for a few hundred jobs: 30 MB on disk, not 100
    # (slurmdbd's log advises bigger ones; the lock wait timeout it advises costs nothing). No fsync: a test
    # cluster's accounting need not survive a crash of the machine, and on a slow disk the fsyncs of the first
    # start (every table created) cost seconds.
    local opts=(--no-defaults --user=root --datadir="$db" --innodb-buffer-pool-size=32M --innodb-log-file-size=4M
                --innodb-lock-wait-timeout=900 --innodb-autoextend-increment=4
                --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 --innodb-flush-method=nosync)
    if [ ! -d "$db/mysql" ]; then
        mariadb-install-db "${opts[@]}" --skip-test-db >"$dir/mariadb-install-db.stderr" 2>&1 \
            || fail mariadb-install-db "mariadb-install-db failed"
    fi
    # A fresh password at each start, in files only root reads; the server listens on 127.0.0.1 only.
    pass=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
    private "$dir/mariadb-init.sql" <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE OR REPLACE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
EOF
    # mariadbd stays in the foreground, unlike the slurm daemons: setsid --fork detaches it (a session of its own,
    # so a signal to the caller's process group does not reach it either). UMASK (its files' mode): a pid file that
    # `status` as a non-root user can read; the datadir itself stays 0700.
    rm -f "${pidfile[mariadbd]}"
    spawn mariadbd UMASK=0644 setsid --fork mariadbd "${opts[@]}" --bind-address=127.0.0.1 --port="${ports[3]}" \
        --skip-name-resolve --socket="$dir/mariadbd.sock" --pid-file="${pidfile[mariadbd]}" \
        --log-error="${logfile[mariadbd]}" --init-file="$dir/mariadb-init.sql"
    for _ in $(seq 300); do
        MYSQL_PWD=$pass mariadb --no-defaults -h 127.0.0.1 -P "${ports[3]}" -u slurm -e 'SELECT 1' slurm_acct_db \
            >/dev/null 2>&1 && break
        [ -s "${pidfile[mariadbd]}" ] && ! daemon_pid mariadbd >/dev/null && break  # it wrote its pid and died
        sleep 0.1
    done
    daemon_pid mariadbd >/dev/null || fail mariadbd "mariadbd did not start"
    # Mode 0600 and owned by SlurmUser (root), or slurmdbd refuses it.
    private "$dir/slurmdbd.conf" <<EOF
# Written by scripts/slurm-local.sh; slurmdbd reads it from the folder of \$SLURM_CONF.
AuthType=auth/munge
DbdHost=localhost
DbdPort=${ports[2]}
SlurmUser=root
PidFile=${pidfile[slurmdbd]}
LogFile=${logfile[slurmdbd]}
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=${ports[3]}
StorageUser=slurm
StoragePass=$pass
StorageLoc=slurm_acct_db
EOF
    spawn slurmdbd slurmdbd || fail slurmdbd "slurmdbd failed to start"
    wait_pidfile slurmdbd
    # It creates its tables on its first start; slurmctld registers the cluster when it connects.
    for _ in $(seq 120); do sacctmgr -n list cluster >/dev/null 2>&1 && return 0; sleep 0.25; done
    fail slurmdbd "slurmdbd does not answer sacctmgr after 30 s"
}

fail() {  # fail NAME MESSAGE: show NAME's log and exit 1 (the EXIT trap of do_start stops what it started)
    log "$2"
    local f
    for f in "$dir/$1.stderr" "${logfile[$1]:-}"; do
        if [ -s "$f" ]; then
            log "last lines of $f:"
            tail -n 25 "$f" >&2
        fi
    done
    [ "$1" = slurmd ] && scontrol show node 2>/dev/null | grep -E 'State=|Reason=' >&2
    exit 1
}

wait_pidfile() {  # wait_pidfile NAME: the daemon forked; wait for its pid file to name a live process of ours
    for _ in $(seq 100); do daemon_pid "$1" >/dev/null && return 0; sleep 0.1; done
    fail "$1" "$1 did not start"
}

wait_node() {  # wait_node SECONDS STATE-PATTERN: wait for the node state to match; on timeout print the state, fail
    local state=
    for _ in $(seq $(($1 * 2))); do
        state=$(node_state)
        # shellcheck disable=SC2053  # $2 is a pattern on purpose
        [[ $state == $2 ]] && return 0
        sleep 0.5
    done
    echo "${state:-unknown}"
    return 1
}

do_start() {
    exec 3>&1 1>&2  # stdout carries only the export line; everything else goes to stderr
    local state
    if daemon_pid mariadbd >/dev/null && daemon_pid slurmdbd >/dev/null && daemon_pid slurmctld >/dev/null \
        && daemon_pid slurmd >/dev/null && munge_ok; then
        # Jobs may be running: any usable state will do.
        if state=$(wait_node 10 '@(idle|mixed|allocated|completing)'); then
            log "already running in $dir"
            echo "export SLURM_CONF=$conf" >&3
            return 0
        fi
        log "restarting: the daemons run but the node is $state"
        do_stop
    elif [ -n "$(tagged_pids)" ]; then
        log "restarting: not all daemons are up"  # one of them died
        do_stop
    fi
    # From here on, a failure (fail, or any command under set -e) stops whatever this run started.
    trap 'if [ $? -ne 0 ]; then log "start failed, stopping what it started"; do_stop; fi' EXIT
    install_packages
    mkdir -p "$dir/state" "$dir/spool"
    rm -f "${logfile[slurmctld]}" "${logfile[slurmd]}" "${logfile[slurmdbd]}" "${logfile[mariadbd]}"
    local t0=$SECONDS
    start_munge
    mapfile -t ports < <(free_ports 4)  # slurmctld, slurmd, slurmdbd, mariadbd
    write_conf
    start_accounting
    # -c: no jobs or node DOWN/DRAIN reasons left over from an earlier run (the job id counter is kept).
    spawn slurmctld slurmctld -c -f "$conf" || fail slurmctld "slurmctld failed to start"
    wait_pidfile slurmctld
    spawn slurmd slurmd -f "$conf" || fail slurmd "slurmd failed to start"
    wait_pidfile slurmd
    state=$(wait_node 30 idle) || fail slurmd "the node is $state after 30 s, not idle"
    log "up in $((SECONDS - t0)) s: node $(sinfo -h -o '%N %c CPUs %m MB'), ports: slurmctld ${ports[0]}," \
        "slurmd ${ports[1]}, slurmdbd ${ports[2]}, mariadbd ${ports[3]}"
    echo "export SLURM_CONF=$conf" >&3
}

case $cmd in
    start) do_start ;;
    stop)
        if [ -z "$(tagged_pids)" ]; then log "nothing running in $dir"; exit 0; fi
        do_stop ;;
    status) do_status || exit 3 ;;
esac
