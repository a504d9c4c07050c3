"""Every command's --help ends with examples, and every example names a real command and real
options of it (examples that rot are worse than none)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from preserve.cli import cli


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name)


COMMANDS = sorted(_commands(cli))


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(cli, [*path, "--help"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _examples(text: str) -> list[list[str]]:
    """The example command lines of a --help text, continuation lines joined, as words."""
    after = text.split("Examples:", 1)[1]
    after = after.split("\nOptions:", 1)[0]  # examples in the description come before options
    joined = re.sub(r"\\\n\s*", " ", after)
    lines = [line.split("#", 1)[0].strip() for line in joined.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith(("preserve ", "PRESERVE_"))]


def _command(words: list[str]) -> tuple[click.Command, list[str]]:
    words = [w for w in words if not re.fullmatch(r"PRESERVE_\w+=.*", w)]
    assert words[0] == "preserve"
    command: click.Command = cli
    rest = words[1:]
    while isinstance(command, click.Group):
        while rest and rest[0].startswith("-"):  # global options
            rest = rest[1:]
        assert rest and rest[0] in command.commands, f"no command {rest[:1]} in {words}"
        command, rest = command.commands[rest[0]], rest[1:]
    return command, rest


def test_there_are_commands() -> None:
    assert len(COMMANDS) > 20


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_help_has_examples_that_name_real_commands_and_options(path: tuple[str, ...]) -> None:
    text = _help(path)
    assert "Examples:" in text or "Example:" in text
    examples = _examples(text.replace("Example:", "Examples:"))
    assert examples, f"no example command line in the help of {' '.join(path)}"
    for words in examples:
        command, rest = _command(words)
        options = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
        for word in rest:
            if word.startswith("--"):
                assert word.split("=", 1)[0] in options, f"{word} is not an option of {words}"
