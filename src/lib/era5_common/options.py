"""Options as every job and tool reads them: one spec, one resolver, one boolean parser.

A job lists its options once, as :class:`Option` records: the job script's argparse (or
Glue's ``getResolvedOptions``), its typed config and the README's option table all read
that list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TRUE = ("true", "1", "yes", "y", "on")
FALSE = ("false", "0", "no", "n", "off")


def parse_bool(text: object, name: str, *, empty: bool | None = False) -> bool:
    """``true``/``false``, also ``1 yes y on`` / ``0 no n off``, any case.

    Parameters
    ----------
    text
        The value as given (a string from argv, the environment or ``.env``).
    name
        How the user spelt the option, for the message (``--lines``, ``ERA5_CREATE_DATABASE``).
    empty
        What an empty value means; ``None`` refuses it.

    Raises
    ------
    ValueError
        Naming ``name`` and the text.
    """
    value = str(text).strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    if value == "" and empty is not None:
        return empty
    raise ValueError(f"{name} must be true or false, got {text!r}")


@dataclass(frozen=True)
class Option:
    """One option of a job: its name (Glue-style, underscores), default and meaning.

    ``default`` is a string as the command line gives it; ``""`` is no default (the option
    is then optional unless ``required``).
    """

    name: str
    default: str = ""
    help: str = ""
    required: bool = False


def defaults(options: Iterable[Option]) -> dict[str, str]:
    """Option name -> default, in order: every name a job takes."""
    return {o.name: o.default for o in options}


def required(options: Iterable[Option]) -> tuple[str, ...]:
    """The names of the options a run cannot do without."""
    return tuple(o.name for o in options if o.required)


def resolve(options: Sequence[Option], args: Mapping[str, Any]) -> dict[str, str]:
    """Each option's value as given in ``args`` (stripped), else its default.

    Raises
    ------
    ValueError
        Naming every required option without a value.
    """
    raw = {
        o.name: "" if args.get(o.name) is None else str(args.get(o.name)).strip() for o in options
    }
    for o in options:
        if raw[o.name] == "":
            raw[o.name] = o.default
    missing = [o.name for o in options if o.required and not raw[o.name]]
    if missing:
        raise ValueError(f"missing required option(s): {', '.join('--' + m for m in missing)}")
    return raw


def markdown_table(options: Iterable[Option]) -> str:
    """The options as a Markdown table (the README's, generated from the code)."""
    lines = ["| option | default | what it does |", "| --- | --- | --- |"]
    for o in options:
        default = "required" if o.required else f"`{o.default}`" if o.default else "none"
        text = o.help.replace("|", "\\|")
        lines.append(f"| `--{o.name}` | {default} | {text} |")
    return "\n".join(lines) + "\n"
