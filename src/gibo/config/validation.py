"""A config error as one line: the file, the key path, what was expected and what was found."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError


class ConfigError(ValueError):
    """A config the user wrote is wrong; the message is one line naming the file and the key."""


def _model_at(cls, loc) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at `loc` below `cls` (None where there is none)."""
    for key in loc:
        field = next((f for n, f in getattr(cls, "model_fields", {}).items() if key in (n, f.alias)), None)
        args = (field.annotation, *getattr(field.annotation, "__args__", ())) if field else ()
        cls = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return cls


def one_line(error: ValidationError, cls, prefix=()) -> str:
    """The most specific error as `key.path: what was expected, what was found`."""

    def union_tag(p) -> bool:
        return isinstance(p, str) and ("[" in p or "-" in p or p in ("int", "float", "str", "bool"))

    e = max(error.errors(include_url=False), key=lambda e: len([p for p in e["loc"] if not union_tag(p)]))
    loc = [*prefix, *(str(p) for p in e["loc"] if p != "[key]" and not union_tag(p))]
    path, kind = ".".join(loc), e["type"]
    ops = {"greater_than": ">", "greater_than_equal": "≥", "less_than": "<", "less_than_equal": "≤"}
    if kind == "extra_forbidden":
        where = _model_at(cls, loc[len(prefix) : -1])
        allowed = (
            f" (allowed: {', '.join(sorted(f.alias or n for n, f in where.model_fields.items()))})" if where else ""
        )
        return f"{'.'.join(loc[:-1]) + ': ' if len(loc) > 1 else ''}unknown key {loc[-1]}{allowed}"
    if kind == "missing":
        return f"{path}: missing required key"
    if kind in ops:
        return f"{path}: got {e['input']!r}, allowed {ops[kind]} {next(iter(e['ctx'].values())):g}"
    if kind == "too_short":
        n = e["ctx"]["min_length"]
        return f"{path}: got {e['input']!r}, expected at least {n} {'entry' if n == 1 else 'entries'}"
    if kind == "literal_error":
        return f"{path}: expected one of {e['ctx']['expected']}, got {e['input']!r}"
    if kind == "value_error":
        message = e["msg"].removeprefix("Value error, ")
        head = message.split(":", 1)[0]  # a message that starts with a key path continues the location
        return (
            f"{path}.{message}"
            if path and ":" in message and " " not in head
            else f"{path + ': ' if path else ''}{message}"
        )
    return f"{path}: expected {e['msg'].removeprefix('Input should be ')}, got {e['input']!r}"


def validate(cls, data, prefix=(), error_type=ConfigError):
    try:
        return cls.model_validate({} if data is None else data)
    except ValidationError as error:
        raise error_type(one_line(error, cls, prefix)) from None
