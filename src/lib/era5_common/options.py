"""Option values as every job and tool reads them: one boolean parser for the project."""

from __future__ import annotations

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
