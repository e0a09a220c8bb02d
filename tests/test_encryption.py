"""Encrypted stores (SQLCipher): nothing readable in any file, keys from the documented places only."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_consolidate import Scripted
from typer.testing import CliRunner

from memcli.cli import app
from memcli.consolidate import Consolidator
from memcli.errors import ExitStatus, StoreError
from memcli.mcp import Server
from memcli.memory import Memory
from memcli.models import registry
from memcli.models.embed import FakeEmbedder
from memcli.records import Filters, NewMemory
from memcli.store import encryption

pytest.importorskip("sqlcipher3")

runner = CliRunner()
KEY = "correct horse 'battery' staple"
MARKER = "QUOKKAMARKER"  # a word no SQLite file holds unless it was stored


@pytest.fixture(autouse=True)
def _fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMCLI_EMBED_MODEL", "fake")
    monkeypatch.setenv("MEMCLI_MODEL", "/nonexistent/generator.gguf")
    monkeypatch.setitem(registry._loaded, "fake", FakeEmbedder())
    for var in (encryption.KEY_ENV, encryption.KEY_FILE_ENV):
        monkeypatch.delenv(var, raising=False)


def mem(*args, code: int | None = 0, env: dict[str, str] | None = None):
    result = runner.invoke(app, [str(a) for a in args], env=env)
    assert code is None or result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def readable(directory: Path, word: str = MARKER) -> list[str]:
    """Every file under `directory` whose bytes hold `word` (as UTF-8 or UTF-16, any case)."""
    forms = [f.encode(codec) for f in (word, word.lower()) for codec in ("utf-8", "utf-16-le")]
    found = []
    for path in directory.rglob("*"):
        if path.is_file() and any(form in path.read_bytes() for form in forms):
            found.append(str(path.relative_to(directory)))
    return found


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_store_made_with_a_key_holds_nothing_readable_through_its_whole_life(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    monkeypatch.setenv(encryption.KEY_ENV, KEY)
    db = tmp_path / "secret.db"
    memory = Memory(db, embedder=FakeEmbedder(), user="tester")
    assert memory.stats().encrypted and encryption.is_encrypted(db)
    [note] = memory.remember([NewMemory(f"My {MARKER} lives in the garden shed")])
    other = memory.remember([NewMemory(f"Ana said the {MARKER} likes carrots")])[0]
    assert readable(tmp_path) == []
    memory.edit(note.id, f"My {MARKER} now lives in the kitchen")
    assert readable(tmp_path) == []
    Consolidator(memory, lambda: Scripted({}), user="tester").run()
    assert [f.text for f in memory.list(Filters(user="tester", kinds=["semantic"]))], (
        "consolidation made facts"
    )
    assert readable(tmp_path) == []
    # and it works as a store: the full-text and vector indexes answer
    assert [h.record.id for h in memory.recall(MARKER.lower(), Filters(user="tester"), k=5)]
    memory.forget([note.id, other.id])
    memory.close()
    assert readable(tmp_path) == [] and readable(isolated_home) == []


def test_wrong_or_missing_key_is_one_line_exit_5_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "secret.db"
    mem("remember", "--db", db, f"the {MARKER} is safe", env={encryption.KEY_ENV: KEY})
    before = digest(db)
    for env in ({}, {encryption.KEY_ENV: "not the key"}):
        for args in (["list"], ["remember", "more"], ["forget", "--all", "--yes"], ["stats"]):
            result = mem(*args, "--db", db, code=ExitStatus.DATABASE, env=env)
            assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
            assert "hmac" not in result.stderr.lower()  # SQLCipher's own log lines stay quiet
    assert digest(db) == before
    assert MARKER in mem("list", "--db", db, env={encryption.KEY_ENV: KEY}).stdout


def test_the_key_file_must_be_private(tmp_path: Path) -> None:
    db, key_file = tmp_path / "secret.db", tmp_path / "key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o644)
    result = mem(
        "remember", "--db", db, "x", code=ExitStatus.DATABASE, env={encryption.KEY_FILE_ENV: str(key_file)}
    )
    assert "chmod 600" in result.stderr and not db.exists()
    key_file.chmod(0o600)
    mem("remember", "--db", db, "x", env={encryption.KEY_FILE_ENV: str(key_file)})
    # the file's key (its trailing newline dropped) is the same key as MEMCLI_KEY
    assert "x" in mem("list", "--db", db, env={encryption.KEY_ENV: KEY}).stdout


def test_encrypt_then_decrypt_in_place_keeps_every_memory_and_leaves_no_plain_copy(tmp_path: Path) -> None:
    db = tmp_path / "notes.db"
    for n in range(30):
        mem("remember", "--db", db, f"note {n} about the {MARKER}", "--tag", "t")
    exported = mem("export", "--db", db).stdout
    assert readable(tmp_path)  # a plain store: the word is in its bytes
    done = json.loads(mem("encrypt", "--db", db, "--json", env={encryption.KEY_ENV: KEY}).stdout)
    assert done == {"path": str(db), "encrypted": True, "memories": 30, "keyring": False}
    assert (
        readable(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir() if "convert" in p.name) == []
    )
    assert oct(db.stat().st_mode & 0o777) == "0o600"
    assert "encryption    on" in mem("stats", "--db", db, env={encryption.KEY_ENV: KEY}).stdout
    assert mem("export", "--db", db, env={encryption.KEY_ENV: KEY}).stdout == exported
    # every part of the store came across: its full-text and vector indexes answer, doctor finds it whole
    found = json.loads(mem("recall", "--db", db, "note 7", "--json", env={encryption.KEY_ENV: KEY}).stdout)
    assert found["results"][0]["text"] == f"note 7 about the {MARKER}"
    report = mem("doctor", "--db", db, "--no-load", "--json", code=None, env={encryption.KEY_ENV: KEY})
    database = [c for c in json.loads(report.stdout)["checks"] if c["area"] == "database"]
    assert len(database) == 5 and all(c["ok"] for c in database), database
    assert database[-1]["detail"].endswith("encrypted at rest (SQLCipher)")
    exported = mem("export", "--db", db, env={encryption.KEY_ENV: KEY}).stdout  # the recall counted
    mem("encrypt", "--db", db, code=ExitStatus.USAGE, env={encryption.KEY_ENV: KEY})  # already encrypted
    mem("decrypt", "--db", db, code=ExitStatus.DATABASE, env={encryption.KEY_ENV: "wrong"})
    mem("decrypt", "--db", db, env={encryption.KEY_ENV: KEY})
    assert not encryption.is_encrypted(db)
    assert mem("export", "--db", db).stdout == exported
    assert "encryption    off" in mem("stats", "--db", db).stdout


def test_encrypt_needs_a_key_from_the_environment_without_a_terminal(tmp_path: Path) -> None:
    db = tmp_path / "notes.db"
    mem("remember", "--db", db, "a note")
    before = digest(db)
    result = mem("encrypt", "--db", db, code=ExitStatus.INPUT)
    assert "MEMCLI_KEY" in result.stderr and digest(db) == before


@pytest.fixture
def keyring_backend(monkeypatch: pytest.MonkeyPatch):
    keyring = pytest.importorskip("keyring")
    from keyring.backend import KeyringBackend

    class Backend(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def __init__(self) -> None:
            super().__init__()
            self.kept: dict[tuple[str, str], str] = {}

        def get_password(self, service, username):
            return self.kept.get((service, username))

        def set_password(self, service, username, password):
            self.kept[(service, username)] = password

        def delete_password(self, service, username):
            self.kept.pop((service, username), None)

    previous = keyring.get_keyring()
    backend = Backend()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def test_the_key_kept_in_the_keyring_opens_the_store(tmp_path: Path, keyring_backend) -> None:
    db = tmp_path / "notes.db"
    mem("remember", "--db", db, f"the {MARKER}")
    mem("encrypt", "--db", db, "--keyring", env={encryption.KEY_ENV: KEY})
    assert keyring_backend.kept == {(encryption.KEYRING_SERVICE, str(db.resolve())): KEY}
    assert MARKER in mem("list", "--db", db).stdout  # no key in the environment: the keyring's
    mem("decrypt", "--db", db)
    assert keyring_backend.kept == {}  # a plain store needs no key kept


def test_a_dry_run_and_the_mcp_server_work_on_an_encrypted_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "secret.db"
    monkeypatch.setenv(encryption.KEY_ENV, KEY)
    memory = Memory(db, embedder=FakeEmbedder(), user="tester")
    memory.remember([NewMemory(f"My {MARKER} is called Pip")])
    report = Consolidator(memory, lambda: Scripted({}), user="tester", dry_run=True).run()
    assert report.added == 1 and memory.list(Filters(user="tester", kinds=["semantic"])) == []
    memory.close()
    server = Server(lambda: Memory(db, embedder=FakeEmbedder(), user="tester"))
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "recall", "arguments": {"query": "pip"}},
    }
    result = server.handle(message)["result"]
    assert not result.get("isError") and MARKER in json.dumps(result)
    assert readable(tmp_path) == []


def test_cron_carries_the_key_file_never_the_key(tmp_path: Path) -> None:
    db, key_file = tmp_path / "secret.db", tmp_path / "key"
    key_file.write_text(KEY)
    key_file.chmod(0o600)
    mem("remember", "--db", db, "x", env={encryption.KEY_ENV: KEY})
    warned = mem("cron", "--db", db, env={encryption.KEY_ENV: KEY})
    assert KEY not in warned.stdout and "MEMCLI_KEY_FILE" in warned.stderr
    line = mem("cron", "--db", db, env={encryption.KEY_FILE_ENV: str(key_file)}).stdout
    assert f"MEMCLI_KEY_FILE={key_file}" in line and KEY not in line


def test_the_cron_job_opens_an_encrypted_store_with_its_key_file(tmp_path: Path) -> None:
    """The line `mem cron` prints, run by a shell with cron's bare environment."""
    db, key_file = tmp_path / "secret.db", tmp_path / "key"
    key_file.write_text(KEY)
    key_file.chmod(0o600)
    mem("remember", "--db", db, "short note", env={encryption.KEY_ENV: KEY})
    line = mem("cron", "--db", db, env={encryption.KEY_FILE_ENV: str(key_file)}).stdout.strip()
    command = line.split(" ", 5)[5].replace("\\%", "%").replace("consolidate --quiet", "stats --json")
    command = command.rsplit(">>", 1)[0]
    done = subprocess.run(
        ["sh", "-c", command],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "MEMCLI_EMBED_MODEL": "fake"},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["encrypted"] is True


def test_an_encrypted_file_without_sqlcipher_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sqlcipher3", None)
    with pytest.raises(StoreError, match="pip install sqlcipher3-binary"):
        encryption.cipher()


def test_the_key_can_be_typed_on_a_terminal(tmp_path: Path) -> None:
    """With no key in the environment and a terminal on stdin, mem asks for it (not echoed)."""
    import pty

    db = tmp_path / "secret.db"
    mem("remember", "--db", db, f"the {MARKER} is typed for", env={encryption.KEY_ENV: KEY})
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMCLI_KEY")}
    pid, fd = pty.fork()
    if pid == 0:  # the child: mem on a terminal of its own
        exe = str(Path(sys.executable).with_name("mem"))
        os.execve(exe, [exe, "list", "--db", str(db)], env)
    output = b""
    try:
        while b"Key for" not in output:
            output += os.read(fd, 1024)
        os.write(fd, KEY.encode() + b"\n")
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
    finally:
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, output
    assert MARKER.encode() in output and KEY.encode() not in output  # the key is not echoed


def test_encrypt_refuses_what_is_not_a_memcli_store_and_leaves_it_as_it_was(tmp_path: Path) -> None:
    import sqlite3

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all, and longer than a header")
    for path, says in (
        (other, "not a memcli database"),
        (junk, "not a database"),
        (tmp_path, "directory"),
    ):
        before = digest(path) if path.is_file() else None
        result = mem("encrypt", "--db", path, code=ExitStatus.DATABASE, env={encryption.KEY_ENV: KEY})
        assert says in result.stderr and result.stderr.count("\n") == 1, result.stderr
        assert before is None or digest(path) == before
