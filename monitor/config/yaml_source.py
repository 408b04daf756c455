"""YAML with positions: read a file, and say where in it a key, a value or a column of a
value stands, so that every configuration problem is reported as path:line:col.

ruamel.yaml's round-trip loader keeps each node's line and column; pydantic's errors
are mapped back onto those nodes here. Nothing here knows what monitor's files mean.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)

from monitor.errors import Problem, Severity

_yaml = YAML(typ="rt")
# Quoted scalars keep their style, so a column inside one can be found past its quote.
_yaml.preserve_quotes = True


def position(node: Any, key: Any, *, of_value: bool = False) -> tuple[int, int]:
    """1-based line and column of a key (or its value) in a ruamel container."""
    try:
        if isinstance(node, CommentedSeq):
            line, col = node.lc.item(key)
        elif of_value:
            line, col = node.lc.value(key)
        else:
            line, col = node.lc.key(key)
        return line + 1, col + 1
    except (AttributeError, KeyError, IndexError, TypeError):
        return start(node)


def start(node: Any) -> tuple[int, int]:
    lc = getattr(node, "lc", None)
    if lc is None or lc.line is None:
        return 1, 1
    return lc.line + 1, lc.col + 1


class FileReader:
    """Reads one YAML file and turns what is wrong with it into located Problems."""

    def __init__(self, path: Path, shown: str) -> None:
        self.path = path
        self.shown = shown
        self.problems: list[Problem] = []
        self.lines: list[str] = []

    def problem(
        self, line: int, col: int, message: str, severity: Severity = Severity.ERROR
    ) -> None:
        """Record a problem at line:col of this file."""
        self.problems.append(Problem(self.shown, line, col, message, severity))

    def load(self) -> Any:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self.problem(1, 1, "file not found")
            return None
        except (OSError, UnicodeDecodeError) as e:
            self.problem(1, 1, f"cannot read: {e}")
            return None
        try:
            self.lines = text.splitlines()
            return _yaml.load(text)
        except MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            self.problem(line, col, f"YAML: {e.problem or e.context}")
        except YAMLError as e:
            self.problem(1, 1, f"YAML: {e}")
        # ruamel recurses once per level of nesting, and int() refuses more than 4,300 digits.
        # Neither is a YAMLError, and either would otherwise stop load_config over one file.
        except RecursionError:
            self.problem(1, 1, "YAML: nested too deeply to read")
        except ValueError as e:
            self.problem(1, 1, f"YAML: {e}")
        return None

    def validation(self, error: ValidationError, root: Any) -> None:
        for err in error.errors():
            loc = list(err["loc"])
            node, line, col = root, *start(root)
            for step in loc:
                if isinstance(node, dict) and step in node:
                    last = step == loc[-1]
                    line, col = position(
                        node, step, of_value=last and err["type"] != "extra_forbidden"
                    )
                    node = node[step]
                elif isinstance(node, list) and isinstance(step, int) and step < len(node):
                    line, col = position(node, step)
                    node = node[step]
                else:
                    break
            self.problem(line, col, message(err))

    def items(self, root: Any, key: str, *, beside: Collection[str] = ()) -> Iterator[Any]:
        """The entries of a top-level list such as `feeds:` or `rules:`; the top-level keys
        in `beside` (a rule file's `places:`) may stand next to it."""
        if root is None:
            if not self.problems:
                self.problem(1, 1, f"the file is empty; expected a '{key}:' list")
            return
        if not isinstance(root, dict):
            self.problem(*start(root), f"expected a mapping with a '{key}:' list")
            return
        for other in root:
            if other != key and other not in beside:
                self.problem(*position(root, other), f"unknown key {other!r} (expected {key!r})")
        entries = root.get(key)
        if not isinstance(entries, list):
            if key in root:
                self.problem(*position(root, key, of_value=True), f"'{key}' must be a list")
            else:
                self.problem(*start(root), f"missing '{key}:' list")
            return
        for i, entry in enumerate(entries):
            if isinstance(entry, dict):
                yield entry
            else:
                self.problem(*position(entries, i), f"each entry of '{key}' must be a mapping")


def message(err: Any) -> str:
    loc = err["loc"]
    name = str(loc[-1]) if loc else ""
    if err["type"] == "extra_forbidden":
        return f"unknown key {name!r}"
    if err["type"] in ("model_type", "dict_type"):
        return (
            f"{name}: expected a mapping of settings" if name else "expected a mapping of settings"
        )
    if err["type"] == "missing":
        return f"missing required field {name!r}"
    if err["type"] == "string_pattern_mismatch":
        return f"{name}: use letters, digits, '.', '_' and '-' only (got {err['input']!r})"
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{name}: {msg}" if name else msg


M = TypeVar("M", bound=BaseModel)


def validate(reader: FileReader, model: type[M], data: Any) -> M | None:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        reader.validation(e, data)
        return None


def scalar_segments(
    lines: list[str], line: int, col: int, raw: object
) -> list[tuple[int, int, str]]:
    """The source pieces a scalar's text is made of: (line, column, text), 1-based.

    Block scalars (| and >) start on the line after their indicator, at the block's
    indentation; plain and quoted scalars start at their first character (past the quote)
    and may continue on more-indented lines.
    """
    if isinstance(raw, LiteralScalarString | FoldedScalarString):
        segments: list[tuple[int, int, str]] = []
        indent: int | None = None
        for number in range(line + 1, len(lines) + 1):
            text = lines[number - 1]
            if not text.strip():
                continue
            here = len(text) - len(text.lstrip(" "))
            indent = here if indent is None else indent
            if here < indent:
                break
            segments.append((number, indent + 1, text[indent:]))
        return segments
    quoted = isinstance(raw, DoubleQuotedScalarString | SingleQuotedScalarString)
    first = col + int(quoted)
    segments = [(line, first, lines[line - 1][first - 1 :] if line <= len(lines) else "")]
    for number in range(line + 1, len(lines) + 1):
        text = lines[number - 1]
        stripped = text.lstrip(" ")
        segments.append((number, len(text) - len(stripped) + 1, stripped))
    return segments


def value_position(
    reader: FileReader, entry: CommentedMap, key: str, column: int
) -> tuple[int, int]:
    """Where in the file the `column` (1-based, in the parsed text) of `entry[key]` stands.

    Walks the scalar's source, counting an escape (\\" or '') as the one character it
    stands for, and a line break as the one space or newline it folds into.
    """
    line, col = position(entry, key, of_value=True)
    raw = entry[key]
    quote = (
        '"'
        if isinstance(raw, DoubleQuotedScalarString)
        else ("'" if isinstance(raw, SingleQuotedScalarString) else "")
    )
    remaining = column - 1
    for number, start, text in scalar_segments(reader.lines, line, col, raw):
        i = 0
        while i < len(text):
            if remaining == 0:
                return number, start + i
            two = text[i : i + 2]
            i += 2 if (quote == '"' and text[i] == "\\") or (quote == "'" and two == "''") else 1
            remaining -= 1
        if remaining == 0:
            return number, start + len(text)
        remaining -= 1  # the line break
    return line, col


def shown_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
