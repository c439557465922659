"""Rows per transaction, from MariaDB's binary log in ROW format (the parity tests' "largest
transaction" of each side).

    python3 tests/parity/binlog_txns.py DATABASE BINLOG-FILE...

Reads `mariadb-binlog -v --base64-output=decode-rows` of the files (the files a side's run wrote,
between two FLUSH BINARY LOGS) and prints one JSON object:

    {"transactions": N, "largest": ROWS, "rows": TOTAL, "by_table": {"t": ROWS, ...},
     "statements": ["DELETE FROM ...", ...]}

A transaction is one GTID event up to its COMMIT (Xid) or, for a statement that changed nothing,
is not there at all: the server writes no event for it. Its rows are the `### DELETE FROM`,
`### INSERT INTO` and `### UPDATE` row images of tables in DATABASE; a transaction without any is not
counted. `statements` are the distinct `#Q>` annotations (binlog_annotate_row_events, on by
default in MariaDB), i.e. the SQL text of the statements that changed rows, with their values as
the client sent them, first 20, each cut at 400 characters.

Rows that InnoDB deletes by ON DELETE CASCADE are not in the binary log (MariaDB logs only the
statement's own rows), so they are not counted here; none of the official purges relies on a
cascade for the tables it purges.
"""

import json
import re
import subprocess
import sys

ROW = re.compile(r"^### (DELETE FROM|INSERT INTO|UPDATE) `([^`]*)`\.`([^`]*)`")
GTID = re.compile(r"\sGTID \d+-\d+-\d+")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    db, files = sys.argv[1], sys.argv[2:]
    txns = []
    by_table = {}
    statements = []
    if files:
        out = subprocess.run(
            ["mariadb-binlog", "--no-defaults", "-v", "--base64-output=decode-rows", *files],
            check=True,
            capture_output=True,
            text=True,
            errors="replace",
        ).stdout
    else:
        out = ""
    current = None
    query = []
    for line in out.splitlines():
        if GTID.search(line) and line.startswith("#"):
            current = 0
            txns.append(0)
            continue
        if line.startswith("#Q> "):
            query.append(line[4:])
            continue
        if query and not line.startswith("#Q>"):
            text = " ".join(q.strip() for q in query)
            query = []
            if text not in statements and len(statements) < 20:
                statements.append(text[:400])
        m = ROW.match(line)
        if m and m.group(2) == db and current is not None:
            txns[-1] += 1
            by_table[m.group(3)] = by_table.get(m.group(3), 0) + 1
    counted = [n for n in txns if n > 0]
    print(
        json.dumps(
            {
                "transactions": len(counted),
                "largest": max(counted, default=0),
                "rows": sum(counted),
                "by_table": by_table,
                "statements": statements,
            }
        )
    )


if __name__ == "__main__":
    main()
