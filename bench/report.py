#!/usr/bin/env python3
"""Helpers for scripts/bench.sh; standard library only.

  report.py moncost --runs N --out JSON --tokenflush BIN --url URL --state-dir DIR
                    --dummy AGENT --dummy-state FILE
  report.py pages IBD --out JSON [--against JSON]
  report.py report --prefix PREFIX --summary FILE.md [--seconds S] REGIME_DIR...

`pages` reads an InnoDB tablespace file page by page: how many pages each index has, how full its
leaf pages are, and a digest of the page layout (every page's number and type, and for index pages
the level, record count, heap top and garbage), so that two files can be told to have the same
layout. `report` writes, for each regime directory, <prefix>-<regime>-<pool>.md/.svg/.json, and the
summary of the targets over all of them.
"""
import argparse
import glob
import hashlib
import json
import os
import statistics
import struct
import subprocess
import sys
import time

# Fallback colours for methods the palette does not name.
PALETTE = ["#17becf", "#bcbd22", "#e377c2", "#8c564b", "#7f7f7f", "#aec7e8", "#ffbb78"]
COLORS = {
    "single": "#d62728", "keystone-juno": "#8c564b", "keystone-offset": "#ff7f0e",
    "limit-loop": "#9467bd", "pt-archiver": "#7f7f7f", "pt-archiver-bulk": "#1f77b4",
    "pt-archiver-optimize": "#17becf", "tokenflush": "#2ca02c", "tokenflush-expiry": "#98df8a",
    "tokenflush-pk": "#bcbd22", "tokenflush-delete": "#006d2c", "tokenflush-rebuild": "#e377c2",
    "tokenflush-auto": "#00441b",
}
BATCH_SIZE = 1000          # tokenflush's default batch_size, which the steady-state target names
STALL_LIMIT_MS = 50.0      # the live-load target: no stall over 50 ms
# Keystone's token indexes in the order db_sync creates them (so, in index-id order).
INDEX_NAMES = ["PRIMARY", "ix_token_expires", "ix_token_expires_valid", "ix_token_user_id", "ix_token_trust_id"]

# ----------------------------------------------------------------------------- monitor cost

def timed_run(argv, env):
    """Wall time (s) and exit code of one child process."""
    t = time.perf_counter()
    rc = subprocess.call(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    return time.perf_counter() - t, None, rc


def rss_run(argv, env):
    """Peak RSS (KiB) of one run, from GNU time. Not from wait4() here: a child forked from this
    Python process keeps the parent's RSS as its ru_maxrss high-water mark across exec."""
    import tempfile
    with tempfile.NamedTemporaryFile("r") as f:
        subprocess.call(["/usr/bin/time", "-f", "%M", "-o", f.name] + argv, env=env,
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return int(f.read().split()[-1])


def summarize(samples, rss):
    walls = sorted(s[0] for s in samples)
    rcs = sorted({s[2] for s in samples})
    return {
        "runs": len(samples),
        "median_ms": round(statistics.median(walls) * 1000, 2),
        "p90_ms": round(walls[int(0.9 * (len(walls) - 1))] * 1000, 2),
        "min_ms": round(walls[0] * 1000, 2),
        "max_ms": round(walls[-1] * 1000, 2),
        "peak_rss_kb": max(rss),
        "median_rss_kb": int(statistics.median(rss)),
        "rss_runs": len(rss),
        "exit_codes": rcs,
    }


def cmd_moncost(a):
    base = dict(os.environ)
    base.update({
        "OCF_ROOT": "/usr/lib/ocf",
        "OCF_RESOURCE_INSTANCE": "bench",
        "OCF_RESKEY_CRM_meta_interval": "10000",
        "OCF_RESKEY_CRM_meta_timeout": "20000",
    })
    tf_env = dict(base, OCF_RESKEY_connection=a.url, OCF_RESKEY_state_dir=a.state_dir)
    du_env = dict(base, OCF_RESKEY_state=a.dummy_state)
    res = {}
    res["tokenflush_start"] = timed_run([a.tokenflush, "start"], tf_env)
    # The first monitor after start runs the first flush (the interval has not been counted yet);
    # from then on the 600 s default interval means no flush is due.
    res["tokenflush_first_monitor"] = timed_run([a.tokenflush, "monitor"], tf_env)
    res["dummy_start"] = timed_run([a.dummy, "start"], du_env)
    tf, du = [], []
    for _ in range(a.runs):  # interleaved, so both see the same background noise
        tf.append(timed_run([a.tokenflush, "monitor"], tf_env))
        du.append(timed_run([a.dummy, "monitor"], du_env))
    tf_rss, du_rss = [], []
    for _ in range(max(5, a.runs // 5)):  # peak RSS in separate runs, through /usr/bin/time
        tf_rss.append(rss_run([a.tokenflush, "monitor"], tf_env))
        du_rss.append(rss_run([a.dummy, "monitor"], du_env))
    timed_run([a.tokenflush, "stop"], tf_env)
    timed_run([a.dummy, "stop"], du_env)
    out = {"tokenflush": summarize(tf, tf_rss), "dummy": summarize(du, du_rss),
           "tokenflush_start": res["tokenflush_start"],
           "tokenflush_first_monitor": res["tokenflush_first_monitor"],
           "dummy_start": res["dummy_start"]}
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps(out), file=sys.stderr)


# ----------------------------------------------------------------------------- page layout

PAGE = 16384
FIL_PAGE_INDEX = 17855
PAGE_DATA_END = 120        # PAGE_NEW_SUPREMUM_END: where a compact page's user records start
PAGE_ROOM = PAGE - PAGE_DATA_END - 8


def scan_pages(path):
    """Per index (in index-id order): pages, leaf pages, levels, records in leaf pages, and the
    leaf pages' fill (record heap bytes, less garbage, over the page's room); and the digest of
    the layout: every page's number and type, and for index pages their index (by rank), level,
    record count, heap top, heap records and garbage. The index ids and the LSNs, which an
    import rewrites, are left out of the digest."""
    per, types = {}, {}
    h = hashlib.sha256()
    n = 0
    size = os.path.getsize(path)
    rows = []
    with open(path, "rb") as f:
        while True:
            p = f.read(PAGE)
            if len(p) < PAGE:
                break
            ptype = struct.unpack_from(">H", p, 24)[0]
            types[ptype] = types.get(ptype, 0) + 1
            if ptype == FIL_PAGE_INDEX:
                heap_top, n_heap, _free, garbage = struct.unpack_from(">HHHH", p, 40)
                n_recs = struct.unpack_from(">H", p, 54)[0]
                level = struct.unpack_from(">H", p, 64)[0]
                index_id = struct.unpack_from(">Q", p, 66)[0]
                st = per.setdefault(index_id, {"pages": 0, "leaf_pages": 0, "levels": 0, "records": 0, "used": 0})
                st["pages"] += 1
                st["levels"] = max(st["levels"], level + 1)
                if level == 0:
                    st["leaf_pages"] += 1
                    st["records"] += n_recs
                    st["used"] += max(0, heap_top - PAGE_DATA_END - garbage)
                rows.append((n, ptype, index_id, level, n_recs, heap_top, n_heap & 0x7FFF, garbage))
            else:
                rows.append((n, ptype, 0, 0, 0, 0, 0, 0))
            n += 1
    rank = {iid: i for i, iid in enumerate(sorted(per))}
    for (pn, pt, iid, lvl, nr, ht, nh, g) in rows:
        h.update(struct.pack(">IHHHHHHH", pn, pt, rank.get(iid, 0xFFFF) if pt == FIL_PAGE_INDEX else 0, lvl, nr, ht, nh, g))
    indexes = []
    for iid in sorted(per):
        st = per[iid]
        r = rank[iid]
        indexes.append({
            "name": INDEX_NAMES[r] if r < len(INDEX_NAMES) else "index %d" % r,
            "pages": st["pages"], "leaf_pages": st["leaf_pages"], "levels": st["levels"],
            "records": st["records"],
            "leaf_fill": round(st["used"] / max(1, st["leaf_pages"]) / PAGE_ROOM, 4),
        })
    return {"file_bytes": size, "pages": n, "page_types": {str(k): v for k, v in sorted(types.items())},
            "indexes": indexes, "layout_sha256": h.hexdigest()}


def cmd_pages(a):
    res = scan_pages(a.ibd)
    if a.against:
        ref = json.load(open(a.against))
        res["against_sha256"] = ref["layout_sha256"]
        res["same_layout"] = (ref["layout_sha256"] == res["layout_sha256"] and ref["file_bytes"] == res["file_bytes"])
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)


# ----------------------------------------------------------------------------- reading a run

def read_status(path):
    d = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("\t")
                try:
                    d[k] = float(v)
                except ValueError:
                    pass
    except OSError:
        pass
    return d


def delta(a, b, k):
    return b.get(k, 0) - a.get(k, 0)


def read_tsv(path):
    try:
        with open(path) as f:
            return [line.rstrip("\n").split("\t") for line in f if line.strip()]
    except OSError:
        return []


def read_sizes(path):
    """`ibd_bytes data_length index_length data_free` (scripts/bench.sh table_sizes)."""
    t = read_tsv(path)
    if not t or len(t[0]) < 4:
        return None
    try:
        ibd, dl, il, df = (int(float(x)) for x in t[0][:4])
    except ValueError:
        return None
    return {"ibd": ibd, "data": dl, "index": il, "free": df}


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def max_rows_per_trx(prefix):
    """Exact largest number of rows changed by one transaction, from performance_schema.

    A transaction event's NESTING_EVENT_ID is the statement that started it; statements that run
    inside it have NESTING_EVENT_TYPE = TRANSACTION and NESTING_EVENT_ID = the transaction.
    Also the server time of each transaction's row-changing statements (a chunk's cost)."""
    stmts = read_tsv(prefix + ".ps_stmt.tsv")
    trxs = read_tsv(prefix + ".ps_trx.tsv")
    started_by = {}
    for t in trxs:
        thread, ev, nest = t[0], t[1], t[2]
        started_by[(thread, nest)] = (thread, ev)
    totals, timing = {}, {}
    max_stmt = 0
    for s in stmts:
        thread, ev, nest, ntype, rows = s[0], s[1], s[2], s[3], int(s[4])
        max_stmt = max(max_stmt, rows)
        if ntype == "TRANSACTION":
            key = (thread, nest)
        else:
            key = started_by.get((thread, ev), ("stmt", thread, ev))
        totals[key] = totals.get(key, 0) + rows
        if len(s) >= 8:
            st, wait, exam = int(s[5]), int(s[6]), int(s[7])
            t = timing.setdefault(key, [st, 0, 0])
            t[0] = min(t[0], st)
            t[1] += wait
            t[2] += exam
    cnt = read_tsv(prefix + ".ps_count.tsv")
    overflow = bool(cnt) and int(cnt[0][0]) >= int(cnt[0][1])
    res = {
        "max_rows_per_trx": max(totals.values()) if totals else 0,
        "max_rows_per_stmt": max_stmt,
        "delete_statements": len(stmts),
        "transactions_with_deletes": sum(1 for v in totals.values() if v > 0),
        "history_overflow": overflow,
    }
    chunks = sorted((timing[k][0], timing[k][1] / 1e9, totals[k]) for k in timing if totals.get(k, 0) > 0)
    if len(chunks) >= 2:
        ms = sorted(c[1] for c in chunks)
        tenth = max(1, len(chunks) // 10)
        res["chunk_ms"] = {
            "median": statistics.median(ms), "p90": pct(ms, 90), "max": ms[-1],
            "first10": statistics.median([c[1] for c in chunks[:tenth]]),
            "last10": statistics.median([c[1] for c in chunks[-tenth:]]),
            "series": [round(c[1], 2) for c in chunks] if len(chunks) <= 2000 else [],
        }
    return res


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * (len(sorted_vals) - 1)))))
    return sorted_vals[i]


def read_load(path):
    """(completion epoch s, op, latency ms, service ms, ok), sorted by completion."""
    ops = []
    try:
        with open(path) as f:
            next(f)
            for line in f:
                e, conn, op, lat, svc, ok = line.rstrip("\n").split(",")
                ops.append((int(e) / 1e6, op, int(lat) / 1000.0, int(svc) / 1000.0, ok == "1"))
    except (OSError, StopIteration):
        pass
    ops.sort(key=lambda o: o[0])
    return ops


def lat_stats(ops, lo, hi):
    """Latency of the operations that completed in [lo, hi), and the stalls: the slowest single
    operation (from the moment it was due) and the longest time in which no connection completed
    anything (between consecutive completions over all connections, bounded by the last
    completion before lo and the first at or after hi)."""
    inside = [o for o in ops if lo <= o[0] < hi]
    v = sorted(o[2] for o in inside)
    err = sum(1 for o in inside if not o[4])
    times = [o[0] for o in ops]
    before = [t for t in times if t < lo]
    after = [t for t in times if t >= hi]
    ts = ([before[-1]] if before else []) + [o[0] for o in inside] + ([after[0]] if after else [])
    gap, gap_at = 0.0, None
    for a, b in zip(ts, ts[1:]):
        if b - a > gap:
            gap, gap_at = b - a, a
    mx = v[-1] if v else float("nan")
    return {"n": len(v), "p50": pct(v, 50), "p99": pct(v, 99), "max": mx, "errors": err,
            "gap_ms": gap * 1000.0, "gap_at": gap_at,
            "stall_ms": max(mx if v else 0.0, gap * 1000.0)}


def read_sample(path):
    """(epoch s, rows deleted, history length, max trx rows, rows purged, file bytes, file inode)."""
    pts = []
    try:
        with open(path) as f:
            next(f)
            for line in f:
                v = line.rstrip("\n").split(",")
                g = lambda i: float(v[i] or 0) if len(v) > i else None
                pts.append((int(v[0]) / 1e6, g(1), g(2), g(3), g(4), g(5), g(6)))
    except (OSError, StopIteration):
        pass
    return pts


def read_time(path):
    try:
        with open(path) as f:
            parts = f.read().split()
        return int(parts[-2]), float(parts[-1])
    except (OSError, ValueError, IndexError):
        return None, None


def client_json(path):
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    return json.loads(line)
    except (OSError, ValueError):
        pass
    return None


def pt_stats(path):
    """The Action/Count/Time table that pt-archiver --statistics prints."""
    out, on = [], False
    try:
        with open(path) as f:
            for line in f:
                w = line.split()
                if w[:1] == ["Action"]:
                    on = True
                    continue
                if on and len(w) >= 3:
                    try:
                        out.append("%s %d×, %.1f s" % (w[0], int(w[1]), float(w[2])))
                    except ValueError:
                        on = False
    except OSError:
        pass
    return "; ".join(out)


def sql_errors(path):
    """Error lines of a table-maintenance statement's result (OPTIMIZE TABLE reports failures as
    rows with Msg_type error, and the client still exits 0)."""
    try:
        with open(path) as f:
            return [l.strip() for l in f if "\terror\t" in l]
    except OSError:
        return []


def space_and_swap(r):
    """When the table's file shrank to its final size, and when it was replaced.

    *Returned*: the method returned space to the file system when the table's .ibd file after the
    method (and purge) is at least 5 % smaller than before; the time is the first sample, from the
    method's start, at which the file was no larger than that final size. *Swap*: the first sample
    at which the path `keystone/token.ibd` named another inode than at the start."""
    s0, s1 = r.get("size0"), r.get("size1")
    r["returned_s"] = None
    r["swap_s"] = None
    r["swaps"] = 0
    if not s0 or not s1:
        return
    pts = [p for p in r["sample"] if p[5] is not None and p[0] >= r["t0"] - 0.05]
    if s1["ibd"] < 0.95 * s0["ibd"]:
        hit = [p for p in pts if 0 < p[5] <= s1["ibd"]]
        r["returned_s"] = max(0.0, (hit[0][0] - r["t0"]) if hit else r["commit_s"])
    ino0 = r.get("ino_before") or 0
    prev, last = None, ino0
    for p in pts:
        ino = p[6] or 0
        if ino > 0 and ino != last:
            r["swaps"] += 1
            if r["swap_s"] is None:
                r["swap_s"] = p[0] - r["t0"]
                r["swap_window"] = ((prev[0] if prev else p[0] - 0.1), p[0])
            last = ino
        prev = p
    if r["swap_s"] is None and r.get("ino_after") and ino0 and r["ino_after"] != ino0:
        r["swaps"] = 1          # replaced between two samples, or after the last one
        r["swap_s"] = r["commit_s"]
        r["swap_window"] = (r["t1"] - 0.1, r["t1"])


def load_regime(d):
    reg = read_json(os.path.join(d, "regime.json"))
    methods = [tuple(x[:3]) for x in read_tsv(os.path.join(d, "methods.tsv")) if len(x) >= 3]
    runs = {}
    for path in glob.glob(os.path.join(d, "*.run.json")):
        prefix = path[: -len(".run.json")]
        r = read_json(path)
        r["prefix"] = prefix
        r["rows"] = r["expired_before"] - r["expired_after"]
        r["commit_s"] = r["t1"] - r["t0"]
        r["purged_s"] = r["t2"] - r["t0"]
        r["mid_s"] = (r["t_mid"] - r["t0"]) if r.get("t_mid") else None
        r["rss_kb"], r["client_elapsed"] = read_time(prefix + ".time")
        r["client"] = client_json(prefix + ".out")
        errs = sql_errors(prefix + ".out")
        if errs and r["rc"] == 0:
            r["rc"], r["error"] = 1, errs[0]
        r["ps"] = max_rows_per_trx(prefix)
        s0, s1, s2 = (read_status(prefix + ".status%d" % i) for i in range(3))
        r["status"] = (s0, s1, s2)
        r["sample"] = read_sample(prefix + ".sample.csv")
        r["sampled_max_trx"] = max((p[3] or 0 for p in r["sample"]), default=0)
        r["size0"] = read_sizes(prefix + ".size0")
        r["size1"] = read_sizes(prefix + ".size1")
        r["others"] = [(x[0], int(x[1])) for x in read_tsv(prefix + ".others.tsv") if len(x) >= 2]
        space_and_swap(r)
        r["end_state_s"] = max(r["purged_s"], r["returned_s"]) if r["returned_s"] is not None else None
        if r["phase"] == "load":
            ops = read_load(prefix + ".load.csv")
            r["ops"] = ops
            r["idle"] = lat_stats(ops, r["idle_start"], r["t0"])
            r["during"] = lat_stats(ops, r["t0"], r["t1"])
            if r.get("swap_window"):
                a, b = r["swap_window"]
                r["at_swap"] = lat_stats(ops, a - 0.2, b + 1.0)
        if r["method"].startswith("pt-archiver"):
            r["pt"] = pt_stats(prefix + ".out") or pt_stats(prefix + ".err")
        runs[(r["method"], r["phase"])] = r
    known = {m for m, _, _ in methods}
    for (m, _p) in sorted(runs):
        if m not in known:
            methods.append((m, m, "run"))
            known.add(m)
    return {
        "dir": d, "reg": reg, "methods": methods, "runs": runs,
        "data": read_tsv(os.path.join(d, "data.tsv")),
        "source": read_sizes(os.path.join(d, "source.tsv")),
        "compact": read_sizes(os.path.join(d, "compact.tsv")),
        "fresh": read_sizes(os.path.join(d, "fresh.tsv")),
        "copy": read_sizes(os.path.join(d, "copy.tsv")),
        "pages": read_json(os.path.join(d, "source.pages.json")),
        "copycheck": read_json(os.path.join(d, "copycheck.json")),
        "moncost": read_json(os.path.join(d, "moncost.json")),
    }


# ----------------------------------------------------------------------------- figures and targets

def ok_run(R, m, phase):
    r = R["runs"].get((m, phase))
    return r if r and r["rc"] == 0 else None


def rate(R, m, phase, key):
    r = ok_run(R, m, phase)
    if not r or not r.get(key) or r[key] <= 0:
        return None
    return r["rows"] / r[key]


def target_method(R):
    """The tokenflush row the targets are judged on: `--strategy auto` when this build has
    strategies, else `tokenflush flush` with its defaults (today: the delete strategy, walk auto)."""
    for m in ("tokenflush-auto", "tokenflush"):
        if any(k[0] == m for k in R["runs"]):
            return m
    return None


def label_of(R, m):
    for name, label, _ in R["methods"]:
        if name == m:
            return label
    return m


def targets(R):
    """The issue's targets that apply to this regime: (target, measured, met: True/False/None)."""
    reg = R["reg"]
    name, pool = reg["regime"], reg["pool_name"]
    tm = target_method(R)
    out = []
    if not tm:
        return out
    tl = label_of(R, tm)

    def r_ratio(a, b):
        return (a / b) if a and b else None

    def add(text, value, fmt_value, ok):
        out.append({"target": text, "value": value, "shown": fmt_value, "met": ok, "method": tl})

    bulk = rate(R, "pt-archiver-bulk", "quiet", "purged_s")
    mine = rate(R, tm, "quiet", "purged_s")
    if name == "neglected" and pool == "io":
        x = r_ratio(mine, bulk)
        add("≥ 5× pt-archiver --bulk-delete, rows/s to purged", x, ratio_s(x), None if x is None else x >= 5)
        r = ok_run(R, tm, "quiet")
        if r and r["size1"] and R["fresh"]:
            x = r["size1"]["ibd"] / R["fresh"]["ibd"]
            add("table's file afterwards ≤ 1.25× a fresh copy of the rows that stayed", x,
                "%.2f× (%s of %s)" % (x, mb(r["size1"]["ibd"]), mb(R["fresh"]["ibd"])), x <= 1.25)
        else:
            add("table's file afterwards ≤ 1.25× a fresh copy of the rows that stayed", None, "–", None)
        po = ok_run(R, "pt-archiver-optimize", "quiet")
        if r and po and po["end_state_s"]:
            if r["end_state_s"]:
                x = po["end_state_s"] / r["end_state_s"]
                add("≥ 3× 'pt-archiver then OPTIMIZE TABLE' to the same end state (purged, space returned)", x,
                    "%s (%.1f s against %.1f s)" % (ratio_s(x), r["end_state_s"], po["end_state_s"]), x >= 3)
            else:
                add("≥ 3× 'pt-archiver then OPTIMIZE TABLE' to the same end state (purged, space returned)", None,
                    "never reached: the file keeps its size (%s)" % mb(r["size1"]["ibd"]) if r["size1"] else "never reached", False)
        else:
            add("≥ 3× 'pt-archiver then OPTIMIZE TABLE' to the same end state (purged, space returned)", None, "–", None)
    if name == "half" and pool == "memory":
        x = r_ratio(mine, bulk)
        add("≥ 1.5× pt-archiver --bulk-delete, rows/s to purged", x, ratio_s(x), None if x is None else x >= 1.5)
        plain = rate(R, "pt-archiver", "quiet", "purged_s")
        if plain:
            y = r_ratio(mine, plain)
            add("(for reference: × pt-archiver without --bulk-delete)", y, ratio_s(y), None)
    if name == "steady":
        single = rate(R, "single", "quiet", "purged_s")
        x = r_ratio(mine, single)
        add("≥ 1.0× the single DELETE, rows/s to purged", x, ratio_s(x), None if x is None else x >= 1.0)
        x = r_ratio(mine, bulk)
        add("≥ 1.5× pt-archiver --bulk-delete, rows/s to purged", x, ratio_s(x), None if x is None else x >= 1.5)
        mx = [ok_run(R, tm, p)["ps"]["max_rows_per_trx"] for p in ("quiet", "load") if ok_run(R, tm, p)]
        if mx:
            add("every transaction within batch_size (%d rows)" % BATCH_SIZE, max(mx), "%s rows at most" % fmt(max(mx)),
                max(mx) <= BATCH_SIZE)
    lr, lb = ok_run(R, tm, "load"), ok_run(R, "pt-archiver-bulk", "load")
    if lr:
        # The same load on the same copy just before the method: what the machine itself does to it.
        idle_st = max(lr["idle"]["stall_ms"], lb["idle"]["stall_ms"] if lb else 0.0)
        noisy = idle_st > STALL_LIMIT_MS
        if lb:
            add("under load: p99 no higher than pt-archiver --bulk-delete's", lr["during"]["p99"],
                "%s ms against %s ms (idle before them: %s and %s ms)" % (
                    fmt(lr["during"]["p99"], 1), fmt(lb["during"]["p99"], 1),
                    fmt(lr["idle"]["p99"], 1), fmt(lb["idle"]["p99"], 1)),
                lr["during"]["p99"] <= lb["during"]["p99"])
            out[-1]["noisy"] = noisy
        st = lr["during"]["stall_ms"]
        sw = lr.get("at_swap")
        shown = "longest %s ms" % fmt(st, 1) + ((", at the swap %s ms" % fmt(sw["stall_ms"], 1)) if sw else "") + \
            " (idle window before it: %s ms)" % fmt(lr["idle"]["stall_ms"], 1)
        add("under load: no stall over %d ms, including at a swap" % STALL_LIMIT_MS, st, shown, st <= STALL_LIMIT_MS)
        out[-1]["noisy"] = noisy
        if lb:
            x = r_ratio(rate(R, tm, "load", "commit_s"), rate(R, "pt-archiver-bulk", "load", "commit_s"))
            add("under load: ≥ 1.5× pt-archiver --bulk-delete's rows/s", x, ratio_s(x), None if x is None else x >= 1.5)
    return out


# ----------------------------------------------------------------------------- Markdown

def fmt(x, nd=0):
    if x is None or x != x:
        return "–"
    if nd == 0:
        return "{:,}".format(int(round(x))).replace(",", " ")
    return ("{:.%df}" % nd).format(x)


def mb(b):
    return "–" if b is None else "%.0f MB" % (b / 1048576.0) if b >= 10 * 1048576 else "%.1f MB" % (b / 1048576.0)


def ratio(a, b):
    if not a or not b:
        return "–"
    return "%.2f×" % (a / b)


def ratio_s(x):
    return "–" if x is None else "%.2f×" % x


def secs(x):
    return "–" if x is None else "%.2f s" % x


def met_s(ok, noisy=False):
    s = {True: "**met**", False: "not met", None: "–"}[ok]
    if noisy:
        s += " (noisy: the idle window already stalled over %d ms)" % STALL_LIMIT_MS
    return s


def regime_title(reg):
    names = {"steady": "steady state", "half": "half expired", "neglected": "neglected table"}
    pools = {"memory": "in memory", "io": "I/O-bound"}
    return "%s (%s ‰ expired), %s" % (names.get(reg["regime"], reg["regime"]), reg["expired_permille"],
                                      pools.get(reg["pool_name"], reg["pool_name"]))


def write_md(R, md_path, svg_path):
    reg, runs = R["reg"], R["runs"]
    L = []
    L.append("## Flush benchmark, %s: %s rows, buffer pool %s%s" % (
        regime_title(reg), fmt(reg["rows"]), reg["pool"], " (quick)" if reg.get("quick") else ""))
    L.append("")
    L.append("Run %s on %s (repository at git %s; tokenflush binary: %s, sha256 %s…; `--strategy`: %s), 2 cores, "
             "`innodb_flush_log_at_trx_commit=2`, `innodb_doublewrite=0`, `innodb_flush_method=O_DIRECT` (the default), "
             "512M redo log, performance_schema on for the methods' sessions. Single runs on a shared 2-core machine: "
             "expect ±10–20 %% between runs." % (
                 reg["date"], reg["version"], reg["git"], reg.get("tokenflush_rev", "?"),
                 reg.get("tokenflush_sha256", "?"), "yes" if reg.get("strategy") else "not in this build"))
    L.append("")
    if R["data"]:
        x = R["data"][0]
        L.append("**The table**, built production-style (rows inserted in expiry order with random 32-hex ids, "
                 "100 rows per autocommit INSERT) in %.0f s: %s rows, %s expired, %s tokens per expiry second, "
                 "`extra` ≈ %s bytes. Every run gets a byte copy of it (transportable tablespace)." % (
                     reg["build_seconds"], fmt(float(x[0])), fmt(float(x[1])), x[3], x[2]))
        L.append("")
    src, cmp_, fr = R["source"], R["compact"], R["fresh"]
    if src:
        L.append("| | `.ibd` file | DATA_LENGTH | INDEX_LENGTH | DATA_FREE |")
        L.append("|---|---|---|---|---|")
        for lab, s in (("production-shaped source (each copy)", src), ("the same rows freshly built (OPTIMIZE)", cmp_),
                       ("fresh copy of the rows that stay", fr)):
            if s:
                L.append("| %s | %s | %s | %s | %s |" % (lab, mb(s["ibd"]), mb(s["data"]), mb(s["index"]), mb(s["free"])))
        L.append("")
        if cmp_:
            L.append("Fragmentation: the source's clustered index takes %.2f× the pages of a fresh build of the same "
                     "rows, its file %.2f× the bytes." % (src["data"] / max(1, cmp_["data"]), src["ibd"] / max(1, cmp_["ibd"])))
    pg = R["pages"]
    if pg:
        L.append("Leaf pages of the source, by index (from the file itself, `report.py pages`): " + "; ".join(
            "%s %s pages, %.0f %% full" % (i["name"], fmt(i["leaf_pages"]), 100 * i["leaf_fill"]) for i in pg["indexes"]) + ".")
    cc = R["copycheck"]
    if cc:
        same = cc.get("same_layout")
        sizes_same = R["copy"] and src and all(R["copy"][k] == src[k] for k in ("ibd", "data", "index", "free"))
        L.append("Copy check (the first copy of this server, exported again and read page by page): %s, "
                 "layout digest %s…; DATA_LENGTH, INDEX_LENGTH and DATA_FREE %s." % (
                     "**identical page layout**" if same else "**LAYOUT DIFFERS from the source**",
                     cc["layout_sha256"][:12], "equal to the source's" if sizes_same else "DIFFER from the source's"))
    L.append("")

    methods = R["methods"]
    single_p = rate(R, "single", "quiet", "purged_s")
    bulk_p = rate(R, "pt-archiver-bulk", "quiet", "purged_s")
    fresh_b = fr["ibd"] if fr else None
    L.append("### Without load: time, space")
    L.append("")
    L.append("| method | rows deleted | to commit | to purged | **rows/s to purged** | × single DELETE | "
             "× pt-archiver --bulk-delete | space returned at | purged and returned at | `.ibd` before → after | "
             "DATA+INDEX before → after | DATA_FREE after | file after / fresh copy | max rows in one trx | client peak RSS |")
    L.append("|" + "---|" * 15)
    for m, label, status in methods:
        if status != "run":
            L.append("| %s | %s |%s" % (label, status, " |" * 13))
            continue
        r = runs.get((m, "quiet"))
        if not r:
            continue
        if r["rc"] != 0:
            L.append("| %s | failed (exit %d%s) |%s" % (label, r["rc"], (": " + r["error"][:60]) if r.get("error") else "", " |" * 13))
            continue
        rp = r["rows"] / r["purged_s"] if r["purged_s"] > 0 else None
        ps = r["ps"]
        if r.get("client") and r["client"].get("walk"):
            label += " (walk: %s)" % r["client"]["walk"]
        if r.get("client") and r["client"].get("strategy"):
            label += " (strategy: %s)" % r["client"]["strategy"]
        mx = fmt(ps["max_rows_per_trx"]) + (" (≥, history full)" if ps["history_overflow"] else "")
        s0, s1 = r["size0"] or {}, r["size1"] or {}
        commit = secs(r["commit_s"])
        if r.get("mid_s"):
            commit = "%s (pt-archiver %.2f s)" % (commit, r["mid_s"])
        others = sum(b for _, b in r["others"])
        after = mb(s1.get("ibd")) + ((" + %s beside it" % mb(others)) if others else "")
        L.append("| %s | %s | %s | %s | **%s** | %s | %s | %s | %s | %s → %s | %s → %s | %s | %s | %s | %s |" % (
            label, fmt(r["rows"]), commit, secs(r["purged_s"]), fmt(rp), ratio(rp, single_p), ratio(rp, bulk_p),
            secs(r["returned_s"]) if r["returned_s"] is not None else "not returned",
            secs(r["end_state_s"]), mb(s0.get("ibd")), after,
            mb((s0.get("data") or 0) + (s0.get("index") or 0)), mb((s1.get("data") or 0) + (s1.get("index") or 0)),
            mb(s1.get("free")), ("%.2f×" % ((s1["ibd"] + others) / fresh_b)) if s1.get("ibd") and fresh_b else "–",
            mx, ("%.1f MB" % (r["rss_kb"] / 1024.0)) if r["rss_kb"] else "–"))
    L.append("")
    L.append("*To purged*: from the method's start until its last commit and then until InnoDB's purge is back "
             "to the history length it had before the method. *Space returned*: when the table's `.ibd` file "
             "first had its final, smaller size (\"not returned\": the file did not shrink by 5 %% or more). "
             "*Purged and returned*: the later of the two, the end state a rebuild reaches. "
             "*File after / fresh copy*: the `.ibd` after the method (and any table it left beside it) over a fresh "
             "build of only the rows that stay (%s). Ratios compare rows/s to purged; all methods delete the same rows. "
             "\"Max rows in one trx\" is exact, from performance_schema." % mb(fresh_b))
    L.append("")

    if any(p == "load" for (_, p) in runs):
        bulk_l = rate(R, "pt-archiver-bulk", "load", "commit_s")
        L.append("### Under live load (200 ops/s on 4 connections: INSERT a token, SELECT a token by id)")
        L.append("")
        L.append("| method | rows/s under load (to commit) | × pt-archiver --bulk-delete | to commit | to purged "
                 "(load stopped at commit) | idle p50 / p99 / max | **during p50 / p99 / max** | **longest stall** "
                 "(slowest op / longest gap) | at the swap | ops during | errors |")
        L.append("|" + "---|" * 11)
        for m, label, status in methods:
            if status != "run":
                continue
            r = runs.get((m, "load"))
            if not r:
                continue
            if r["rc"] != 0:
                L.append("| %s | failed (exit %d) |%s" % (label, r["rc"], " |" * 9))
                continue
            i, du = r["idle"], r["during"]
            rl = r["rows"] / r["commit_s"] if r["commit_s"] > 0 else None
            sw = r.get("at_swap")
            L.append("| %s | %s | %s | %s | %s | %s / %s / %s ms | **%s / %s / %s ms** | **%s ms** (%s / %s) | %s | %d | %d |" % (
                label, fmt(rl), ratio(rl, bulk_l), secs(r["commit_s"]), secs(r["purged_s"]),
                fmt(i["p50"], 1), fmt(i["p99"], 1), fmt(i["max"], 1),
                fmt(du["p50"], 1), fmt(du["p99"], 1), fmt(du["max"], 1),
                fmt(du["stall_ms"], 1), fmt(du["max"], 1), fmt(du["gap_ms"], 1),
                ("%s ms at %.1f s" % (fmt(sw["stall_ms"], 1), r["swap_s"])) if sw else "–",
                du["n"], du["errors"] + i["errors"]))
        L.append("")
        L.append("Latency is measured from the moment each operation was due on its fixed schedule to its completion, "
                 "so an operation queued behind a stalled one counts the wait. Idle = the %g s before the method "
                 "started, on the same fresh copy; during = from the method's start to its last commit. *Longest "
                 "stall*: the larger of the slowest single operation and the longest time in which no connection "
                 "completed anything. *At the swap*: the same over the operations completing from 0.2 s before the "
                 "sample that saw the table's file replaced to 1 s after it." % reg["idle_seconds"])
        L.append("")

    T = targets(R)
    if T:
        L.append("### Targets (judged on %s)" % T[0]["method"])
        L.append("")
        L.append("| target | measured | |")
        L.append("|---|---|---|")
        for t in T:
            L.append("| %s | %s | %s |" % (t["target"], t["shown"], met_s(t["met"], t.get("noisy"))))
        L.append("")

    L.append("### Where the time goes (runs without load; server counters, deltas)")
    L.append("")
    L.append("| method | DELETE stmts | trx with deletes | chunk server time: median / p90 / max (first 10 % → last 10 %) "
             "| pool reads to commit | pool reads in purge | read requests per row | Handler_read_next | Handler_read_key "
             "| top statements by server time |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for m, label, status in methods:
        r = runs.get((m, "quiet"))
        if status != "run" or not r or r["rc"] != 0:
            continue
        s0, s1, s2 = r["status"]
        dig = read_tsv(r["prefix"] + ".digest.tsv")
        tops = []
        for row in dig[:3]:
            if len(row) >= 5:
                tops.append("`%s` %s× %.2f s, %s rows examined" % (
                    row[4][:70].replace("|", "\\|").replace("`", ""), fmt(float(row[0])), float(row[1]),
                    fmt(float(row[3] or 0))))
        extra = r.get("pt") or ""
        c = r["ps"].get("chunk_ms")
        cs = ("%.1f / %.1f / %.0f ms (%.1f → %.1f)" % (c["median"], c["p90"], c["max"], c["first10"], c["last10"])
              if c else "–")
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, fmt(r["ps"]["delete_statements"]), fmt(r["ps"]["transactions_with_deletes"]), cs,
            fmt(delta(s0, s1, "Innodb_buffer_pool_reads")), fmt(delta(s1, s2, "Innodb_buffer_pool_reads")),
            fmt(delta(s0, s1, "Innodb_buffer_pool_read_requests") / max(1, r["rows"]), 0),
            fmt(delta(s0, s1, "Handler_read_next")), fmt(delta(s0, s1, "Handler_read_key")),
            "; ".join(tops) + ((" — pt-archiver: " + extra) if extra else "")))
    L.append("")

    mc = R["moncost"]
    if mc:
        L.append("### Monitor cost with nothing due (%d runs each, interleaved)" % mc["tokenflush"]["runs"])
        L.append("")
        L.append("| agent | median wall | p90 | min | peak RSS (max over %d runs) | exit codes |" % mc["tokenflush"]["rss_runs"])
        L.append("|---|---|---|---|---|---|")
        for k, lab in (("tokenflush", "`tokenflush monitor`"), ("dummy", "`ocf:heartbeat:Dummy monitor` (shell)")):
            s = mc[k]
            L.append("| %s | %.2f ms | %.2f ms | %.2f ms | %.1f MB | %s |" % (
                lab, s["median_ms"], s["p90_ms"], s["min_ms"], s["peak_rss_kb"] / 1024.0,
                ",".join(str(c) for c in s["exit_codes"])))
        t, du = mc["tokenflush"]["median_ms"], mc["dummy"]["median_ms"]
        L.append("")
        L.append("tokenflush / Dummy median wall time: %.2f; first monitor after start (runs the first flush): "
                 "%.1f ms, exit %d." % (t / du if du else float("nan"), mc["tokenflush_first_monitor"][0] * 1000,
                                         mc["tokenflush_first_monitor"][2]))
        L.append("")
    L.append("![rows deleted, file size and live-load latency over time](%s)" % os.path.basename(svg_path))
    L.append("")
    with open(md_path, "w") as f:
        f.write("\n".join(L))


def write_summary(regs, path, seconds, names):
    L = ["# Flush benchmark: summary", ""]
    if regs:
        reg = regs[0]["reg"]
        L.append("Run %s, %s rows per regime, git %s, tokenflush %s (sha256 %s…), `--strategy` %s; all regimes "
                 "in %s. One file per regime beside this one has every table and a chart." % (
                     reg["date"][:10], fmt(reg["rows"]), reg["git"], reg.get("tokenflush_rev", "?"),
                     reg.get("tokenflush_sha256", "?"), "available" if reg.get("strategy") else "not in this build",
                     ("%d min %02d s" % divmod(int(round(seconds)), 60)) if seconds else "?"))
        L.append("")
    la = [r["loadavg"] for R in regs for r in R["runs"].values() if r.get("loadavg") is not None]
    if la:
        L.append("Load average of the 2-core machine when each method started (other users' work included): "
                 "%.1f to %.1f, median %.1f; above about 2 the figures of that run are slowed by others." % (
                     min(la), max(la), statistics.median(la)))
        L.append("")
    idle = [r["idle"]["stall_ms"] for R in regs for r in R["runs"].values() if r.get("idle") and r["rc"] == 0]
    if idle:
        over = sum(1 for v in idle if v > STALL_LIMIT_MS)
        L.append("The live load's own idle windows (the 5 s before each method, same copy, nothing else of the "
                 "bench running): longest stall %s to %s ms, median %s ms; %d of %d over %d ms. Where the idle "
                 "window already stalls over %d ms, the latency targets of that regime cannot tell the method from "
                 "the machine, and are marked noisy." % (
                     fmt(min(idle), 1), fmt(max(idle), 1), fmt(statistics.median(idle), 1), over, len(idle),
                     STALL_LIMIT_MS, STALL_LIMIT_MS))
        L.append("")
    L.append("## Targets")
    L.append("")
    L.append("| regime | target | judged on | measured | |")
    L.append("|---|---|---|---|---|")
    for R in regs:
        for t in targets(R):
            L.append("| [%s](%s) | %s | %s | %s | %s |" % (regime_title(R["reg"]), names[R["dir"]] + ".md", t["target"],
                                                        t["method"], t["shown"], met_s(t["met"], t.get("noisy"))))
    L.append("")
    L.append("## Every regime × method: rows/s to purged (no load)")
    L.append("")
    order = []
    for R in regs:
        for m, label, _ in R["methods"]:
            if m not in [o[0] for o in order]:
                order.append((m, label))
    L.append("| method | " + " | ".join(regime_title(R["reg"]) for R in regs) + " |")
    L.append("|---|" + "---|" * len(regs))
    for m, label in order:
        cells = []
        for R in regs:
            st = dict((x[0], x[2]) for x in R["methods"]).get(m)
            r = R["runs"].get((m, "quiet"))
            if st is None:
                cells.append("")
            elif st != "run":
                cells.append(st)
            elif not r:
                cells.append("–")
            elif r["rc"] != 0:
                cells.append("failed")
            else:
                cells.append("%s (%s)" % (fmt(r["rows"] / r["purged_s"]), secs(r["purged_s"])))
        L.append("| %s | %s |" % (label, " | ".join(cells)))
    L.append("")
    L.append("## Space: the table's file after each method, over a fresh copy of the rows that stay")
    L.append("")
    L.append("| method | " + " | ".join(regime_title(R["reg"]) for R in regs) + " |")
    L.append("|---|" + "---|" * len(regs))
    for m, label in order:
        cells = []
        for R in regs:
            r = ok_run(R, m, "quiet")
            if r and r["size1"] and R["fresh"]:
                others = sum(b for _, b in r["others"])
                cells.append("%.2f× (%s)" % ((r["size1"]["ibd"] + others) / R["fresh"]["ibd"], mb(r["size1"]["ibd"] + others)))
            else:
                cells.append("")
        L.append("| %s | %s |" % (label, " | ".join(cells)))
    L.append("")
    L.append("## Under live load: p99 / longest stall during the method")
    L.append("")
    L.append("| method | " + " | ".join(regime_title(R["reg"]) for R in regs) + " |")
    L.append("|---|" + "---|" * len(regs))
    for m, label in order:
        cells = []
        for R in regs:
            r = ok_run(R, m, "load")
            cells.append("%s / %s ms" % (fmt(r["during"]["p99"], 1), fmt(r["during"]["stall_ms"], 1)) if r else "")
        if any(cells):
            L.append("| %s | %s |" % (label, " | ".join(cells)))
    L.append("")
    L.append("Regimes: " + "; ".join("[%s](%s)" % (regime_title(R["reg"]), names[R["dir"]] + ".md") for R in regs) + ".")
    L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L))


# ----------------------------------------------------------------------------- SVG

def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Svg:
    def __init__(self, w):
        self.w, self.h, self.parts = w, 0, []

    def add(self, s):
        self.parts.append(s)

    def text(self, x, y, s, size=11, anchor="start", color="#222", bold=False):
        self.add('<text x="%.1f" y="%.1f" font-size="%d" text-anchor="%s" fill="%s"%s>%s</text>' % (
            x, y, size, anchor, color, ' font-weight="bold"' if bold else "", esc(s)))

    def line(self, x1, y1, x2, y2, color="#999", width=1, dash=None):
        self.add('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%s"%s/>' % (
            x1, y1, x2, y2, color, width, ' stroke-dasharray="%s"' % dash if dash else ""))

    def poly(self, pts, color, width=1.5, dash=None):
        if len(pts) < 2:
            return
        self.add('<polyline fill="none" stroke="%s" stroke-width="%s"%s points="%s"/>' % (
            color, width, ' stroke-dasharray="%s"' % dash if dash else "",
            " ".join("%.1f,%.1f" % p for p in pts)))

    def render(self):
        return ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
                'font-family="sans-serif">\n<rect width="100%%" height="100%%" fill="white"/>\n%s\n</svg>\n'
                % (self.w, self.h, self.w, self.h, "\n".join(self.parts)))


def nice_ticks(hi, n=5):
    import math
    if hi <= 0:
        return [0]
    raw = hi / n
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        step = m * mag
        if hi / step <= n:
            break
    out, i = [], 0
    while i * step <= hi * 1.0001:
        out.append(round(i * step, 10))
        i += 1
    return out


def panel(svg, y0, h, title, xmax, ymax, xlabel, ylabel, log_y=False, ymin=0.1):
    L, R = 70, svg.w - 250
    svg.text(L, y0 + 14, title, 13, bold=True)
    top, bot = y0 + 24, y0 + h - 30
    svg.line(L, bot, R, bot, "#444")
    svg.line(L, top, L, bot, "#444")
    import math

    def X(x):
        return L + (R - L) * (x / xmax if xmax > 0 else 0)

    def Y(y):
        if log_y:
            y = max(y, ymin)
            return bot - (bot - top) * (math.log10(y / ymin) / math.log10(ymax / ymin))
        return bot - (bot - top) * (y / ymax if ymax > 0 else 0)

    for t in nice_ticks(xmax, 8):
        svg.line(X(t), bot, X(t), bot + 4, "#444")
        svg.text(X(t), bot + 16, ("%g" % t), 10, "middle")
    if log_y:
        v = ymin
        while v <= ymax * 1.0001:
            svg.line(L - 4, Y(v), R, Y(v), "#eee")
            svg.text(L - 6, Y(v) + 4, "%g" % v, 10, "end")
            v *= 10
    else:
        for t in nice_ticks(ymax, 5):
            svg.line(L - 4, Y(t), R, Y(t), "#eee")
            svg.text(L - 6, Y(t) + 4, fmt(t), 10, "end")
    svg.text((L + R) / 2, bot + 28, xlabel, 10, "middle")
    svg.add('<text x="14" y="%.1f" font-size="10" transform="rotate(-90 14 %.1f)" text-anchor="middle">%s</text>'
            % ((top + bot) / 2, (top + bot) / 2, esc(ylabel)))
    return X, Y, L, R, top, bot


def color(m, i=0):
    return COLORS.get(m, PALETTE[i % len(PALETTE)])


def write_svg(R, path):
    reg, runs = R["reg"], R["runs"]
    methods = [(m, label) for m, label, st in R["methods"] if st == "run"]
    svg = Svg(1040)
    svg.text(20, 22, "tokenflush benchmark — %s, %s rows, buffer pool %s (%s)" % (
        regime_title(reg), fmt(reg["rows"]), reg["pool"], reg["date"][:10]), 15, bold=True)
    y = 34
    quiet = [(i, m, label, runs[(m, "quiet")]) for i, (m, label) in enumerate(methods)
             if (m, "quiet") in runs and runs[(m, "quiet")]["rc"] == 0]
    if quiet:
        xmax = max(r["purged_s"] for _, _, _, r in quiet) * 1.02 or 1
        ymax = max(max(r["rows"] for _, _, _, r in quiet), 1) * 1.05
        X, Y, L, R_, top, bot = panel(svg, y, 300, "Rows deleted (solid) and purged (dashed) over time, no load "
                                      "(● last commit, ■ purge done)", xmax, ymax, "seconds since the method started",
                                      "rows")

        def series(r, idx):
            base = None
            for p in r["sample"]:
                if p[0] <= r["t0"] and p[idx] is not None:
                    base = p[idx]
            if base is None and r["sample"]:
                base = r["sample"][0][idx]
            return [(max(0.0, p[0] - r["t0"]), p[idx] - (base or 0)) for p in r["sample"]
                    if r["t0"] - 0.2 <= p[0] <= min(r["t2"] + 0.2, r["t0"] + xmax) and p[idx] is not None]

        for k, (i, m, label, r) in enumerate(quiet):
            c = color(m, i)
            svg.poly([(X(t), Y(min(max(v, 0), ymax))) for t, v in series(r, 1)], c)
            svg.poly([(X(t), Y(min(max(v, 0), ymax))) for t, v in series(r, 4)], c, 1.2, "4,3")
            svg.add('<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/>' % (X(r["commit_s"]), Y(r["rows"]), c))
            svg.add('<rect x="%.1f" y="%.1f" width="7" height="7" fill="%s"/>' % (X(r["purged_s"]) - 3.5, Y(r["rows"]) - 3.5, c))
            svg.line(R_ + 10, top + 10 + k * 16, R_ + 30, top + 10 + k * 16, c, 3)
            svg.text(R_ + 35, top + 14 + k * 16, label[:38], 10)
        y += 300
        lag = {}
        for i, m, label, r in quiet:
            d, p = series(r, 1), series(r, 4)
            # A swap (OPTIMIZE TABLE, a rebuild) drops the old table with its delete-marked rows:
            # from then on nothing is left to purge.
            end = r["swap_s"] if r.get("swap_s") is not None else float("inf")
            lag[m] = [(t, max(0.0, dv - pv) if t < end else 0.0) for (t, dv), (_, pv) in zip(d, p)]
        hmax = max(max((v for _, v in pts), default=0) for pts in lag.values()) * 1.05 or 1
        X, Y, L, R_, top, bot = panel(svg, y, 200, "Purge backlog: rows deleted but not yet purged, no load "
                                      "(0 once a swap drops the old table)",
                                      xmax, hmax, "seconds since the method started", "rows")
        for i, m, label, r in quiet:
            svg.poly([(X(t), Y(v)) for t, v in lag[m]], color(m, i))
        y += 210
        # The table's file: does it shrink, and when.
        fmax = max(max((p[5] or 0 for p in r["sample"]), default=0) for _, _, _, r in quiet) / 1048576.0 * 1.08 or 1
        X, Y, L, R_, top, bot = panel(svg, y, 220, "The table's .ibd file, no load (◆ space returned; dotted: fresh "
                                      "copy of the rows that stay)", xmax, fmax, "seconds since the method started", "MB")
        if R["fresh"]:
            fy = Y(R["fresh"]["ibd"] / 1048576.0)
            svg.line(L, fy, R_, fy, "#555", 1, "2,3")
        for i, m, label, r in quiet:
            pts = [(X(max(0.0, p[0] - r["t0"])), Y(max(0.0, p[5]) / 1048576.0)) for p in r["sample"]
                   if r["t0"] - 0.2 <= p[0] <= min(r["t2"] + 0.2, r["t0"] + xmax) and p[5] is not None and p[5] > 0]
            svg.poly(pts, color(m, i))
            if r["returned_s"] is not None and r["size1"]:
                cx, cy = X(r["returned_s"]), Y(r["size1"]["ibd"] / 1048576.0)
                svg.add('<path d="M %.1f %.1f l 5 5 l -5 5 l -5 -5 z" fill="%s"/>' % (cx, cy - 5, color(m, i)))
        y += 230
    loaded = [(i, m, label, runs[(m, "load")]) for i, (m, label) in enumerate(methods)
              if (m, "load") in runs and runs[(m, "load")].get("ops")]
    if loaded:
        ymax = 10 ** (len(str(int(max(max(o[2] for o in r["ops"]) for _, _, _, r in loaded)))) or 1)
        ymax = max(ymax, 100)
        for i, m, label, r in loaded:
            idle = r["t0"] - r["idle_start"]
            xmax = idle + (r["t_load_stopped"] - r["t0"])
            X, Y, L, R_, top, bot = panel(
                svg, y, 170, "Live-load latency under %s (per 250 ms: max, p50; shaded: the method runs%s)" % (
                    label, "; | the swap" if r.get("swap_s") is not None else ""),
                xmax, ymax, "seconds (method starts at %.0f s)" % idle, "ms, log", log_y=True, ymin=0.1)
            c = color(m, i)
            svg.add('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" opacity="0.10"/>' % (
                X(idle), top, max(1, X(idle + r["commit_s"]) - X(idle)), bot - top, c))
            sy = Y(STALL_LIMIT_MS)
            svg.line(L, sy, R_, sy, "#d62728", 0.8, "1,3")
            if r.get("swap_s") is not None:
                sx = X(idle + r["swap_s"])
                svg.line(sx, top, sx, bot, "#000", 1.2)
            buckets = {}
            for o in r["ops"]:
                k = int((o[0] - r["idle_start"]) / 0.25)
                buckets.setdefault(k, []).append(o[2])
            # One line segment per run of consecutive buckets: an empty bucket (nothing completed,
            # e.g. every connection stalled) breaks the line instead of being interpolated over.
            mx, md, prev = [], [], None
            for k in sorted(buckets):
                if k < 0:
                    continue
                if prev is not None and k != prev + 1:
                    svg.poly(mx, c, 1.2)
                    svg.poly(md, "#333", 1, "3,2")
                    mx, md = [], []
                v = sorted(buckets[k])
                x = X(min(xmax, (k + 0.5) * 0.25))
                mx.append((x, Y(v[-1])))
                md.append((x, Y(pct(v, 50))))
                svg.add('<circle cx="%.1f" cy="%.1f" r="1.3" fill="%s"/>' % (x, Y(v[-1]), c))
                prev = k
            svg.poly(mx, c, 1.2)
            svg.poly(md, "#333", 1, "3,2")
            svg.text(R_ + 10, top + 14, "— max", 10, color=c)
            svg.text(R_ + 10, top + 30, "- - p50", 10)
            svg.text(R_ + 10, top + 46, "··· %d ms" % STALL_LIMIT_MS, 10, color="#d62728")
            y += 175
    svg.h = y + 10
    with open(path, "w") as f:
        f.write(svg.render())


def summary_json(R):
    summ = {"regime": R["reg"], "source": R["source"], "compact": R["compact"], "fresh": R["fresh"],
            "copy": R["copy"], "pages": R["pages"], "copycheck": R["copycheck"], "methods": R["methods"],
            "targets": targets(R), "runs": {}}
    for (m, p), r in R["runs"].items():
        e = {k: r.get(k) for k in ("rc", "rows", "commit_s", "mid_s", "purged_s", "returned_s", "end_state_s",
                                   "swap_s", "swaps", "rss_kb", "size0", "size1", "others", "prepare_seconds",
                                   "loadavg")}
        e.update(r["ps"])
        e["sampled_max_trx_rows"] = r["sampled_max_trx"]
        e["client"] = r["client"]
        if p == "load":
            e["idle"], e["during"], e["at_swap"] = r["idle"], r["during"], r.get("at_swap")
        summ["runs"]["%s/%s" % (m, p)] = e
    return summ


def cmd_report(a):
    regs, names = [], {}
    for d in a.dirs:
        R = load_regime(d)
        if not R["reg"]:
            print("report: %s has no regime.json, skipped" % d, file=sys.stderr)
            continue
        base = "%s-%s-%s" % (a.prefix, R["reg"]["regime"], R["reg"]["pool_name"])
        names[d] = os.path.basename(base)
        write_md(R, base + ".md", base + ".svg")
        write_svg(R, base + ".svg")
        with open(base + ".json", "w") as f:
            json.dump(summary_json(R), f, indent=1, sort_keys=True, default=str)
        regs.append(R)
    write_summary(regs, a.summary, a.seconds, names)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("moncost")
    m.add_argument("--runs", type=int, default=50)
    m.add_argument("--out", required=True)
    m.add_argument("--tokenflush", required=True)
    m.add_argument("--url", required=True)
    m.add_argument("--state-dir", required=True)
    m.add_argument("--dummy", required=True)
    m.add_argument("--dummy-state", required=True)
    p = sub.add_parser("pages")
    p.add_argument("ibd")
    p.add_argument("--out", required=True)
    p.add_argument("--against")
    r = sub.add_parser("report")
    r.add_argument("--prefix", required=True)
    r.add_argument("--summary", required=True)
    r.add_argument("--seconds", type=float, default=None)
    r.add_argument("dirs", nargs="+")
    a = ap.parse_args()
    {"moncost": cmd_moncost, "pages": cmd_pages, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
