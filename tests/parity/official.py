"""Run an OpenStack service's own purge code with its clock pinned (the parity tests' official side).

    VENV/bin/python tests/parity/official.py --now 'YYYY-MM-DD HH:MM:SS' CONSOLE-SCRIPT ARGS...
    VENV/bin/python tests/parity/official.py --now '...' keystone-revocation-prune --config-file F

CONSOLE-SCRIPT is the name of one of the service's console scripts (keystone-manage, nova-manage,
cinder-manage, glance-manage, aodh-expirer): its entry point is loaded from the installed
distribution's metadata and called exactly as the script in VENV/bin would call it, so the code
that runs is the service's own, unchanged. The only difference is the clock: before the entry
point runs, `oslo_utils.timeutils.set_time_override(NOW)` pins `timeutils.utcnow()`, the clock
every one of these purges computes its cutoff from (oslo's own test hook). The parity harness pins
the database server's clock for tokenflush to the same instant, so that both sides cut at the same
second and rows placed exactly at the cutoff say which side uses `<` and which `<=`.

keystone-revocation-prune is not a command of Keystone's: Keystone prunes revocation_event only
inside Revoke.revoke(), after inserting the new event. This calls that same method,
keystone.revoke.backends.sql.Revoke._prune_expired_events(), on its own, with keystone.conf read as
keystone-manage reads it, so the new event's INSERT does not end up in the comparison.

The exit status is the entry point's.
"""

import datetime
import sys


def main():
    args = sys.argv[1:]
    if len(args) < 3 or args[0] != "--now":
        sys.exit(__doc__)
    now = datetime.datetime.strptime(args[1], "%Y-%m-%d %H:%M:%S")
    script, rest = args[2], args[3:]

    from oslo_utils import timeutils

    timeutils.set_time_override(now)

    if script == "keystone-revocation-prune":
        return keystone_revocation_prune(rest)

    from importlib.metadata import entry_points

    found = [e for e in entry_points(group="console_scripts") if e.name == script]
    if not found:
        sys.exit(f"official.py: no console script {script} in this virtualenv")
    sys.argv = [script] + rest
    return found[0].load()()


def keystone_revocation_prune(rest):
    import keystone.conf
    from keystone.common import sql
    from keystone.revoke.backends import sql as revoke_sql

    conf = keystone.conf.CONF
    # As keystone-manage's main() does, less its CLI sub-commands.
    keystone.conf.configure()
    sql.initialize()
    conf(args=rest, project="keystone")
    revoke_sql.Revoke()._prune_expired_events()
    return 0


if __name__ == "__main__":
    rc = main()
    sys.exit(rc if isinstance(rc, int) else 0)
