"""What every `ahu-*` command shares: its parser, its one-line errors, its logging.

A command builds a `CommandParser` (or `hf_command_parser(dataclasses)`, over transformers' `HfArgumentParser`)
and wraps its `run` in `run_command`:

```python
parser = CommandParser(prog="ahu-pretrain", description=__doc__)
...
def main(argv=None) -> int:
    return run_command(run, argv, prog="ahu-pretrain")
```

Then:
- a mistake in the arguments (unknown or misspelled option, missing value, bad choice) or one of the
  project's own errors (`hf_loader.errors.AHUDataError` and its subclasses, the RViT configuration, input and
  conversion errors) prints one line on stderr, `<prog>: error: <what and how to fix it>`, and exits with 2;
  `--debug` (or `AHU_DEBUG=1`) shows the traceback instead;
- an unknown option gets "did you mean --learning_rate?"; abbreviations are off (`--max_step` is not
  `--max_steps`); `--output-dir` and `--output_dir` are the same option;
- only the project's own loggers speak, at INFO; `--verbose` lets the libraries' INFO messages and warnings
  through too.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from hf_loader.errors import AHUDataError

DEBUG_ENV = "AHU_DEBUG"
DEBUG_FLAG = "--debug"
VERBOSE_FLAG = "--verbose"
PROJECT_LOGGERS = ("hf_loader", "ahu_train", "modeling_rvit")
# Library loggers that log every HTTP request at INFO.
NOISY_LOGGERS = ("httpx", "urllib3", "filelock", "fsspec")
# Warnings a CPU run repeats for each DataLoader while nothing is wrong.
NOISY_WARNINGS = (r".*'pin_memory' argument is set as true but no accelerator is found.*",)
# Error classes outside hf_loader that are a user's mistake, by module and name (matched by name, so that no
# command imports torch to catch them, and a module run as `python -m` (`__main__`) counts too).
USER_ERROR_CLASSES = {
    ("modeling_rvit.configuration_rvit", "RViTConfigError"),
    ("modeling_rvit.modeling_rvit", "RViTInputError"),
    ("modeling_rvit.convert_rvit_reference", "RViTConversionError"),
}


class CommandError(AHUDataError):
    """A command-line mistake found after parsing (options that contradict each other, a value that cannot apply)."""

    reason = "bad command line"


def one_line(text: object, limit: int = 600) -> str:
    """`text` on one line (whitespace runs collapsed), cut at `limit` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def is_user_error(error: BaseException) -> bool:
    """Whether `run_command` reports `error` in one line: an `AHUDataError` (which covers `TrainingDataError`
    and every other project data error) or a class of `USER_ERROR_CLASSES`."""
    if isinstance(error, AHUDataError):
        return True
    names = {name for _, name in USER_ERROR_CLASSES}
    return any(
        (cls.__module__, cls.__name__) in USER_ERROR_CLASSES
        or (cls.__module__ == "__main__" and cls.__name__ in names)
        for cls in type(error).__mro__
    )


def model_path_problem(name: str | None) -> str | None:
    """What is wrong with `name` as a saved model (a folder or a Hub repo id), as far as the disk can tell: a
    name that can only be a local path (absolute, starting with `.` or `~`, or with more than one `/`; a Hub repo
    id is `name` or `owner/name`) that does not exist, or a folder without a `config.json`. None otherwise."""
    if not name:
        return None
    path = Path(name).expanduser()
    if path.is_dir():
        return None if (path / "config.json").is_file() else "holds no config.json (not a saved model folder)"
    if path.exists():
        return "is a file; give the saved model's folder"
    if name.startswith(("/", ".", "~")) or name.count("/") > 1:
        return "no such folder (a saved model folder or a Hub repo id)"
    return None


def debug_requested(argv: Sequence[str]) -> bool:
    return DEBUG_FLAG in argv or os.environ.get(DEBUG_ENV, "").strip() not in ("", "0", "false", "False")


class _StderrHandler(logging.StreamHandler):
    """A handler that writes to whatever `sys.stderr` is when a record comes (pytest's capture swaps it)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def configure_logging(verbose: bool = False) -> None:
    """INFO messages of the project's loggers on stderr; the libraries stay at WARNING unless `verbose`.

    The root logger is left alone (a library's INFO lines go nowhere) unless `verbose`, which gives it INFO too.
    """
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    for name in PROJECT_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        if not any(isinstance(handler, _StderrHandler) for handler in logger.handlers):
            handler = _StderrHandler()
            handler.setFormatter(formatter)
            logger.addHandler(handler)
        logger.propagate = False
    if verbose:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.INFO)
        logging.getLogger().setLevel(logging.INFO)
        for name in NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
        return
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in NOISY_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)


def run_command(run: Callable[[list[str]], object], argv: Sequence[str] | None = None, *, prog: str) -> int:
    """Runs `run(argv)` as console command `prog`; returns its exit status.

    0 when `run` returns (whatever it returns, unless an int, which is the status); 2 with one line on stderr
    for a user's error (`is_user_error`), or the traceback with `--debug` / `AHU_DEBUG=1`.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    configure_logging(verbose=VERBOSE_FLAG in argv)
    try:
        status = run(argv)
    except Exception as error:
        if not is_user_error(error) or debug_requested(argv):
            raise
        print(f"{prog}: error: {one_line(error)} (--debug shows the traceback)", file=sys.stderr)
        return 2
    except SystemExit as exit_:
        # argparse's exits (--help: 0, a parser error: 2, already printed); a message is a user error.
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0
        print(f"{prog}: error: {one_line(exit_.code)}", file=sys.stderr)
        return 2
    return status if isinstance(status, int) and not isinstance(status, bool) else 0


class DefaultsHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help text as written (the description keeps its examples' lines), with "(default: X)" appended to an
    option whose help does not state its default already and whose default says something (not None/False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "default" in text.lower()
            or any(action.default is unset for unset in (None, False, argparse.SUPPRESS))
            or action.default == ""
            or action.option_strings == []
            or isinstance(action, argparse._HelpAction)
        ):
            return text
        default = action.default
        if isinstance(default, (list, tuple)):
            default = " ".join(map(str, default))
        return f"{text} (default: {default})" if text else f"(default: {default})"


class CommandParserMixin:
    """The parsing behaviour every command shares (see the module docstring); mixed into `argparse.ArgumentParser`
    or transformers' `HfArgumentParser`."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        self._renamed_options: dict[str, str] = {}
        super().__init__(*args, **kwargs)

    def format_usage(self) -> str:
        self._shorten_usage()
        return super().format_usage()

    def format_help(self) -> str:
        self._shorten_usage()
        return super().format_help()

    def _shorten_usage(self) -> None:
        """One usage line: the positionals and required options, then `[options]` (argparse lists every option,
        which for `ahu-train` is a page)."""
        if self.usage is not None:
            return

        def spelled(action: argparse.Action) -> str:
            metavar = action.metavar or action.dest.upper()
            if not action.option_strings:
                return f"{metavar} [{metavar} ...]" if action.nargs == "+" else metavar
            return f"{action.option_strings[0]} {metavar}"

        grouped = {id(action) for group in self._mutually_exclusive_groups for action in group._group_actions}
        parts = [
            "(" + " | ".join(spelled(action) for action in group._group_actions) + ")"
            for group in self._mutually_exclusive_groups
            if group.required
        ]
        parts += [
            spelled(action)
            for action in self._actions
            if id(action) not in grouped and (not action.option_strings or action.required)
        ]
        self.usage = " ".join(["%(prog)s", *parts, "[options]"])

    def add_common_options(self) -> None:
        """`--debug` and `--verbose` (read by `run_command`); the parser accepts them so `--help` shows them."""
        group = self.add_argument_group("output")
        group.add_argument(
            DEBUG_FLAG,
            dest="show_traceback",
            action="store_true",
            help=f"show the traceback of an error instead of one line (or set {DEBUG_ENV}=1)",
        )
        group.add_argument(
            VERBOSE_FLAG, action="store_true", help="also show the libraries' INFO messages and warnings"
        )

    def add_renamed_option(self, old: str, new: str) -> None:
        """`old` keeps working as `new`, with a note on stderr that it is deprecated."""
        self._renamed_options[old] = new

    def error(self, message: str):
        """One line on stderr, exit status 2 (argparse prints the usage too, which buries the message)."""
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")

    def known_options(self) -> list[str]:
        """The long options as `--help` lists them (suggestions name these)."""
        return [
            option for action in self._actions for option in action.option_strings if option.startswith("--")
        ]

    def _spelled_as_known(self, option: str) -> str:
        """`option` as this parser spells it: `--output-dir` is `--output_dir`, a renamed option its new name."""
        if option in self._renamed_options:
            new = self._renamed_options[option]
            print(f"{self.prog}: note: {option} is deprecated; use {new}", file=sys.stderr)
            return new
        if option in self._option_string_actions or not option.startswith("--"):
            return option
        for candidate in ("--" + option[2:].replace("-", "_"), "--" + option[2:].replace("_", "-")):
            if candidate in self._option_string_actions:
                return candidate
            if candidate in self._renamed_options:
                return self._spelled_as_known(candidate)
        return option

    def normalize_args(self, args: Sequence[str]) -> list[str]:
        normalized = []
        for position, token in enumerate(args):
            if token == "--":
                return normalized + list(args[position:])
            if token.startswith("--"):
                name, equals, value = token.partition("=")
                token = self._spelled_as_known(name) + equals + value
            normalized.append(token)
        return normalized

    def parse_known_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else args
        return super().parse_known_args(self.normalize_args(args), namespace)

    def parse_args(self, args=None, namespace=None):
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            self.error(self.unknown_arguments_message(extras))
        return namespace

    def unknown_arguments_message(self, extras: Sequence[str]) -> str:
        """ "unknown option --lerning_rate (did you mean --learning_rate?)" for the first unknown argument."""
        first = extras[0]
        if not first.startswith("-"):
            return f"unexpected argument {first!r}"
        name = first.partition("=")[0]
        known = self.known_options()
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75) or difflib.get_close_matches(
            name.replace("-", "_"), known, n=1, cutoff=0.6
        )
        hint = f" (did you mean {close[0]}?)" if close else ""
        others = [extra.partition("=")[0] for extra in extras[1:] if extra.startswith("--")]
        more = f"; also unknown: {', '.join(others)}" if others else ""
        return f"unknown option {name}{hint}{more}"


class CommandParser(CommandParserMixin, argparse.ArgumentParser):
    """`argparse.ArgumentParser` as the `ahu-*` commands use it (one-line errors, did-you-mean, `_`/`-`
    spellings, no abbreviations, `--debug` and `--verbose`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_common_options()


def hf_command_parser(dataclass_types, **kwargs):
    """A transformers `HfArgumentParser` over `dataclass_types` with `CommandParser`'s behaviour.

    Only the `_` spelling of each option is listed in `--help` (the `-` one still parses), and
    `TrainingArguments`' own `--debug` (torch debug modes) is renamed `--trainer_debug`, so that `--debug` means
    what it means for every command.
    """
    from transformers import HfArgumentParser

    class HfCommandParser(CommandParserMixin, HfArgumentParser):
        pass

    parser = HfCommandParser(dataclass_types, **kwargs)
    trainer_debug = parser._option_string_actions.pop(DEBUG_FLAG, None)
    if trainer_debug is not None:
        trainer_debug.option_strings = ["--trainer_debug"]
        parser._option_string_actions["--trainer_debug"] = trainer_debug
    for action in parser._actions:
        spelled = [
            option for option in action.option_strings if not (option.startswith("--") and "-" in option[2:])
        ]
        if spelled:
            action.option_strings = spelled
    parser.add_common_options()
    return parser
