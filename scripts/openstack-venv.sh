#!/usr/bin/env bash
# A cached virtualenv holding one OpenStack service's own Python code, so that the tests can run the
# service's real tools (`keystone-manage db_sync`, ...) instead of hand-written copies of their DDL.
#
#   scripts/openstack-venv.sh SERVICE        # prints the virtualenv's directory on stdout
#
# SERVICE is one of the names in the table below: keystone, nova, cinder, glance, aodh, all of
# OpenStack 2026.2 (the release of 2026-09-30, Keystone 30.0.0's cycle). The virtualenv lives in
# ${TOKENFLUSH_CACHE:-/var/cache/tokenflush}/venv-SERVICE-VERSION and is built once: later calls
# print its directory and do nothing else, quietly and without asking PyPI. Every Python package is
# pinned by scripts/constraints/SERVICE-VERSION.txt (the whole dependency tree, as OpenStack's
# upper-constraints pins it), so the DDL a service's migrations produce cannot change under us when
# SQLAlchemy or alembic publish a new release. Changing that file rebuilds the virtualenv.
#
# Needs python3 with the venv module (Debian: python3-venv) and PyPI. Every dependency of the
# services listed here installs from wheels except two pure-Python sdists (ovs for nova,
# simplegeneric for glance) that pip builds without a compiler; no -dev package is used.
# Measured on the 2-core machine (cold, PyPI): keystone 20 s / 202 MB, nova 51 s / 405 MB,
# cinder 48 s / 330 MB, glance 44 s / 254 MB, aodh 48 s / 258 MB.
set -euo pipefail

die() { echo "openstack-venv: $*" >&2; exit 1; }

here=$(cd "$(dirname "$0")" && pwd)
service=${1:-}
[ -n "$service" ] || die "usage: $0 SERVICE (keystone, nova, cinder, glance or aodh)"

# One line per service: the PyPI distribution and its version, and what else the tests need from
# it (the MySQL driver its connection URL names). To add a service: add a line, install once
# without a constraints file, and commit `pip freeze` as its constraints file. `about` is the
# build time measured here, for the message a cold build prints.
case "$service" in
    keystone) dist=keystone; version=30.0.0; extra=(PyMySQL); about=20 ;;
    nova) dist=nova; version=34.0.0; extra=(PyMySQL); about=50 ;;
    cinder) dist=cinder; version=29.0.0; extra=(PyMySQL); about=50 ;;
    glance) dist=glance; version=33.0.0; extra=(PyMySQL); about=45 ;;
    aodh) dist=aodh; version=23.0.0; extra=(PyMySQL); about=50 ;;
    *) die "unknown service '$service' (known: keystone, nova, cinder, glance, aodh)" ;;
esac

constraints=$here/constraints/$service-$version.txt
[ -f "$constraints" ] || die "missing $constraints"
cache=${TOKENFLUSH_CACHE:-/var/cache/tokenflush}
venv=$cache/venv-$service-$version
python=${PYTHON:-python3}

# The stamp says what the virtualenv was built from; it is written last, so an interrupted build is
# never taken for a finished one.
want=$( { echo "$dist==$version ${extra[*]}"; "$python" -c 'import sys; print(sys.version)'; cat "$constraints"; } | sha256sum | cut -c1-64)
ready() { [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.tokenflush-stamp" 2>/dev/null)" = "$want" ]; }

if ready; then echo "$venv"; exit 0; fi

mkdir -p "$cache"
# Two suites building the same virtualenv at once would corrupt it: the second waits for the first.
exec 9>"$cache/.venv-$service-$version.lock"
flock 9
if ready; then echo "$venv"; exit 0; fi

echo "openstack-venv: building $venv ($dist==$version; about $about s)" >&2
rm -rf "$venv"
log=$cache/venv-$service-$version.log
{
    "$python" -m venv "$venv" &&
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
            -c "$constraints" "$dist==$version" "${extra[@]}"
} >"$log" 2>&1 || { tail -30 "$log" >&2; rm -rf "$venv"; die "building $venv failed (log: $log)"; }
echo "$want" >"$venv/.tokenflush-stamp"
rm -f "$log"
echo "$venv"
