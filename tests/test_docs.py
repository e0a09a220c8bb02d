"""The man page, the README's command reference and shell completion never drift from the code."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memcli.cli import app, docs_cmd, manpage, reference
from memcli.cli.app import EXIT_CODES
from memcli.errors import ExitStatus
from memcli.settings import SETTINGS

PACKAGE = Path(manpage.__file__).resolve().parents[1]
NODES = list(reference.walk())
COMMANDS = NODES[1:]  # every command and sub-command, `mem` itself left out
MEM = Path(sys.executable).parent / "mem"  # the console script of this environment
runner = CliRunner()


def _man_program() -> str:
    program = shutil.which("man")
    if program is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have man-db (.ci/run installs it): the man page is not checked without it")
        pytest.skip("no man program")
    return program


def _render(page: Path, *options: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MANWIDTH": "80", "MANPAGER": "cat", "PAGER": "cat", "LC_ALL": "C"}
    env.pop("MAN_KEEP_FORMATTING", None)
    return subprocess.run(
        [_man_program(), *options, "-l", str(page)], capture_output=True, text=True, env=env
    )


@pytest.fixture(scope="module")
def rendered() -> str:
    result = _render(manpage.MAN_PAGE)
    assert result.returncode == 0, result.stderr
    return result.stdout


def sections(text: str) -> dict[str, str]:
    """A rendered man page cut at its headings (NAME, SYNOPSIS, ...)."""
    found: dict[str, str] = {}
    heading = ""
    for line in text.splitlines():
        if re.fullmatch(r"[A-Z][A-Z ]+", line):
            heading = line
        elif heading:
            found[heading] = found.get(heading, "") + line + "\n"
    return found


def subsections(text: str) -> dict[str, str]:
    """The COMMANDS section cut at its sub-headings, three spaces in."""
    found: dict[str, str] = {}
    name = ""
    for line in text.splitlines():
        if re.fullmatch(r"   \S.*", line):
            name = line.strip()
        elif name:
            found[name] = found.get(name, "") + line + "\n"
    return found


def flat(text: str) -> str:
    return " ".join(text.split())


def test_man_page_is_generated_from_the_current_code() -> None:
    committed = manpage.MAN_PAGE.read_text(encoding="utf-8") if manpage.MAN_PAGE.is_file() else ""
    assert manpage.manpage() == committed, "man/mem.1 is out of date: run python -m memcli.cli.manpage"
    assert manpage.main(["--check"]) == 0


def test_man_page_check_fails_on_a_stale_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "mem.1"
    stale.write_text(manpage.manpage().replace("success", "fine"), encoding="utf-8")
    monkeypatch.setattr(manpage, "MAN_PAGE", stale)
    assert manpage.main(["--check"]) == 1
    assert manpage.main([]) == 0
    assert manpage.main(["--check"]) == 0


def test_man_page_renders_without_warnings() -> None:
    result = _render(manpage.MAN_PAGE, "--warnings=w")
    assert result.returncode == 0
    assert result.stderr == ""
    if shutil.which("groff"):
        groff = subprocess.run(
            ["groff", "-man", "-ww", "-z", str(manpage.MAN_PAGE)], capture_output=True, text=True
        )
        assert groff.stderr == ""


def test_the_warning_check_sees_roff_mistakes(tmp_path: Path) -> None:
    broken = tmp_path / "broken.1"
    broken.write_text(manpage.MAN_PAGE.read_text() + ".unknownmacro\n\\fXword\\fR\n", encoding="utf-8")
    assert _render(broken, "--warnings=w").stderr != ""


def test_rendered_page_has_every_section_and_command(rendered: str) -> None:
    found = sections(rendered)
    for heading in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "CONFIGURATION"):
        assert heading in found
    for heading in ("ENVIRONMENT", "FILES", "EXIT STATUS", "EXAMPLES", "SEE ALSO"):
        assert heading in found
    commands = subsections(found["COMMANDS"])
    assert list(commands) == [node.name for node in COMMANDS]
    for node in COMMANDS:
        text = flat(commands[node.name])
        assert flat(f"{node.name} {manpage.usage(node)}") in text
        for param in node.command.params:  # "-k, --limit N" and its help, default and env var
            label, help = param.get_help_record(node.ctx)
            assert f"{flat(label)} {flat(help)}" in text, f"{node.name}: {label}"
        for line in node.command.help.splitlines():
            assert flat(line) in text, f"{node.name}: {line!r} (escaping?)"
    root_options = found["OPTIONS"]
    for param in NODES[0].command.params:
        for opt in param.opts:
            assert opt in root_options


def test_rendered_page_has_every_setting_variable_and_exit_status(rendered: str) -> None:
    found = sections(rendered)
    configuration = flat(found["CONFIGURATION"])
    for key, setting in SETTINGS.items():
        assert f"{key} (" in configuration
        assert flat(setting.help) in configuration
        assert not setting.env or setting.env in configuration
    environment = found["ENVIRONMENT"]
    for name in variables_read_by_memcli():
        assert re.search(rf"^       .*\b{name}\b", environment, re.M), f"{name} is not in ENVIRONMENT"
    codes = found["EXIT STATUS"]
    for status, text in EXIT_CODES:
        assert re.search(rf"^       {int(status)} +{re.escape(text.split()[0])}", codes, re.M)
    assert {status for status, _ in EXIT_CODES} == set(ExitStatus)


def variables_read_by_memcli() -> set[str]:
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        names |= set(re.findall(r"\b(MEMCLI_[A-Z_]+)\b", source))
        names |= set(
            re.findall(r"os\.(?:environ(?:\.get|\.setdefault|\.pop)?|getenv)\(?\[?\s*\"(\w+)\"", source)
        )
    names |= {s.env for s in SETTINGS.values() if s.env}
    assert {"MEMCLI_HOME", "MEMCLI_DB", "MEMCLI_DEBUG"} <= names  # the scan itself works
    return names


def test_examples_in_the_man_page_use_real_commands(rendered: str) -> None:
    examples = sections(rendered)["EXAMPLES"]
    used = re.findall(r"\bmem ([a-z]+)", examples)
    assert used
    assert set(used) <= {node.path[1] for node in COMMANDS}


def test_readme_reference_is_current() -> None:
    readme = reference.README.read_text(encoding="utf-8")
    assert reference.rewrite(readme) == readme, "README.md is out of date: run python -m memcli.cli.reference"


@pytest.mark.parametrize("node", NODES, ids=[n.name for n in NODES])
def test_reference_is_what_help_prints(node: reference.Node) -> None:
    # CliRunner fixes Click's width at 80; a terminal of 80 columns gets 78 (the test below).
    result = runner.invoke(app, [*node.path[1:], "--help"], prog_name="mem", terminal_width=reference.WIDTH)
    assert result.exit_code == 0
    assert result.stdout.rstrip("\n") == reference.help_text(node)
    block = f"### `{node.name}`\n\n```text\n{reference.help_text(node)}\n```\n"
    assert block in reference.README.read_text(encoding="utf-8")


def test_reference_matches_help_in_a_real_80_column_shell() -> None:
    env = {**os.environ, "COLUMNS": "80"}
    for node in (n for n in NODES if n.name in ("mem", "mem remember", "mem models", "mem models list")):
        shown = subprocess.run([MEM, *node.path[1:], "--help"], capture_output=True, text=True, env=env)
        assert shown.stdout.rstrip("\n") == reference.help_text(node)


@pytest.mark.parametrize("node", COMMANDS, ids=[n.name for n in COMMANDS])
def test_every_command_is_described_and_documented(node: reference.Node) -> None:
    summary = (node.command.help or "").strip().splitlines()
    assert summary and summary[0].strip(), f"{node.name} has no description"
    if not node.is_group:  # groups list their commands, whose help has the examples
        assert re.search(r"^\s*Examples?:\s*$", node.command.help, re.M), f"{node.name} has no Example"
    assert f'.SS "{manpage.escape(node.name)}"' in manpage.MAN_PAGE.read_text(encoding="utf-8")
    assert f"### `{node.name}`" in reference.README.read_text(encoding="utf-8")


def test_mem_man_prints_the_page_as_text() -> None:
    result = runner.invoke(app, ["man"], prog_name="mem")
    assert result.exit_code == 0
    assert "EXIT STATUS" in result.stdout
    assert "MEMCLI_HOME" in result.stdout
    if shutil.which("man"):
        assert ".SH" not in result.stdout  # laid out by man, not the roff source
        assert "\b" not in result.stdout


def test_mem_man_without_a_man_program_prints_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docs_cmd.shutil, "which", lambda name: None)
    result = runner.invoke(app, ["man"], prog_name="mem")
    assert result.exit_code == 0
    assert result.stdout == manpage.MAN_PAGE.read_text(encoding="utf-8")


def test_mem_man_path_in_a_checkout() -> None:
    result = runner.invoke(app, ["man", "--path"], prog_name="mem")
    assert result.exit_code == 0
    assert Path(result.stdout.strip()) == manpage.MAN_PAGE
    assert Path(result.stdout.strip()).is_file()


def test_mem_man_finds_the_page_a_wheel_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    installed = tmp_path / "venv" / "share" / "man" / "man1" / "mem.1"
    installed.parent.mkdir(parents=True)
    installed.write_text(manpage.MAN_PAGE.read_text(encoding="utf-8"), encoding="utf-8")
    # An installed package: no checkout with man/ above it.
    monkeypatch.setattr(
        docs_cmd, "__file__", str(tmp_path / "site-packages" / "memcli" / "cli" / "docs_cmd.py")
    )
    monkeypatch.setattr(docs_cmd.sys, "prefix", str(tmp_path / "venv"))
    result = runner.invoke(app, ["man", "--path"], prog_name="mem")
    assert result.exit_code == 0
    assert Path(result.stdout.strip()) == installed


def test_mem_man_without_a_page_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docs_cmd, "candidates", lambda: [tmp_path / "mem.1"])
    result = runner.invoke(app, ["man"], prog_name="mem")
    assert result.exit_code == ExitStatus.ERROR
    assert result.stdout == ""
    assert result.stderr.startswith("Error: the man page is not installed")
    assert len(result.stderr.strip().splitlines()) == 1


def test_pyproject_ships_the_page_in_the_wheel() -> None:
    import tomllib

    pyproject = tomllib.loads((reference.REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["tool"]["setuptools"]["data-files"]["share/man/man1"] == ["man/mem.1"]


# Shell completion: Typer's scripts call `mem` back with _MEM_COMPLETE set.


@pytest.fixture
def bash_script(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    result = runner.invoke(app, ["--show-completion", "bash"], prog_name="mem")
    assert result.exit_code == 0
    return result.stdout


def test_show_completion_prints_a_bash_script(bash_script: str) -> None:
    assert "_MEM_COMPLETE=complete_bash" in bash_script
    assert "complete -o default -F _mem_completion mem" in bash_script


def _bash_complete(script_path: Path, *words: str) -> list[str]:
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    assert MEM.is_file(), f"no console script {MEM}: pip install -e ."
    line = " ".join(f"'{w}'" for w in words)
    program = f'source "$1"; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _mem_completion mem; printf "%s\\n" "${{COMPREPLY[@]}}"'
    env = {**os.environ, "PATH": f"{MEM.parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-c", program, "bash", str(script_path)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    return [w for w in done.stdout.splitlines() if w]


def test_bash_completes_commands(bash_script: str, tmp_path: Path) -> None:
    script = tmp_path / "mem.bash"
    script.write_text(bash_script, encoding="utf-8")
    assert _bash_complete(script, "mem", "rec") == ["recall"]
    assert set(_bash_complete(script, "mem", "models", "")) == _subcommands("models")


def _subcommands(group: str) -> set[str]:
    return {node.path[2] for node in COMMANDS if node.path[:2] == ("mem", group) and len(node.path) == 3}


def _script(shell: str) -> str:
    """The completion script `mem --install-completion` installs for a shell."""
    assert MEM.is_file(), f"no console script {MEM}: pip install -e ."
    done = subprocess.run(
        [MEM], capture_output=True, text=True, env={**os.environ, "_MEM_COMPLETE": f"source_{shell}"}
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _in_shell(shell: str, program: str, script: Path) -> list[str]:
    """Run `program` in the real shell (CI installs zsh and fish) with mem on PATH."""
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed (.ci/run installs it)")
    env = {**os.environ, "PATH": f"{MEM.parent}{os.pathsep}{os.environ['PATH']}"}
    args = [shell, "-f", "-c", program, shell, str(script)] if shell == "zsh" else [shell, "-c", program]
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


def test_zsh_completes_commands(tmp_path: Path) -> None:
    script = tmp_path / "_mem"
    script.write_text(_script("zsh"), encoding="utf-8")
    # zsh's completion system is not loaded in a script: its two builtins print what they are given.
    program = 'compdef() { :; }; _arguments() { print -rl -- "$@"; }; source "$1"; words=({words}); CURRENT={n}; _mem_completion'

    def complete(*words: str) -> set[str]:
        lines = _in_shell(
            "zsh", program.replace("{words}", " ".join(words)).replace("{n}", str(len(words))), script
        )
        return set(re.findall(r'\("?(\w+)"?:', " ".join(lines))) | set(
            re.findall(r'"(\w+)":', " ".join(lines))
        )

    assert complete("mem", "rec") == {"recall"}
    assert complete("mem", "models", "''") == _subcommands("models")
    assert complete("mem", "recall", "--mode", "f") == {"fts"}


def test_fish_completes_commands(tmp_path: Path) -> None:
    script = tmp_path / "mem.fish"
    script.write_text(_script("fish"), encoding="utf-8")

    def complete(line: str) -> set[str]:
        return {
            row.split("\t")[0] for row in _in_shell("fish", f'source {script}; complete -C "{line}"', script)
        }

    assert complete("mem rec") == {"recall"}
    assert complete("mem models ") == _subcommands("models")
    assert complete("mem recall --kind s") == {"semantic"}  # values too, not only names
