"""What the shell parser hands on: a line's simple commands and their words, static or known
only at run time. Plain data, shared by the walk (``_shellwalk``) and its readers (``_shellruns``,
the web console)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Dyn", "Script", "ShellParseError", "Simple", "Word"]


class ShellParseError(ValueError):
    """The command is not something the parser can analyse with confidence."""


@dataclass(frozen=True, slots=True)
class Dyn:
    """A word known only at run time. ``multi``: may become any number of words (unquoted
    expansion, glob); ``prefix``: its static leading text (a glob ``src/*`` is never an option)."""

    text: str
    multi: bool
    prefix: str = ""
    glob: bool = False  # from pathname, brace or tilde expansion: no side effects, no variables


Word = str | Dyn


@dataclass(frozen=True, slots=True)
class Simple:
    """One simple command: its words after the assignment prefix (``X=1``)."""

    words: tuple[Word, ...]
    assigns: bool = False
    stdin: Word | None = None  # a here-string (``<<< text``): a script when fed to a shell


@dataclass(slots=True)
class Script:
    """Every simple command anywhere in a line (inside substitutions, bodies, branches).

    ``plain``: only simple commands of static words (globs allowed) joined by ``;`` ``&&`` ``||``
    ``|`` ``&``, no assignment, redirection, substitution or compound command. ``unknown``: why
    the line cannot be analysed (then no answer about it may be "no").
    """

    commands: list[Simple] = field(default_factory=list)
    plain: bool = True
    unknown: str | None = None
    runs: object = None  # what it may run, computed once by _shellruns.runs_of
    assigned: set[str] = field(default_factory=set)  # variables assigned or exported anywhere in it
