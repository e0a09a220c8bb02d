"""Stress: concurrent writers, killed imports and hostile input against one store.

    python bench/stress.py [--backend sqlite|postgresql] [--processes 8] [--memories 200]
                           [--kills 20] [--seed 1] [--out bench/out]

Three parts, each through the installed `mem` command, as separate processes, against
a SQLite file or (--backend postgresql) a PostgreSQL + pgvector server:

1. Concurrent load. A fresh store is seeded with 50 memories. Then --processes
   processes start at once; each stores --memories memories of its own: all but
   a few in one `mem remember --jsonl` batch (which also carries 10 lines every
   process sends, so they race to store the same text), the rest as single
   `mem remember` calls. Beside them, in a loop until they finish, runs
   `mem consolidate --limit 8` when the generation model is installed, else
   `mem reindex`. Then: "lost" counts the writers' texts not in `mem export`
   (less those consolidate reports it merged or expired), "duplicates" texts
   stored more than once; PRAGMA integrity_check, FTS5's own integrity-check and
   the full-text / vector / vector-index row counts against the memories rows
   (`SQLiteStore.integrity_problems`); every process must exit 0 and none may
   print "database is locked".
2. Kill loop. A bulk `mem remember --jsonl` of 400 memories is SIGKILLed --kills
   times, each time at a seeded random point: once the store holds a random
   1-120 more memories than before, plus a random 0-0.5 s. After each kill the
   file must pass the checks above and hold no duplicate and only whole
   memories (row, full-text and vector entries together); the next round
   resumes the same import. When too little of it is left to land a kill in
   the middle, one uninterrupted run must complete it (every text exactly
   once) and a new import of 400 begins.
3. Hostile input. A list of bad inputs (50 MB on stdin, invalid UTF-8, NUL bytes,
   bad numbers and dates, FTS5 syntax and SQL in queries, unknown ids, a
   directory, a missing file, a non-SQLite file and a truncated copy as --db)
   is run against a store; each must exit with its documented status, print
   one `Error: ...` line (usage errors: click's usage text) and no traceback,
   and leave `mem export` unchanged.

With --backend postgresql a server is started in a temporary directory (the
pgserver wheel, as tests/conftest.py does) and each part gets a fresh database
owned by an ordinary LOGIN role (so row-level security holds it too), made by
the superuser with `CREATE EXTENSION vector`. Every process, each `mem` with a
MEMCLI_HOME of its own, as separate machines would be, connects to it by URL;
the file checks become `PostgresStore.integrity_problems` (the full-text and
vector counts against the rows, schema, valid indexes, row-level security) and
"locked" also counts "deadlock detected". Part 3 runs the same inputs; the bad
--db cases are a server that is not there, a database that is not, one without
memcli's schema (which must stay without it) and a role with no grant.

Prints the figures and writes them to OUT/stress.json (OUT/stress-postgresql.json);
exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from memcli.errors import ExitStatus  # noqa: E402
from memcli.store import is_url, open_store  # noqa: E402

MEM = Path(sys.executable).with_name("mem")
USER = "stress"
SHARED = [f"shared line {i}: every writer stores this exact text" for i in range(10)]
GENERATION = 400  # memories per bulk import in the kill loop
TOPICS = ["rent", "tea", "bikes", "jazz", "garden", "taxes", "flights", "dentist", "Ana", "Porto"]


Location = Path | str  # a SQLite file or a postgresql:// URL


def mem(
    *args: Any, input: bytes = b"", timeout: float = 3600, home: Path | None = None
) -> subprocess.CompletedProcess:
    """`mem` as its own process; `home`: that machine's MEMCLI_HOME (else this run's)."""
    env = {**os.environ, "MEMCLI_HOME": str(home)} if home else None
    return subprocess.run(
        [str(MEM), *map(str, args)], input=input, capture_output=True, timeout=timeout, env=env
    )


def jsonl(texts: list[str]) -> bytes:
    return "".join(json.dumps({"text": t}) + "\n" for t in texts).encode()


def exported(db: Location) -> list[dict[str, Any]]:
    done = mem("export", "--db", db, "--all-users")
    if done.returncode:
        raise SystemExit(f"export failed: {done.stderr.decode()}")
    return [json.loads(line) for line in done.stdout.splitlines()]


def health(db: Location) -> dict[str, Any]:
    store = open_store(db, create=False)
    try:
        counts, problems = store.counts(), store.integrity_problems()
    finally:
        store.close()
    return {"counts": counts, "problems": problems, "ok": not problems}


def generation_model_installed() -> bool:
    from memcli import paths
    from memcli.models import catalog

    spec = catalog.get(catalog.DEFAULT_GENERATE_MODEL)
    return catalog.model_path(spec, paths.models_dir()).is_file()


def texts_of(n: int, memories: int, rng: random.Random) -> list[str]:
    """Writer n's own notes: distinct, realistic sentences (bench/corpus.py), so
    consolidation's near-duplicate merge has little to merge."""
    import corpus

    pool = corpus.notes((n + 1) * memories, seed=1)
    return [f"{text} (writer {n})" for text, _kind in pool[n * memories : (n + 1) * memories]]


class Server:
    """A PostgreSQL 16 + pgvector server (the pgserver wheel) on a unix socket in `data`,
    with the ordinary LOGIN role USER; `database()` gives each part a fresh one."""

    def __init__(self, data: Path) -> None:
        import warnings

        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs' RuntimeDirWarning without XDG_RUNTIME_DIR
            import pgserver

            self.server = pgserver.get_server(data, cleanup_mode="stop")
        self.admin_url = self.server.get_uri()  # the superuser: set-up only
        self.host = str(conninfo_to_dict(self.admin_url)["host"])
        self.connect = lambda database="postgres": psycopg.connect(
            self.url("postgres", database), autocommit=True
        )
        with self.connect() as conn:
            conn.execute(f'CREATE ROLE "{USER}" LOGIN')

    def url(self, role: str, database: str) -> str:
        return f"postgresql://{role}@/{database}?host={self.host}"

    def database(self, name: str) -> str:
        """A new database owned by USER with the vector extension (only a superuser may
        create it); its URL, as USER."""
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER "{USER}"')
        with self.connect(name) as conn:
            from memcli.store.pg_schema import SUPERUSER_SQL

            for statement in SUPERUSER_SQL:  # the extension, and text search's @@ LEAKPROOF (README)
                conn.execute(statement)
            conn.execute(f'GRANT CREATE ON DATABASE "{name}" TO "{USER}"')
        return self.url(USER, name)

    def has_schema(self, name: str) -> bool:
        with self.connect(name) as conn:
            return conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'memcli'").fetchone() is not None

    def close(self) -> None:
        self.server.cleanup()


# -- 1. concurrent load ---------------------------------------------------------------


def concurrent(
    work: Path, db: Location, processes: int, memories: int, rng: random.Random, side: str
) -> dict[str, Any]:
    # On a server each process is a machine of its own: its own MEMCLI_HOME (config, logs).
    homes = [work / f"machine-{n}" for n in range(processes)] if is_url(db) else [None] * processes
    seed = [f"seed memory {i} about {TOPICS[i % len(TOPICS)]}" for i in range(50)]
    first = mem("remember", "--db", db, "--jsonl", input=jsonl(seed))
    if first.returncode:
        raise SystemExit(f"seeding failed: {first.stderr.decode()}")
    plans = []
    for n in range(processes):
        own = texts_of(n, memories, rng)
        singles = min(5, len(own) // 10)
        plans.append((own[: len(own) - singles], own[len(own) - singles :]))
    expected = set(seed) | set(SHARED) | {t for bulk, one in plans for t in bulk + one}
    results: list[subprocess.CompletedProcess] = []
    finished: list[float] = []
    lock = threading.Lock()

    def writer(bulk: list[str], singles: list[str], home: Path | None) -> None:
        done = [mem("remember", "--db", db, "--jsonl", input=jsonl(bulk + SHARED), home=home)]
        done += [mem("remember", "--db", db, text, home=home) for text in singles]
        with lock:
            results.extend(done)
            finished.append(time.perf_counter())

    side_runs: list[subprocess.CompletedProcess] = []
    removed: set[str] = set()
    started = time.perf_counter()
    threads = [threading.Thread(target=writer, args=(*plan, home)) for plan, home in zip(plans, homes)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        if side == "consolidate":
            done = mem("consolidate", "--db", db, "--all-users", "--limit", "8", "--json")
            if done.returncode == 0:
                for change in json.loads(done.stdout).get("changes", []):
                    if change.get("action") in ("MERGE", "EXPIRE"):
                        removed.add(change.get("text", ""))
        else:
            done = mem("reindex", "--db", db)
        side_runs.append(done)
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    stored = [r["text"] for r in exported(db)]
    counts: dict[str, int] = {}
    for text in stored:
        counts[text] = counts.get(text, 0) + 1
    failed = [r for r in results + side_runs if r.returncode != 0]
    locked = [r for r in results + side_runs if b"locked" in r.stderr or b"deadlock" in r.stderr]
    state = health(db)
    c = state["counts"]
    return {
        "backend": "postgresql" if is_url(db) else "sqlite",
        "processes": processes,
        "memories_per_process": memories,
        "expected": len(expected),
        "stored": len(stored),
        "lost": len(expected - set(counts) - removed),
        "removed_by_consolidate": len(removed),
        "duplicates": sum(n - 1 for n in counts.values()),
        "side_job": side,
        "side_runs": len(side_runs),
        "failed_processes": len(failed),
        "failures": sorted({r.stderr.decode(errors="replace").strip()[:200] for r in failed})[:5],
        "locked_messages": len(locked),
        "integrity": "ok" if state["ok"] else "; ".join(state["problems"]),
        "rows": c["rows"],
        "fts_rows": c["full_text"],
        "vector_rows": c["vectors"],
        "vec_index_rows": c["vector_index"],
        "seconds": round(seconds, 1),  # to the end of the side job's last run, begun while writers ran
        "writers_seconds": round(max(finished) - started, 1),
        "memories_per_s": round((len(stored) - len(seed)) / seconds, 1),
    }


# -- 2. kill loop ----------------------------------------------------------------------


class Rows:
    """How many memories the store holds, polled while an import runs: a SQLite file is
    opened each time, as another `mem` would; a server keeps one connection."""

    def __init__(self, db: Location) -> None:
        self.db = db
        self.server = open_store(db, create=False) if is_url(db) else None

    def __call__(self) -> int:
        if self.server is not None:
            return self.server.counts()["rows"]
        from memcli.store.connection import connect

        conn = connect(Path(self.db), create=False)
        try:
            return int(conn.execute("SELECT count(*) FROM memories").fetchone()[0])
        finally:
            conn.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


def kill_loop(db: Location, kills: int, rng: random.Random) -> dict[str, Any]:
    mem("remember", "--db", db, "present before the kills")
    rows_in = Rows(db)
    try:
        return _kill_loop(db, kills, rng, rows_in)
    finally:
        rows_in.close()


def _kill_loop(db: Location, kills: int, rng: random.Random, rows_in: Rows) -> dict[str, Any]:
    allowed = {"present before the kills"}
    generation = 0

    def new_texts() -> list[str]:
        return [
            f"imported memory {generation}.{i}: {rng.choice(TOPICS)} {rng.randint(1, 10**6)}"
            for i in range(GENERATION)
        ]

    texts = new_texts()
    allowed |= set(texts)
    survived = landed = resumed = 0
    problems: list[str] = []
    for round_ in range(kills):
        now = rows_in()
        target = now + rng.randint(1, 120)
        if target > len(allowed) - 64:  # too near the end to land mid-import: finish, then start anew
            resumed += _complete(db, texts, allowed, problems)
            generation += 1
            texts = new_texts()
            allowed |= set(texts)
            target = rows_in() + rng.randint(1, 120)
        proc = subprocess.Popen(
            [str(MEM), "remember", "--db", str(db), "--jsonl"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdin is not None
        proc.stdin.write(jsonl(texts))
        proc.stdin.close()
        while proc.poll() is None and rows_in() < target:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.5))
        landed += proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = health(db)
        stored = [r["text"] for r in exported(db)]
        c = state["counts"]
        whole = c["rows"] == c["full_text"] == c["vectors"] == c["vector_index"]
        sound = (
            state["ok"]
            and whole
            and len(stored) == len(set(stored))
            and set(stored) <= allowed
            and "present before the kills" in stored
        )
        survived += sound
        if not sound:
            problems.append(f"round {round_}: {state['problems']} {c}")
    resumed += _complete(db, texts, allowed, problems)
    return {
        "kills": kills,
        "kills_mid_import": landed,
        "kills_survived": survived,
        "imports_resumed_complete": resumed,
        "imports": generation + 1,
        "resumed_complete": resumed == generation + 1,
        "final_memories": rows_in(),
        "problems": problems[:5],
    }


def _complete(db: Location, texts: list[str], allowed: set[str], problems: list[str]) -> bool:
    """Rerun the import uninterrupted: it must finish it, with every text once."""
    done = mem("remember", "--db", db, "--jsonl", input=jsonl(texts))
    stored = [r["text"] for r in exported(db)]
    ok = done.returncode == 0 and set(texts) <= set(stored) and len(stored) == len(set(stored))
    ok = ok and set(stored) <= allowed and health(db)["ok"]
    if not ok:
        problems.append(f"resumed import incomplete: exit {done.returncode}, {len(stored)} stored")
    return ok


# -- 3. hostile input -------------------------------------------------------------------


def hostile(work: Path, db: Location, server: Server | None) -> dict[str, Any]:
    mem(
        "remember",
        "--db",
        db,
        "--jsonl",
        input=jsonl([f"kept memory {i} about {t}" for i, t in enumerate(TOPICS)]),
    )
    some_id = exported(db)[0]["id"]
    bad_file = work / "latin1.txt"
    bad_file.write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    big = b"0123456789abcdef " * (50 * 1024 * 1024 // 17)
    INP, U, N = ExitStatus.INPUT, ExitStatus.USAGE, ExitStatus.NOT_FOUND
    cases: list[tuple[str, list[Any], bytes, set[int]]] = [
        ("50 MB stdin", ["remember"], big, {INP}),
        ("50 MB stdin query", ["recall"], big, {INP}),
        ("whitespace only", ["remember"], b" \t\r\n \n", {INP}),
        ("whitespace argument", ["remember", "   "], b"", {INP}),
        ("invalid UTF-8 stdin", ["remember"], b"caf\xe9 \xff\xfe", {INP}),
        ("invalid UTF-8 file", ["remember", "-f", bad_file], b"", {INP}),
        ("NUL bytes", ["remember"], b"abc\x00def", {INP}),
        ("NUL in JSON", ["remember", "--jsonl"], b'{"text": "a\\u0000b"}\n', {INP}),
        ("bad JSON line", ["remember", "--jsonl"], b'{"text": "ok"}\n{"text": \n', {INP}),
        ("importance 99", ["remember", "x", "--importance", "99"], b"", {INP}),
        ("ttl -5d", ["remember", "x", "--ttl", "-5d"], b"", {INP}),
        ("bad date", ["remember", "x", "--at", "2024-02-30"], b"", {INP}),
        ("absurd year", ["recall", "x", "--since", "99999-01-01"], b"", {INP}),
        ("k -1", ["recall", "x", "-k", "-1"], b"", {U}),
        ("huge k", ["recall", "x", "-k", "100000000000000000000"], b"", {U}),
        ("huge list -n", ["list", "-n", "100000000000000000000"], b"", {0}),
        ("FTS syntax", ["recall", "--mode", "fts", "--", 'NEAR("kept" AND OR *'], b"", {0}),
        ("SQL in query", ["recall", "--", "'); DROP TABLE memories;--"], b"", {0}),
        ("SQL in forget query", ["forget", "--yes", "--query", "zzz'); DELETE FROM memories;--"], b"", {0}),
        ("SQL in tag", ["forget", "--yes", "--tag", "x' OR '1'='1"], b"", {0}),
        ("unknown id", ["show", "zzzzzzzz"], b"", {N}),
        ("unknown id forget", ["forget", "zzzzzzzz", some_id, "--yes"], b"", {N}),
        ("markup text", ["recall", "[red]kept[/red] [/tmp]"], b"", {0}),
    ]
    db_cases, unchanged = _bad_files(work, Path(db)) if server is None else _bad_servers(work, server)
    before = _content(db)
    failures: list[str] = []
    tried = 0
    for name, args, stdin, codes in cases:
        tried += 1
        done = mem(args[0], "--db", db, *args[1:], input=stdin)
        failures += _judge(name, done, codes)
    for name, path, args, codes in db_cases:
        tried += 1
        done = mem(args[0], "--db", path, *args[1:])
        failures += _judge(name, done, codes)
    if _content(db) != before:
        failures.append("the store changed")
    failures += unchanged()
    return {"hostile_tried": tried, "hostile_failures": len(failures), "hostile_problems": failures}


BadDb = list[tuple[str, Location, list[Any], set[int]]]


def _bad_files(work: Path, db: Path) -> tuple[BadDb, Callable[[], list[str]]]:
    """Bad --db files, and a check that none was changed or created."""
    junk = work / "junk.db"
    junk.write_bytes(os.urandom(64 * 1024))
    truncated = work / "truncated.db"
    truncated.write_bytes(db.read_bytes()[: db.stat().st_size // 2])
    D = ExitStatus.DATABASE
    cases: BadDb = [
        ("directory as --db", work, ["list"], {D}),
        ("missing --db for list", work / "absent.db", ["list"], {D}),
        ("missing --db for recall", work / "absent.db", ["recall", "x"], {D}),
        ("not SQLite", junk, ["list"], {D}),
        ("not SQLite, write", junk, ["remember", "x"], {D}),
        ("truncated copy", truncated, ["list", "-n", "0"], {D}),
        ("truncated copy, stats", truncated, ["stats"], {D}),
    ]
    junk_bytes = junk.read_bytes()

    def unchanged() -> list[str]:
        if junk.read_bytes() != junk_bytes or (work / "absent.db").exists():
            return ["a bad --db file was changed or created"]
        return []

    return cases, unchanged


def _bad_servers(work: Path, server: Server) -> tuple[BadDb, Callable[[], list[str]]]:
    """Bad --db URLs, and a check that the database without memcli's schema still has none."""
    bare = server.database("bare")  # the vector extension, no memcli schema
    with server.connect() as conn:
        conn.execute('CREATE ROLE "stranger" LOGIN')  # may log in, granted nothing
    hostile_db = server.url("stranger", "hostile")
    D = ExitStatus.DATABASE
    cases: BadDb = [
        ("no server there", f"postgresql://{USER}@/hostile?host={work / 'no-socket'}", ["list"], {D}),
        ("no such database", server.url(USER, "absent"), ["list"], {D}),
        ("no such database, write", server.url(USER, "absent"), ["remember", "x"], {D}),
        ("no memcli schema", bare, ["list"], {D}),
        ("no memcli schema, recall", bare, ["recall", "x"], {D}),
        ("no memcli schema, stats", bare, ["stats"], {D}),
        ("role with no grant", hostile_db, ["list"], {D}),
        ("role with no grant, write", hostile_db, ["remember", "x"], {D}),
    ]

    def unchanged() -> list[str]:
        return ["a database without memcli's schema was given one"] if server.has_schema("bare") else []

    return cases, unchanged


def _content(db: Location) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in ("recalled", "last_recalled_at")} for r in exported(db)]


def _judge(name: str, done: subprocess.CompletedProcess, codes: set[int]) -> list[str]:
    err = done.stderr.decode(errors="replace")
    found = []
    if done.returncode not in codes:
        found.append(f"{name}: exit {done.returncode}, wanted {sorted(codes)}: {err.strip()[:160]}")
    if "Traceback" in err or b"Traceback" in done.stdout:
        found.append(f"{name}: traceback")
    if done.returncode not in (0, ExitStatus.USAGE) and not (
        err.startswith("Error: ") and err.count("\n") == 1
    ):
        found.append(f"{name}: not one error line: {err[:160]!r}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backend",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="a SQLite file per part, or a PostgreSQL + pgvector server started for the run (pgserver)",
    )
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--memories", type=int, default=200, help="memories per process")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--beside",
        choices=["auto", "consolidate", "reindex"],
        default="auto",
        help="what runs beside the writers (auto: consolidate if the generation model is installed)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "out")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    from memcli import paths

    os.environ.setdefault("MEMCLI_USER", USER)
    os.environ["MEMCLI_MODELS_DIR"] = str(paths.models_dir())  # before the data dir moves
    side = args.beside
    if side == "auto":
        side = "consolidate" if generation_model_installed() else "reindex"
    work = Path(tempfile.mkdtemp(prefix="memcli-stress-"))
    os.environ["MEMCLI_HOME"] = str(work / "home")  # config and logs of this run only
    started = time.perf_counter()
    server: Server | None = None
    try:
        if args.backend == "postgresql":
            server = Server(work / "pg")
            where: Callable[[str], Location] = server.database
        else:
            where = lambda name: work / f"{name}.db"
        report: dict[str, Any] = {"seed": args.seed, "backend": args.backend}
        report["concurrent"] = concurrent(work, where("concurrent"), args.processes, args.memories, rng, side)
        report["kill"] = kill_loop(where("killed"), args.kills, rng)
        report["hostile"] = hostile(work, where("hostile"), server)
    finally:
        if server is not None:
            server.close()
        shutil.rmtree(work, ignore_errors=True)
    report["elapsed_s"] = round(time.perf_counter() - started, 1)
    c, k, h = report["concurrent"], report["kill"], report["hostile"]
    failures = []
    if (
        c["lost"]
        or c["duplicates"]
        or c["failed_processes"]
        or c["locked_messages"]
        or c["integrity"] != "ok"
    ):
        failures.append("concurrent load")
    if not c["rows"] == c["fts_rows"] == c["vector_rows"] == c["vec_index_rows"]:
        failures.append("index counts")
    if k["kills_survived"] != k["kills"] or not k["resumed_complete"]:
        failures.append("kill loop")
    if h["hostile_failures"]:
        failures.append("hostile input")
    report["failures"] = failures
    rows = [
        ("backend", args.backend),
        ("processes", c["processes"]),
        ("memories per process", c["memories_per_process"]),
        ("beside them", f"{c['side_job']} x{c['side_runs']}"),
        ("stored / expected", f"{c['stored']} / {c['expected']}"),
        ("merged or expired by consolidate", c["removed_by_consolidate"]),
        ("lost", c["lost"]),
        ("duplicates", c["duplicates"]),
        ("failed processes", f"{c['failed_processes']} ({c['locked_messages']} 'locked')"),
        ("integrity", c["integrity"]),
        (
            "rows / FTS / vectors / vec index",
            f"{c['rows']} / {c['fts_rows']} / {c['vector_rows']} / {c['vec_index_rows']}",
        ),
        (
            "concurrent load",
            f"{c['seconds']} s ({c['memories_per_s']} memories/s; writers done in {c['writers_seconds']} s)",
        ),
        ("kills survived", f"{k['kills_survived']} / {k['kills']} ({k['kills_mid_import']} mid-import)"),
        (
            "imports resumed complete",
            f"{k['imports_resumed_complete']} / {k['imports']} ({k['final_memories']} memories)",
        ),
        ("hostile inputs tried", h["hostile_tried"]),
        ("hostile failures", h["hostile_failures"]),
        ("elapsed", f"{report['elapsed_s']} s"),
    ]
    for label, value in rows:
        print(f"{label:<34} {value}")
    for problem in [*c["failures"], *k["problems"], *h["hostile_problems"]]:
        print(f"  problem: {problem}")
    print("FAILED: " + ", ".join(failures) if failures else "all checks passed")
    args.out.mkdir(parents=True, exist_ok=True)
    name = "stress.json" if args.backend == "sqlite" else f"stress-{args.backend}.json"
    (args.out / name).write_text(json.dumps(report, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
