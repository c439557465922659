#!/bin/sh
# tokenflush as a pcs resource: the same single primitive as crm-example.sh, but with the connection
# given directly and the password in a file of its own (first line; mode 0600, owned by root, on every
# node), so again no password sits in the CIB. The URL is Keystone's own SQLAlchemy form; a password in
# it would be overridden by password_file anyway.
#
# Run it as is on a cluster node, or override a value from the environment: tests/cluster/e2e.sh runs
# this very file with its own TF_CONNECTION, TF_PASSWORD_FILE and short intervals.
set -eu

pcs resource create "${TF_ID:-p_tokenflush}" ocf:openstack:tokenflush \
    connection="${TF_CONNECTION:-mysql+pymysql://keystone@db.example.org/keystone?charset=utf8}" \
    password_file="${TF_PASSWORD_FILE:-/etc/keystone/tokenflush.password}" \
    interval="${TF_INTERVAL:-600}" \
    op start timeout=20s interval=0s \
    op stop timeout=20s interval=0s \
    op monitor interval="${TF_MONITOR_INTERVAL:-60s}" timeout="${TF_MONITOR_TIMEOUT:-90s}"
