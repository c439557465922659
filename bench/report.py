#!/usr/bin/env python3
"""Helpers for scripts/bench.sh; standard library only.

  report.py moncost --runs N --out JSON --tokenflush BIN --url URL --state-dir DIR
                    --dummy AGENT --dummy-state FILE
  report.py report --dir REGIME_DIR --md FILE.md --svg FILE.svg
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time

METHOD_ORDER = ["single", "keystone-juno", "keystone-offset", "limit-loop", "pt-archiver",
                "pt-archiver-bulk", "tokenflush"]
LABELS = {
    "single": "single DELETE",
    "keystone-juno": "Keystone OFFSET, one trx (Juno–Ocata)",
    "keystone-offset": "Keystone OFFSET (Pike–Queens)",
    "limit-loop": "LIMIT-1000 loop (READ COMMITTED)",
    "pt-archiver": "pt-archiver",
    "pt-archiver-bulk": "pt-archiver --bulk-delete",
    "tokenflush": "tokenflush flush",
}
COLORS = {
    "single": "#d62728", "keystone-juno": "#8c564b", "keystone-offset": "#ff7f0e",
    "limit-loop": "#9467bd", "pt-archiver": "#7f7f7f", "pt-archiver-bulk": "#1f77b4",
    "tokenflush": "#2ca02c",
}


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


# ----------------------------------------------------------------------------- report

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


def max_rows_per_trx(prefix):
    """Exact largest number of rows deleted by one transaction, from performance_schema.

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
    ops = []
    try:
        with open(path) as f:
            next(f)
            for line in f:
                e, conn, op, lat, svc, ok = line.rstrip("\n").split(",")
                ops.append((int(e) / 1e6, op, int(lat) / 1000.0, int(svc) / 1000.0, ok == "1"))
    except (OSError, StopIteration):
        pass
    return ops


def lat_stats(ops, lo, hi):
    v = sorted(o[2] for o in ops if lo <= o[0] < hi)
    err = sum(1 for o in ops if lo <= o[0] < hi and not o[4])
    return {"n": len(v), "p50": pct(v, 50), "p99": pct(v, 99), "max": v[-1] if v else float("nan"),
            "errors": err}


def read_sample(path):
    pts = []
    try:
        with open(path) as f:
            next(f)
            for line in f:
                v = line.rstrip("\n").split(",")
                pur = float(v[4] or 0) if len(v) > 4 else None
                pts.append((int(v[0]) / 1e6, float(v[1] or 0), float(v[2] or 0), float(v[3] or 0), pur))
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
                        pass
    except OSError:
        pass
    return "; ".join(out)


def load_runs(d):
    runs = {}
    for path in glob.glob(os.path.join(d, "*.run.json")):
        prefix = path[: -len(".run.json")]
        with open(path) as f:
            r = json.load(f)
        r["prefix"] = prefix
        r["rows"] = r["expired_before"] - r["expired_after"]
        r["commit_s"] = r["t1"] - r["t0"]
        r["purged_s"] = r["t2"] - r["t0"]
        r["rss_kb"], r["client_elapsed"] = read_time(prefix + ".time")
        r["client"] = client_json(prefix + ".out")
        r["ps"] = max_rows_per_trx(prefix)
        s0, s1, s2 = (read_status(prefix + ".status%d" % i) for i in range(3))
        r["status"] = (s0, s1, s2)
        r["sample"] = read_sample(prefix + ".sample.csv")
        r["sampled_max_trx"] = max((p[3] for p in r["sample"]), default=0)
        if r["phase"] == "load":
            ops = read_load(prefix + ".load.csv")
            r["ops"] = ops
            r["idle"] = lat_stats(ops, r["idle_start"], r["t0"])
            r["during"] = lat_stats(ops, r["t0"], r["t1"] + 1e-9)
        if r["method"].startswith("pt-archiver"):
            r["pt"] = pt_stats(prefix + ".out") or pt_stats(prefix + ".err")
        runs[(r["method"], r["phase"])] = r
    return runs


def fmt(x, nd=0):
    if x is None or x != x:
        return "–"
    if nd == 0:
        return "{:,}".format(int(round(x))).replace(",", " ")
    return ("{:.%df}" % nd).format(x)


def ratio(a, b):
    if not a or not b:
        return "–"
    return "%.2f×" % (a / b)


def write_md(d, runs, md_path, svg_path):
    reg = json.load(open(os.path.join(d, "regime.json")))
    data = read_tsv(os.path.join(d, "data.tsv"))
    size = read_tsv(os.path.join(d, "size.tsv"))
    methods = [m for m in METHOD_ORDER if (m, "quiet") in runs or (m, "load") in runs]
    L = []
    title = {"memory": "in memory", "io": "I/O-bound", "quick": "quick (in memory)"}.get(reg["regime"], reg["regime"])
    L.append("## Flush benchmark, %s: %s rows, buffer pool %s" % (title, fmt(reg["rows"]), reg["pool"]))
    L.append("")
    L.append("Run %s on %s (repository at git %s; tokenflush binary: %s, sha256 %s…), 2 cores, `innodb_flush_log_at_trx_commit=2`, "
             "`innodb_doublewrite=0`, `innodb_flush_method=O_DIRECT` (the default), 512M redo log, "
             "performance_schema on for the methods' sessions. Single runs on a shared 2-core machine: "
             "expect ±10–20 %% between runs." % (reg["date"], reg["version"], reg["git"],
                                                  reg.get("tokenflush_rev", "?"), reg.get("tokenflush_sha256", "?")))
    if data:
        x = data[0]
        L.append("Table: %s rows, %s expired (%s per distinct expiry second on average), `extra` ≈ %s bytes%s; "
                 "built in %.0f s. Every method runs on its own fresh copy."
                 % (fmt(float(x[0])), fmt(float(x[1])), x[3], x[2],
                    (", source table %s MB data" % size[0][0]) if size else "", reg["build_seconds"]))
    L.append("")

    def rate(m, phase, key):
        r = runs.get((m, phase))
        if not r or r["rc"] != 0 or r[key] <= 0:
            return None
        return r["rows"] / r[key]

    single_p = rate("single", "quiet", "purged_s")
    bulk_p = rate("pt-archiver-bulk", "quiet", "purged_s")
    L.append("### Throughput without load")
    L.append("")
    L.append("| method | rows deleted | to commit | rows/s to commit | to purged | **rows/s to purged** "
             "| × single DELETE | × pt-archiver --bulk-delete | max rows in one trx | client peak RSS |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for m in methods:
        r = runs.get((m, "quiet"))
        if not r:
            continue
        if r["rc"] != 0:
            L.append("| %s | failed (exit %d) | | | | | | | | |" % (LABELS[m], r["rc"]))
            continue
        rc = r["rows"] / r["commit_s"]
        rp = r["rows"] / r["purged_s"]
        ps = r["ps"]
        label = LABELS[m]
        if r.get("client") and r["client"].get("walk"):
            label += " (walk: %s)" % r["client"]["walk"]
        mx = fmt(ps["max_rows_per_trx"]) + (" (≥, history full)" if ps["history_overflow"] else "")
        L.append("| %s | %s | %.2f s | %s | %.2f s | **%s** | %s | %s | %s | %s |" % (
            label, fmt(r["rows"]), r["commit_s"], fmt(rc), r["purged_s"], fmt(rp),
            ratio(rp, single_p), ratio(rp, bulk_p), mx,
            ("%.1f MB" % (r["rss_kb"] / 1024.0)) if r["rss_kb"] else "–"))
    L.append("")
    L.append("Ratios compare rows/s to purged. \"Max rows in one trx\" is exact, from performance_schema "
             "(`events_transactions_history_long` joined to the DELETE statements' `ROWS_AFFECTED`).")
    L.append("")

    if any(p == "load" for (_, p) in runs):
        bulk_l = rate("pt-archiver-bulk", "load", "commit_s")
        L.append("### Under live load (200 ops/s, 4 connections: INSERT a token, SELECT a token by id)")
        L.append("")
        L.append("| method | rows/s under load (to commit) | × pt-archiver --bulk-delete | to commit | "
                 "to purged (load stopped at commit) | idle p50 / p99 / max | **during p50 / p99 / max** | ops during | errors |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for m in methods:
            r = runs.get((m, "load"))
            if not r:
                continue
            if r["rc"] != 0:
                L.append("| %s | failed (exit %d) | | | | | | | |" % (LABELS[m], r["rc"]))
                continue
            i, du = r["idle"], r["during"]
            rl = r["rows"] / r["commit_s"]
            L.append("| %s | %s | %s | %.2f s | %.2f s | %s / %s / %s ms | **%s / %s / %s ms** | %d | %d |" % (
                LABELS[m], fmt(rl), ratio(rl, bulk_l), r["commit_s"], r["purged_s"],
                fmt(i["p50"], 1), fmt(i["p99"], 1), fmt(i["max"], 1),
                fmt(du["p50"], 1), fmt(du["p99"], 1), fmt(du["max"], 1), du["n"], du["errors"] + i["errors"]))
        L.append("")
        L.append("Latency is measured from the moment each operation was due on its fixed schedule to its "
                 "completion, so an operation queued behind a stalled one counts the wait. Idle = the %d s "
                 "before the method started, on the same fresh copy." % reg["idle_seconds"])
        L.append("")

    L.append("### Where the time goes (runs without load; server counters, deltas)")
    L.append("")
    L.append("| method | DELETE stmts | trx with deletes | chunk server time: median / p90 / max (first 10 % → last 10 %) "
             "| pool reads to commit | pool reads in purge | read requests per row | Handler_read_next | Handler_read_key "
             "| top statements by server time |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for m in methods:
        r = runs.get((m, "quiet"))
        if not r or r["rc"] != 0:
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
            LABELS[m], fmt(r["ps"]["delete_statements"]), fmt(r["ps"]["transactions_with_deletes"]), cs,
            fmt(delta(s0, s1, "Innodb_buffer_pool_reads")), fmt(delta(s1, s2, "Innodb_buffer_pool_reads")),
            fmt(delta(s0, s1, "Innodb_buffer_pool_read_requests") / max(1, r["rows"]), 0),
            fmt(delta(s0, s1, "Handler_read_next")), fmt(delta(s0, s1, "Handler_read_key")),
            "; ".join(tops) + ((" — pt-archiver: " + extra) if extra else "")))
    L.append("")

    mc_path = os.path.join(d, "moncost.json")
    if os.path.exists(mc_path):
        mc = json.load(open(mc_path))
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
        L.append("tokenflush / Dummy median wall time: %.2f (target ≤ 0.33); first monitor after start "
                 "(runs the first flush): %.1f ms, exit %d." % (t / du if du else float("nan"),
                                                                 mc["tokenflush_first_monitor"][0] * 1000,
                                                                 mc["tokenflush_first_monitor"][2]))
        L.append("")
    L.append("![rows deleted and live-load latency over time](%s)" % os.path.basename(svg_path))
    L.append("")
    with open(md_path, "w") as f:
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


def write_svg(d, runs, path):
    reg = json.load(open(os.path.join(d, "regime.json")))
    methods = [m for m in METHOD_ORDER if (m, "quiet") in runs or (m, "load") in runs]
    svg = Svg(1040)
    svg.text(20, 22, "tokenflush benchmark — %s, %s rows, buffer pool %s (%s)" % (
        reg["regime"], fmt(reg["rows"]), reg["pool"], reg["date"]), 15, bold=True)
    y = 34
    quiet = [(m, runs[(m, "quiet")]) for m in methods if (m, "quiet") in runs]
    if quiet:
        xmax = max(r["purged_s"] for _, r in quiet) * 1.02
        ymax = max(max(r["rows"] for _, r in quiet), 1) * 1.05
        X, Y, L, R, top, bot = panel(svg, y, 300, "Rows deleted (solid) and purged (dashed) over time, no load "
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
                    if r["t0"] - 0.2 <= p[0] <= r["t2"] + 0.2 and p[idx] is not None]

        has_purged = any(p[4] is not None for _, r in quiet for p in r["sample"])
        for i, (m, r) in enumerate(quiet):
            c = COLORS[m]
            svg.poly([(X(t), Y(min(v, ymax))) for t, v in series(r, 1)], c)
            if has_purged:
                svg.poly([(X(t), Y(min(max(v, 0), ymax))) for t, v in series(r, 4)], c, 1.2, "4,3")
            svg.add('<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/>' % (X(r["commit_s"]), Y(r["rows"]), c))
            svg.add('<rect x="%.1f" y="%.1f" width="7" height="7" fill="%s"/>' % (X(r["purged_s"]) - 3.5, Y(r["rows"]) - 3.5, c))
            svg.line(R + 10, top + 10 + i * 18, R + 30, top + 10 + i * 18, c, 3)
            svg.text(R + 35, top + 14 + i * 18, LABELS[m], 10)
        y += 300
        if has_purged:
            lag = {}
            for m, r in quiet:
                d, p = series(r, 1), series(r, 4)
                lag[m] = [(t, max(0.0, dv - pv)) for (t, dv), (_, pv) in zip(d, p)]
            hmax = max(max((v for _, v in pts), default=0) for pts in lag.values()) * 1.05 or 1
            X, Y, L, R, top, bot = panel(svg, y, 200, "Purge backlog: rows deleted but not yet purged, no load",
                                         xmax, hmax, "seconds since the method started", "rows")
            for m, r in quiet:
                svg.poly([(X(t), Y(v)) for t, v in lag[m]], COLORS[m])
        else:
            hmax = max(max((p[2] for p in r["sample"]), default=0) for _, r in quiet) * 1.05 or 1
            X, Y, L, R, top, bot = panel(svg, y, 200, "InnoDB purge backlog (history list length), no load",
                                         xmax, hmax, "seconds since the method started", "undo logs")
            for m, r in quiet:
                pts = [(X(max(0, p[0] - r["t0"])), Y(p[2])) for p in r["sample"] if r["t0"] - 0.2 <= p[0] <= r["t2"] + 0.2]
                svg.poly(pts, COLORS[m])
        y += 210
    loaded = [(m, runs[(m, "load")]) for m in methods if (m, "load") in runs and runs[(m, "load")].get("ops")]
    if loaded:
        ymax = 10 ** (len(str(int(max(max(o[2] for o in r["ops"]) for _, r in loaded)))) or 1)
        ymax = max(ymax, 100)
        for m, r in loaded:
            idle = r["t0"] - r["idle_start"]
            xmax = idle + (r["t_load_stopped"] - r["t0"])
            X, Y, L, R, top, bot = panel(
                svg, y, 170, "Live-load latency under %s (per 250 ms: max, p50; shaded: the method runs)" % LABELS[m],
                xmax, ymax, "seconds (method starts at %.0f s)" % idle, "ms, log", log_y=True, ymin=0.1)
            svg.add('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" opacity="0.10"/>' % (
                X(idle), top, max(1, X(idle + r["commit_s"]) - X(idle)), bot - top, COLORS[m]))
            buckets = {}
            for o in r["ops"]:
                k = int((o[0] - r["idle_start"]) / 0.25)
                buckets.setdefault(k, []).append(o[2])
            # One line segment per run of consecutive buckets: an empty bucket (nothing completed,
            # e.g. every connection stalled) breaks the line instead of being interpolated over.
            mx, md, prev = [], [], None
            for k in sorted(buckets):
                if prev is not None and k != prev + 1:
                    svg.poly(mx, COLORS[m], 1.2)
                    svg.poly(md, "#333", 1, "3,2")
                    mx, md = [], []
                v = sorted(buckets[k])
                x = X(min(xmax, (k + 0.5) * 0.25))
                mx.append((x, Y(v[-1])))
                md.append((x, Y(pct(v, 50))))
                svg.add('<circle cx="%.1f" cy="%.1f" r="1.3" fill="%s"/>' % (x, Y(v[-1]), COLORS[m]))
                prev = k
            svg.poly(mx, COLORS[m], 1.2)
            svg.poly(md, "#333", 1, "3,2")
            svg.text(R + 10, top + 14, "— max", 10, color=COLORS[m])
            svg.text(R + 10, top + 30, "- - p50", 10)
            y += 175
    svg.h = y + 10
    with open(path, "w") as f:
        f.write(svg.render())


def cmd_report(a):
    runs = load_runs(a.dir)
    write_md(a.dir, runs, a.md, a.svg)
    write_svg(a.dir, runs, a.svg)
    # A machine-readable summary beside the Markdown, for later comparison.
    summ = {}
    for (m, p), r in runs.items():
        e = {k: r[k] for k in ("rc", "rows", "commit_s", "purged_s", "rss_kb") if k in r}
        e.update(r["ps"])
        e["sampled_max_trx_rows"] = r["sampled_max_trx"]
        e["client"] = r["client"]
        if p == "load":
            e["idle"], e["during"] = r["idle"], r["during"]
        summ["%s/%s" % (m, p)] = e
    with open(os.path.splitext(a.md)[0] + ".json", "w") as f:
        json.dump(summ, f, indent=1, sort_keys=True, default=str)


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
    r = sub.add_parser("report")
    r.add_argument("--dir", required=True)
    r.add_argument("--md", required=True)
    r.add_argument("--svg", required=True)
    a = ap.parse_args()
    {"moncost": cmd_moncost, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
