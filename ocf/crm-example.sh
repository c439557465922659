#!/bin/sh
# tokenflush as a crmsh primitive: one instance in the cluster, a flush every 10 minutes, checked every
# minute. The database password stays out of the CIB: the agent reads it from keystone.conf (a root-only
# file every Keystone node already has), so neither the CIB nor Pacemaker's saved inputs ever hold it.
#
# Run it as is on a cluster node, or override a value from the environment: tests/cluster/e2e.sh runs
# this very file with TF_CONFIG=<its own keystone.conf> TF_INTERVAL=5 TF_MONITOR_INTERVAL=2s
# TF_MONITOR_TIMEOUT=20s.
#
#   interval=600      a flush is due every 600 s (the old cron job ran hourly or daily)
#   monitor 60s/90s   the monitor does the flushing, so its interval is how late a due flush can start;
#                     its timeout must be at least twice the flush budget, max_runtime (default 30 s)
#   start/stop 20s    neither touches the database
set -eu

crm configure primitive "${TF_ID:-p_tokenflush}" ocf:openstack:tokenflush \
    params config="${TF_CONFIG:-/etc/keystone/keystone.conf}" interval="${TF_INTERVAL:-600}" \
    op start timeout=20s interval=0s \
    op stop timeout=20s interval=0s \
    op monitor interval="${TF_MONITOR_INTERVAL:-60s}" timeout="${TF_MONITOR_TIMEOUT:-90s}"
