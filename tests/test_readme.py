"""README.md cannot drift from the command lines: every ``--flag`` (and ``-x``) on a project command in a fenced
``bash`` block, or in an inline code span that starts with one, exists in that command's argparse parser.

Only the parsers are built (no model, no data): a command is mapped to its module's ``main`` through setup.cfg's
console scripts (``lwpose-*``), ``python -m MODULE`` (``torchrun ... -m MODULE`` too) or ``python
benchmarks/NAME.py``; its parser is the module's ``build_parser()`` / ``_parser()``, else the one ``main`` builds,
caught at its ``parse_args`` call. Lines of other programs (pip, pytest, ``./setup.sh``) and comments are skipped, so
a flag is only ever checked against the command it is given to."""
from __future__ import annotations

import argparse
import configparser
import importlib
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: after `` -- `` these commands hand the rest of the line to another command's parser
PASS_THROUGH = {"benchmarks.bench_quickstart": "demos.quickstart"}
FLAG = re.compile(r"^-{1,2}[A-Za-z][\w-]*$")


def console_scripts() -> dict[str, str]:
    """``{"lwpose-infer": "ov_inference.__main__", ...}`` from setup.cfg."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    scripts = {}
    for line in cfg["options.entry_points"]["console_scripts"].strip().splitlines():
        name, target = (part.strip() for part in line.split("="))
        scripts[name] = target.split(":")[0]
    return scripts


SCRIPTS = console_scripts()


class _Parsed(Exception):
    def __init__(self, parser: argparse.ArgumentParser):
        super().__init__()
        self.parser = parser


_parsers: dict[str, argparse.ArgumentParser] = {}


def parser_of(module_name: str) -> argparse.ArgumentParser:
    """The argparse parser of ``module_name``'s command line, built without running the command."""
    if module_name not in _parsers:
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        module = importlib.import_module(module_name)
        builder = getattr(module, "build_parser", None) or getattr(module, "_parser", None)
        if builder is not None:
            _parsers[module_name] = builder()
        else:  # a parser built inside main(): stop main at its parse_args and keep the parser
            def caught(self, *args, **kwargs):
                raise _Parsed(self)
            saved = argparse.ArgumentParser.parse_args, argparse.ArgumentParser.parse_known_args
            argparse.ArgumentParser.parse_args = argparse.ArgumentParser.parse_known_args = caught
            try:
                module.main([])
            except _Parsed as parsed:
                _parsers[module_name] = parsed.parser
            finally:
                argparse.ArgumentParser.parse_args, argparse.ArgumentParser.parse_known_args = saved
            assert module_name in _parsers, f"{module_name}.main() built no parser"
    return _parsers[module_name]


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return {name: sub for action in parser._actions if isinstance(action, argparse._SubParsersAction)
            for name, sub in action.choices.items()}


def command_module(words: list[str]) -> tuple[str | None, list[str]]:
    """The module whose ``main`` runs ``words`` (a shell command split into words) and the words after the command
    name; ``None`` for anything that is not a project command."""
    while words and re.match(r"^\w+=", words[0]):  # VAR=value prefixes
        words = words[1:]
    if not words:
        return None, []
    program = words[0].rsplit("/", 1)[-1]
    if program in SCRIPTS:
        return SCRIPTS[program], words[1:]
    if program == "torchrun" and "-m" in words:
        words = ["python", *words[words.index("-m"):]]
        program = "python"
    if re.fullmatch(r"python[\d.]*", program) and len(words) > 1:
        if words[1] == "-m" and len(words) > 2:
            module = words[2]
            if module in ("pytest", "pip", "venv"):
                return None, []
            is_package = (ROOT / module.replace(".", "/") / "__main__.py").is_file()
            return (f"{module}.__main__" if is_package else module), words[3:]
        script = re.fullmatch(r"(?:\./)?benchmarks/(\w+)\.py", words[1])
        if script:
            return f"benchmarks.{script.group(1)}", words[2:]
    return None, []


def split_commands(line: str) -> list[str]:
    """``line`` cut at ``&&``, ``||``, ``;``, ``|`` and ``$(...)`` (whose inside is a command of its own), outside
    quotes and outside the ``[...]`` of a usage line (``[--scales S | --multiscale]``)."""
    inner = re.findall(r"\$\(([^()]*)\)", line)
    line = re.sub(r"\$\([^()]*\)", "X", line)
    pieces, current, depth, quote = [], "", 0, None
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "[":
            depth += 1
        elif c == "]":
            depth = max(0, depth - 1)
        elif depth == 0 and (line.startswith("&&", i) or line.startswith("||", i)):
            pieces.append(current)
            current, i = "", i + 2
            continue
        elif depth == 0 and c in ";|>":
            pieces.append(current)
            current = ""
            if c == ">":  # a redirection: its target is no command
                current = "\0"
            i += 1
            continue
        current += c
        i += 1
    pieces.append(current)
    return [p for p in pieces if p.strip() and not p.startswith("\0")] + [c for s in inner for c in split_commands(s)]


def words_of(command: str) -> list[str]:
    """Shell words, quotes removed, the brackets of optional parts dropped."""
    words = re.findall(r"'[^']*'|\"[^\"]*\"|\S+", command)
    return [w.strip("'\"") if w[:1] in "'\"" else w.strip("[]") for w in words]


def command_lines() -> list[tuple[int, str]]:
    """``(line number, command line)`` of README's fenced bash blocks (continuations joined, comments removed) and
    of its inline code spans that start with a project command."""
    lines = README.read_text(encoding="utf-8").splitlines()
    found, block, pending, start = [], None, "", 0
    for number, line in enumerate(lines, 1):
        if line.startswith("```"):
            block = None if block is not None else line[3:].strip()
            continue
        if block is None:
            for span in re.findall(r"`([^`]+)`", line):
                if command_module(words_of(span))[0]:
                    found.append((number, span))
            continue
        if block not in ("bash", "sh", "shell", "console"):
            continue
        if not pending:
            start = number
        code = re.sub(r"(^|\s)#.*$", "", line).rstrip()
        if code.endswith("\\"):
            pending += code[:-1] + " "
            continue
        found.append((start, pending + code))
        pending = ""
    return found


def checked_flags() -> list[tuple[int, str, str, str]]:
    """``(line, command module, flag, parser module, parser)`` for every flag given to a project command in README."""
    out = []
    for number, line in command_lines():
        for command in split_commands(line):
            module, words = command_module(words_of(command))
            if module is None:
                continue
            target, parser = module, parser_of(module)
            chosen_sub = False
            for word in words:
                if word == "--":
                    if module not in PASS_THROUGH:
                        break
                    target = PASS_THROUGH[module]
                    parser, chosen_sub = parser_of(target), False
                    continue
                subs = subparsers(parser)
                if not chosen_sub and word in subs:
                    parser, chosen_sub = subs[word], True
                    continue
                flag = word.split("=", 1)[0]
                if FLAG.match(flag):
                    out.append((number, module, flag, target, parser))
    return out


def test_readme_names_only_flags_its_commands_accept():
    flags = checked_flags()
    unknown = [f"README.md:{number}: {flag} is not an option of {target} ({parser.prog})"
               for number, _module, flag, target, parser in flags if flag not in parser._option_string_actions
               and not any(flag in sub._option_string_actions for sub in subparsers(parser).values())]
    assert not unknown, "\n".join(unknown)


def test_the_check_sees_every_command():
    """The extraction works: README's command lines reach every console script and the main module commands."""
    seen = {module for _number, module, _flag, _target, _parser in checked_flags()}
    expected = set(SCRIPTS.values()) | {"train.evaluate", "train.synthetic", "benchmarks.bench_train"}
    assert expected <= seen, sorted(expected - seen)
    assert len(checked_flags()) > 150


@pytest.mark.parametrize("line, module, flags", [
    ("lwpose-weights download --url U --force", "demos.weights", ["--url", "--force"]),
    (".venv/bin/python -m train.evaluate --flip [--scales S [S ...] | --multiscale]", "train.evaluate",
     ["--flip", "--scales", "--multiscale"]),
    ("torchrun --nproc_per_node 4 -m train --amp", "train.__main__", ["--amp"]),
    ("python benchmarks/bench_quickstart.py --json x -- --train-minutes 1", "benchmarks.bench_quickstart",
     ["--json", "--train-minutes"]),
    ("pip install -e '.[convert]'", None, []),
    ("./setup.sh --test && .venv/bin/python -m pytest -q tests", None, []),
])
def test_command_recognition(line, module, flags):
    got_modules, got_flags = set(), []
    for command in split_commands(line):
        mod, words = command_module(words_of(command))
        if mod:
            got_modules.add(mod)
            got_flags += [w.split("=")[0] for w in words if FLAG.match(w.split("=")[0])]
    assert got_modules == ({module} if module else set())
    assert [f for f in got_flags if f != "--"] == flags
