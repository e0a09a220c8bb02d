"""Slash commands of `mem chat` and laziness: nothing here loads a generation model."""

import json
from pathlib import Path

from typer.testing import CliRunner

from memcli.cli import app

runner = CliRunner()


def test_slash_commands_work_without_a_model(tmp_path: Path, real_embedder, monkeypatch) -> None:
    monkeypatch.setenv("MEMCLI_MODEL", str(tmp_path / "no-such-model.gguf"))  # never loaded
    db = str(tmp_path / "chat.db")
    script = "/help\n/remember I moved to Porto in May\n/recall Porto\n/session\n/bogus\n/exit\n/remember never reached\n"
    result = runner.invoke(app, ["chat", "--db", db, "--session", "cmds"], input=script)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "/remember TEXT" in result.stdout
    assert "Remembered " in result.stdout and "I moved to Porto in May" in result.stdout
    assert result.stdout.count("I moved to Porto in May") == 2  # remembered, then recalled
    assert "session cmds: 0 turns stored" in result.stdout
    assert "Unknown command /bogus" in result.stderr
    listed = json.loads(runner.invoke(app, ["list", "--db", db, "--json"]).stdout)["results"]
    assert [r["text"] for r in listed] == ["I moved to Porto in May"]
    memory_id = listed[0]["id"]
    result = runner.invoke(app, ["chat", "--db", db], input=f"/forget {memory_id}\n/forget zzzzzzzz\n")
    assert result.exit_code == 0 and f"Forgot {memory_id}" in result.stdout
    assert "no memory with id 'zzzzzzzz'" in result.stderr
    assert json.loads(runner.invoke(app, ["list", "--db", db, "--json"]).stdout)["results"] == []


def test_piped_json_gives_one_object_per_line(tmp_path: Path, real_embedder, monkeypatch) -> None:
    monkeypatch.setenv("MEMCLI_MODEL", str(tmp_path / "no-such-model.gguf"))
    db = str(tmp_path / "chat.db")
    result = runner.invoke(
        app, ["chat", "--db", db, "--json"], input="/remember Ana likes orchids\n/forget nope\n"
    )
    assert result.exit_code == 0, result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["command"] == "/remember" and "Ana likes orchids" in first["output"][0]
    assert second["output"] == [] and second["errors"] == ["Error: no memory with id 'nope'"]


def test_recall_remember_and_help_never_load_the_generation_model(tmp_path: Path, real_embedder) -> None:
    import os
    import subprocess
    import sys

    db = str(tmp_path / "lazy.db")
    code = (
        "import sys\n"
        "from memcli.cli.app import app\n"
        "for argv in (['--help'], ['remember', '--db', sys.argv[1], 'lazy loading'], ['recall', '--db', sys.argv[1], 'lazy']):\n"
        "    try:\n"
        "        app(argv, standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in sys.modules if m in ('memcli.models.generate', 'memcli.chat', 'memcli.ask')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, db], capture_output=True, text=True, env=dict(os.environ), timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert "lazy loading" in done.stdout


def test_a_bad_session_name_is_refused(tmp_path: Path, real_embedder) -> None:
    for name in ("", "   ", "a\nb", "x" * 101):
        result = runner.invoke(app, ["chat", "--db", str(tmp_path / "s.db"), "--session", name], input="")
        assert result.exit_code == 2 and "session name" in result.stderr
