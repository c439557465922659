"""Fill a freshly migrated OpenStack database for the parity tests (run with the service's venv).

    VENV/bin/python tests/parity/fill.py SERVICE --url URL --now 'Y-m-d H:M:S' --cutoff 'Y-m-d H:M:S'
                                         [--scenario NAME]

SERVICE is keystone, nova, cinder, glance or aodh; the database at URL has just been through the
service's own migrations. NOW is the instant both sides' clocks are pinned to, CUTOFF the instant
the official purge will cut at (the harness computes it from the command's options). Every row is
placed relative to them, deterministically (a fixed seed), so that two runs fill the same rows.

What goes in, for each purged table: rows well past the cutoff, rows one tick before it, exactly at
it and one tick after it (a second for DATETIME, a microsecond for DATETIME(6) and Keystone's
epoch-microsecond columns), rows after it, NULL dates, soft-deleted and live rows, rows whose
deleted flag and deleted_at disagree, and parents with and without children. Keystone's rows go
through Keystone's own models (TrustModel's expires_at setter writes expires_at and
expires_at_int as create_trust does; RevocationEvent as revoke() does); the other services' rows are
generated from the reflected tables, with the values the services themselves write for a soft
delete (cinder and glance: deleted=1 and deleted_at; nova: deleted=id), and foreign keys pointing at
real parent rows. Tables the purge does not touch get rows too, so that a purge that strays shows.

Prints one line per table: `table rows`.
"""

import argparse
import datetime as dt
import random
import sys

import sqlalchemy as sa

SEC = dt.timedelta(seconds=1)
US = dt.timedelta(microseconds=1)
DAY = dt.timedelta(days=1)


def parse_time(s):
    return dt.datetime.strptime(s, "%Y-%m-%d %H:%M:%S")


# ---------------------------------------------------------------------------------------------
# Generic rows from a reflected table.


def is_bool(t):
    return isinstance(t, sa.Boolean) or (
        type(t).__name__ == "TINYINT" and getattr(t, "display_width", None) == 1
    )


def value_for(col, i, now):
    """A plausible non-NULL value for column `col` of row number `i` (unique per row)."""
    t = col.type
    name = type(t).__name__.upper()
    if isinstance(t, sa.Enum) or name in ("ENUM", "SET"):
        return t.enums[0]
    if is_bool(t):
        return False
    if name == "TINYINT":
        return i % 100
    if isinstance(t, sa.Integer):
        return i
    if isinstance(t, (sa.Float, sa.Numeric)):
        return i + 0.5
    if isinstance(t, sa.DateTime):
        return now - 40 * DAY + i * SEC
    if isinstance(t, sa.Date):
        return (now - 40 * DAY).date()
    if isinstance(t, sa.Time):
        return dt.time(12, 0)
    if isinstance(t, (sa.LargeBinary,)) or name in ("BLOB", "VARBINARY", "BINARY", "MEDIUMBLOB", "LONGBLOB"):
        return b"x%d" % i
    if name == "JSON":
        return "{}"
    if isinstance(t, sa.String):
        n = getattr(t, "length", None) or 64
        return (f"{i:06d}-{col.table.name}-{col.name}")[:n]
    return None


class Filler:
    """Inserts generated rows table by table, remembering each row's key and whether the purge
    under test should take it, so that children can point at parents consistently."""

    def __init__(self, engine, now, seed):
        self.engine = engine
        self.now = now
        self.rnd = random.Random(seed)
        self.meta = sa.MetaData()
        self.meta.reflect(engine)
        self.rows = {}  # table name -> list of (row dict, purgeable)
        self.next_id = {}
        # Migrations seed some tables (cinder's default quota classes): number after them.
        with engine.connect() as c:
            for t in self.meta.sorted_tables:
                pk = list(t.primary_key.columns)
                if len(pk) == 1 and isinstance(pk[0].type, sa.Integer):
                    self.next_id[t.name] = c.execute(sa.select(sa.func.max(pk[0]))).scalar() or 0

    def new_id(self, table):
        self.next_id[table] = self.next_id.get(table, 0) + 1
        return self.next_id[table]

    def base_row(self, table):
        i = self.new_id(table.name)
        row = {}
        for c in table.columns:
            if c.nullable and not c.primary_key and self.rnd.random() < 0.25:
                row[c.name] = None
            else:
                row[c.name] = value_for(c, i, self.now)
        return row, i

    def point_at_parents(self, table, row, purgeable, self_parents=None):
        """Sets every foreign key of `row`. A row the purge keeps never points at a parent the
        purge takes (the service itself cannot leave such a row behind without the purge
        failing); a row the purge takes may point at any parent."""
        for fk in table.foreign_key_constraints:
            parent = fk.referred_table
            if parent.name == table.name:
                pool = self_parents or []
            else:
                pool = self.rows.get(parent.name, [])
            if not purgeable:
                pool = [p for p in pool if not p[1]]
            nullable = all(c.nullable for c in fk.columns)
            if not pool or (nullable and self.rnd.random() < 0.2) or parent.name == table.name and self_parents is None:
                if nullable:
                    for c in fk.columns:
                        row[c.name] = None
                    continue
                if not pool:
                    raise SystemExit(f"fill: no parent in {parent.name} for {table.name}")
            p = self.rnd.choice(pool)[0]
            for c, e in zip(fk.columns, fk.elements):
                row[c.name] = p[e.column.name]

    def insert(self, table, rows):
        if rows:
            with self.engine.begin() as conn:
                conn.execute(table.insert(), [r for r, _ in rows])
        self.rows.setdefault(table.name, []).extend(rows)


# Soft-delete kinds: (name, deleted flag set, deleted_at relative to the cutoff or None).
SOFT_KINDS = [
    ("live", False, None),
    ("old", True, -10 * DAY),
    ("tick_before", True, -SEC),
    ("at_cutoff", True, dt.timedelta(0)),
    ("tick_after", True, SEC),
    ("recent", True, DAY),
    ("deleted_no_date", True, None),
    ("flag_off_old", False, -10 * DAY),
    ("flag_off_recent", False, DAY),
]


def soft_delete_fill(f, cutoff, table_order, purgeable_rule, deleted_value, per_kind=2, extra_old=None, skip=()):
    """Soft-delete-shaped rows in every table of `table_order` (parents before children)."""
    extra_old = extra_old or {}
    for name in table_order:
        if name in skip or name == "alembic_version":
            continue
        table = f.meta.tables[name]
        has_deleted = "deleted" in table.c and "deleted_at" in table.c
        selfref = any(fk.referred_table.name == name for fk in table.foreign_key_constraints)
        plan = []
        if has_deleted:
            for kind, flag, offset in SOFT_KINDS:
                plan += [(kind, flag, offset)] * per_kind
            plan += [("old", True, -10 * DAY)] * extra_old.get(name, 0)
        else:
            plan = [("plain", False, None)] * (per_kind * 3)
        rows = []
        # A table that references itself: the first half are parents (NULL key), the rest
        # children of those.
        parents = []
        for n, (kind, flag, offset) in enumerate(plan):
            row, i = f.base_row(table)
            if has_deleted:
                row["deleted"] = deleted_value(table, row, i) if flag else 0
                row["deleted_at"] = None if offset is None else cutoff + offset - (i * SEC if kind == "old" else dt.timedelta(0))
            purgeable = has_deleted and purgeable_rule(row, cutoff)
            if selfref:
                half = n >= len(plan) // 2
                f.point_at_parents(table, row, purgeable, self_parents=parents if half else None)
            else:
                f.point_at_parents(table, row, purgeable)
            rows.append((row, purgeable))
            if selfref and n < len(plan) // 2:
                parents.append((row, purgeable))
        f.insert(table, rows)


# ---------------------------------------------------------------------------------------------
# Per service.


def fill_cinder(f, now, cutoff, scenario):
    def purgeable(row, c):
        return bool(row["deleted"]) and row["deleted_at"] is not None and row["deleted_at"] < c

    order = [t.name for t in f.meta.sorted_tables]
    soft_delete_fill(f, cutoff, order, purgeable, lambda t, r, i: 1)
    if scenario == "blocked":
        # A live attachment of a volume the purge takes: cinder's one transaction then fails on
        # the foreign key and purges nothing at all.
        vols = [r for r, p in f.rows["volumes"] if p]
        att = f.meta.tables["volume_attachment"]
        row, _ = f.base_row(att)
        row.update(deleted=0, deleted_at=None, volume_id=vols[0]["id"])
        f.insert(att, [(row, False)])


def fill_glance(f, now, cutoff, scenario):
    def purgeable(row, c):
        return row["deleted_at"] is not None and row["deleted_at"] < c

    order = [t.name for t in f.meta.sorted_tables]
    # More rows past the cutoff than one run's max_rows (100) in two tables, and in images,
    # which db purge never touches.
    soft_delete_fill(f, cutoff, order, purgeable, lambda t, r, i: 1,
                     extra_old={"image_properties": 150, "images": 120, "tasks": 110},
                     skip=("task_info",))
    # task_info: one row for most tasks (its primary key is task_id); it has no deleted column
    # and goes with its task.
    ti = f.meta.tables["task_info"]
    rows = []
    for task, p in f.rows["tasks"]:
        if f.rnd.random() < 0.85:
            row, _ = f.base_row(ti)
            row["task_id"] = task["id"]
            rows.append((row, p))
    f.insert(ti, rows)


def fill_nova(f, now, cutoff, scenario):
    overrides = {
        "shadow_instance_actions": "created_at",
        "shadow_instance_actions_events": "created_at",
        "shadow_task_log": "updated_at",
    }
    offsets = [-10 * DAY, -SEC, dt.timedelta(0), SEC, DAY, None]
    for table in f.meta.sorted_tables:
        name = table.name
        rows = []
        if not name.startswith("shadow_"):
            continue  # the main tables: db purge reads only shadow_*; they stay empty
        cols = [c for c in ("deleted_at", "updated_at", "created_at") if c in table.c]
        if not cols:
            for _ in range(3):  # shadow_alembic_version: no date at all, never purged with --before
                row, _ = f.base_row(table)
                rows.append((row, False))
            f.insert(table, rows)
            continue
        dating = overrides.get(name) or cols[0]
        # Every offset of the dating column, each with other date columns old, recent or NULL,
        # so that a purge reading the wrong column shows.
        for off in offsets:
            for other in (-10 * DAY, DAY, None):
                row, i = f.base_row(table)
                for c in cols:
                    row[c] = None if other is None else cutoff + other - i * SEC
                row[dating] = None if off is None else cutoff + off - (i * SEC if off == -10 * DAY else dt.timedelta(0))
                if "deleted" in table.c:
                    dtype = table.c.deleted.type
                    if name in ("shadow_instance_actions", "shadow_instance_actions_events", "shadow_task_log"):
                        row["deleted"] = 0  # archived with their instance, never soft-deleted
                        row["deleted_at"] = None if dating != "deleted_at" else row["deleted_at"]
                    elif is_bool(dtype):
                        row["deleted"] = True
                    elif isinstance(dtype, sa.Integer):
                        row["deleted"] = row.get("id", i) or i  # SoftDeleteMixin: deleted = id
                    else:
                        row["deleted"] = str(row.get("id", i))
                rows.append((row, row[dating] is not None and row[dating] < cutoff))
        f.insert(table, rows)


def fill_aodh(f, now, cutoff, scenario):
    alarm = f.meta.tables["alarm"]
    rows = []
    for _ in range(6):
        row, _ = f.base_row(alarm)
        rows.append((row, False))
    f.insert(alarm, rows)
    for name in ("quota", "alarm_counter"):
        if name in f.meta.tables:
            t = f.meta.tables[name]
            rs = []
            for _ in range(4):
                row, _ = f.base_row(t)
                f.point_at_parents(t, row, False)
                rs.append((row, False))
            f.insert(t, rs)
    hist = f.meta.tables["alarm_history"]
    offsets = [-7 * DAY] * 240 + [-US, dt.timedelta(0), US, -SEC, SEC, DAY, None, None]
    rows = []
    for n, off in enumerate(offsets):
        row, i = f.base_row(hist)
        row["timestamp"] = None if off is None else cutoff + off - (i * US if n < 240 else dt.timedelta(0))
        f.point_at_parents(hist, row, False)
        rows.append((row, row["timestamp"] is not None and row["timestamp"] < cutoff))
    f.insert(hist, rows)


def fill_keystone(engine, now, cutoff, scenario):
    """trust and trust_role through Keystone's TrustModel/TrustRole; revocation_event through
    RevocationEvent. Keystone's own models bind values as Keystone writes them."""
    from sqlalchemy.orm import Session

    from keystone.revoke.backends.sql import RevocationEvent
    from keystone.trust.backends.sql import TrustModel, TrustRole

    counts = {}
    with Session(engine) as s:
        n = 0

        def trust(kind, expires, deleted_at=None, int_override=None, dt_override=None, roles=2):
            nonlocal n
            n += 1
            tid = f"{n:04d}-{kind}"[:64]
            t = TrustModel(
                id=tid,
                trustor_user_id=f"trustor-{n}",
                trustee_user_id=f"trustee-{n}",
                project_id=f"project-{n % 7}",
                impersonation=bool(n % 2),
                remaining_uses=None if n % 3 else 5,
                extra="{}",
            )
            t.expires_at = expires  # the hybrid setter: expires_at and expires_at_int
            t.deleted_at = deleted_at
            s.add(t)
            s.flush()
            if int_override is not None or dt_override is not None:
                # Rows Keystone's own code no longer writes: from before Queens' backfill of
                # expires_at_int (migration 032), or edited by hand.
                vals = {}
                if int_override is not None:
                    vals["expires_at_int"] = None if int_override == "NULL" else int_override
                if dt_override is not None:
                    vals["expires_at"] = None if dt_override == "NULL" else dt_override
                s.execute(sa.update(TrustModel.__table__).where(TrustModel.__table__.c.id == tid).values(**vals))
            for r in range(roles):
                s.add(TrustRole(trust_id=tid, role_id=f"role-{r}"))

        def micros(d):
            return int((d.replace(tzinfo=dt.timezone.utc) - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) / US)

        for k in range(3):
            trust("live", now + DAY + k * SEC)
            trust("never", None)
            trust("old", now - 10 * DAY - k * SEC)
        trust("us_before", now - US)
        trust("half_sec_before", now - dt.timedelta(milliseconds=500))
        trust("at_cutoff", now)
        trust("us_after", now + US)
        trust("sec_after", now + SEC)
        trust("legacy_no_int_old", now - 10 * DAY, int_override="NULL")
        trust("legacy_no_int_future", now + DAY, int_override="NULL")
        trust("int_only_old", now - 10 * DAY, dt_override="NULL")
        trust("int_only_future", now + DAY, dt_override="NULL")
        trust("int_future_dt_old", now + DAY, dt_override=now - 10 * DAY)
        trust("int_old_dt_future", now - 10 * DAY, dt_override=now + DAY)
        trust("deleted_live", now + DAY, deleted_at=now - DAY)
        trust("deleted_never", None, deleted_at=now - 10 * DAY)
        trust("deleted_future_stamp", now + DAY, deleted_at=now + 3600 * SEC)
        trust("deleted_old", now - 10 * DAY, deleted_at=now - 9 * DAY)
        trust("no_roles_old", now - 10 * DAY, roles=0)
        trust("no_roles_live", now + DAY, roles=0)
        for k in range(150):  # a backlog of more than one chunk
            trust("bulk_old", now - 20 * DAY - k * SEC, roles=1)
        # trust_role rows whose trust is gone already (deleted by an earlier trust_flush).
        for k in range(4):
            s.add(TrustRole(trust_id=f"gone-{k}", role_id="role-0"))

        # revocation_event: revoke() sets revoked_at to utcnow() without microseconds.
        rev_cut = cutoff
        m = 0
        for off in [-10 * DAY] * 120 + [-SEC, dt.timedelta(0), SEC, 60 * SEC, 3600 * SEC]:
            m += 1
            at = rev_cut + off - (m * SEC if off == -10 * DAY else dt.timedelta(0))
            s.add(RevocationEvent(
                id=m, user_id=f"user-{m}" if m % 2 else None, project_id=f"project-{m % 5}",
                audit_id=f"audit-{m}"[:32] if m % 3 == 0 else None,
                issued_before=at, revoked_at=at, expires_at=None if m % 4 else at + DAY,
            ))
        s.commit()
    with engine.connect() as c:
        for t in ("trust", "trust_role", "revocation_event"):
            counts[t] = c.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar()
    return counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("service")
    ap.add_argument("--url", required=True)
    ap.add_argument("--now", required=True, type=parse_time)
    ap.add_argument("--cutoff", required=True, type=parse_time)
    ap.add_argument("--revocation-cutoff", type=parse_time)
    ap.add_argument("--scenario", default="default")
    a = ap.parse_args()
    engine = sa.create_engine(a.url)
    if a.service == "keystone":
        counts = fill_keystone(engine, a.now, a.revocation_cutoff or a.cutoff, a.scenario)
    else:
        f = Filler(engine, a.now, seed=12)
        {"cinder": fill_cinder, "glance": fill_glance, "nova": fill_nova, "aodh": fill_aodh}[a.service](
            f, a.now, a.cutoff, a.scenario)
        counts = {t: len(r) for t, r in f.rows.items()}
    for t in sorted(counts):
        print(t, counts[t])


if __name__ == "__main__":
    sys.exit(main())
