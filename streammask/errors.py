"""The error hierarchy. Messages name files, lines, tables and columns, never values."""

from __future__ import annotations


class StreamMaskError(Exception):
    """Root of every error streammask raises on purpose."""


class PolicyError(StreamMaskError):
    """A policy file is invalid; each problem names where it is and how to fix it."""

    def __init__(self, problems: list[PolicyProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class PolicyProblem:
    """One validation problem: file, line, table, column and what to do about it."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        table: str | None = None,
        column: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.table = table
        self.column = column

    def __str__(self) -> str:
        where = self.file or "<policy>"
        if self.line is not None:
            where += f":{self.line}"
        parts = [where]
        if self.table is not None:
            parts.append(f"table {self.table}")
        if self.column is not None:
            parts.append(f"column {self.column}")
        return ": ".join([", ".join(parts), self.message])

    def __repr__(self) -> str:
        return f"PolicyProblem({self!s})"


class ConfigError(StreamMaskError):
    """The proxy config file is invalid; each problem names the file, line and what to fix."""

    def __init__(self, problems: list[PolicyProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class KeyError_(StreamMaskError):
    """The masking key could not be loaded (missing env var, unreadable file, too short)."""


class MaskingError(StreamMaskError):
    """A value could not be masked. The message must never contain the value itself."""

    def __init__(self, message: str, *, column: str | None = None) -> None:
        self.column = column
        super().__init__(message)


class TypeNotPreserved(MaskingError):
    """A strategy cannot give this value a masked form that is still valid for its column type (a uuid, an
    address, a width): the record is blocked rather than carry an invalid value to the sink."""


class EntityUnavailable(MaskingError):
    """A ``shift`` column's entity is not in the rows at hand (a partial ``before``, another row's key)."""


class DecodeError(StreamMaskError):
    """A record could not be decoded as a Debezium event. Never carries the record's bytes."""


class WrongFormat(DecodeError):
    """A record is not in the wire format configured for it (JSON where Avro is expected, or the reverse,
    or a framing streammask does not read)."""


class RegistryError(StreamMaskError):
    """A registry call failed. ``url`` carries no credentials; ``status`` is None when no HTTP answer came.
    ``unreachable``: no usable answer after every retry — a fault of the registry, not of a record."""

    unreachable = False

    def __init__(
        self,
        what: str,
        *,
        url: str,
        subject: str | None = None,
        status: int | None = None,
        error_code: int | None = None,
    ) -> None:
        self.url = url
        self.subject = subject
        self.status = status
        self.error_code = error_code
        where = f"registry {url}" + (f", subject {subject}" if subject is not None else "")
        super().__init__(f"{where}: {what}")
