"""A small POSIX-like shell over a simulated `Guest`, and the commands of its image.

The language: words and quoting (' " \\), parameter expansion ($VAR ${VAR} ${VAR:-x} ${#VAR}
${VAR#p} ${VAR%p} ...), $? $# $@ $* $0-$9, command substitution $(...) and `...`,
arithmetic $((...)), field splitting, pathname expansion on the guest's files, `;` `&` `&&`
`||` `|` `!`, redirections (< > >> 2> 2>&1 >&2 &> <<EOF <<-EOF), if/elif/else, for, while,
until, case, { }, ( ), functions, and the builtins (cd, export, set -e/-u/-x/-o pipefail,
read, exit, return, shift, eval, ., test/[ ...). Pipes run their commands one after the other,
each reading what the one before wrote.

Every command reads and changes only the `Guest` (guest.py): nothing here opens a file, runs a
process or touches a device of the machine the simulator runs on.

Commands are coroutines: with a terminal a command may wait for typed input (a prompt of
mkfs.ext4, `read`, `cat`) or sleep; without one (Run Command, an SSH exec with its input
already given) nothing waits, and `Shell.run_line` drives the coroutine to its end at once.
"""

from __future__ import annotations

import asyncio
import functools
import re
import shlex
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from .guest import Credentials, Guest, GuestError, PathError, ScriptResult

# ================================================================ syntax tree


@dataclass
class Redirect:
    fd: int
    op: str  # < > >> <> >& <& >| << <<- &> &>>
    target: str  # raw word (or the here-document body)
    quoted_heredoc: bool = False


@dataclass
class SimpleCommand:
    assignments: list[str]
    words: list[str]
    redirects: list[Redirect]
    line: int = 1


@dataclass
class Pipeline:
    commands: list[Any]
    negate: bool = False


@dataclass
class AndOr:
    first: Pipeline
    rest: list[tuple[str, Pipeline]]  # ("&&" | "||", pipeline)


@dataclass
class CommandList:
    items: list[tuple[AndOr, bool]]  # (and-or list, run in background)


@dataclass
class Compound:
    body: Any
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class BraceGroup:
    body: CommandList


@dataclass
class Subshell:
    body: CommandList


@dataclass
class IfClause:
    branches: list[tuple[CommandList, CommandList]]
    otherwise: CommandList | None


@dataclass
class ForClause:
    name: str
    words: list[str] | None  # None: "$@"
    body: CommandList


@dataclass
class WhileClause:
    condition: CommandList
    body: CommandList
    until: bool = False


@dataclass
class CaseClause:
    word: str
    items: list[tuple[list[str], CommandList | None]]


@dataclass
class FunctionDef:
    name: str
    body: Any  # a Compound


class ShellSyntaxError(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


class Incomplete(ShellSyntaxError):
    """The input ends inside a construct: an interactive shell asks for more (PS2)."""


# ================================================================ lexer

METACHARS = set(" \t\n;&|<>()")
OPERATORS = ["&&", "||", ";;", "<<-", "<<", ">>", "<&", ">&", "<>", ">|", "&>>", "&>", ";", "&", "|", "<", ">",
             "(", ")", "\n"]
RESERVED = {"if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for", "in",
            "{", "}", "!", "function"}
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ASSIGN_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(\+?)=(.*)", re.S)


@dataclass
class Token:
    kind: str  # WORD | OP | EOF
    value: str
    line: int
    io_number: int | None = None
    redirect: Redirect | None = None  # for here-document operators, filled at the next newline


class Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.pending_heredocs: list[tuple[Redirect, str, bool]] = []  # (redirect, delimiter, strip tabs)

    def error(self, message: str) -> ShellSyntaxError:
        return ShellSyntaxError(message, self.line)

    def next_token(self) -> Token:
        text = self.text
        while True:
            while self.pos < len(text) and text[self.pos] in " \t":
                self.pos += 1
            if text.startswith("\\\n", self.pos):
                self.pos += 2
                self.line += 1
                continue
            if self.pos < len(text) and text[self.pos] == "#":
                while self.pos < len(text) and text[self.pos] != "\n":
                    self.pos += 1
                continue
            break
        if self.pos >= len(text):
            if self.pending_heredocs:
                self._read_heredocs()
            return Token("EOF", "", self.line)
        start_line = self.line
        # an IO number: digits right before < or >
        m = re.match(r"(\d+)(?=[<>])", text[self.pos:])
        if m:
            self.pos += len(m.group(1))
            op = self._operator()
            assert op is not None
            return Token("OP", op, start_line, io_number=int(m.group(1)))
        op = self._operator()
        if op is not None:
            if op == "\n":
                self.line += 1
                if self.pending_heredocs:
                    self._read_heredocs()
            return Token("OP", op, start_line)
        return Token("WORD", self._word(), start_line)

    def _operator(self) -> str | None:
        for op in OPERATORS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        return None

    def _word(self) -> str:
        text = self.text
        start = self.pos
        while self.pos < len(text):
            c = text[self.pos]
            if c in METACHARS:
                break
            if c == "\\":
                if self.pos + 1 < len(text) and text[self.pos + 1] == "\n":
                    self.pos += 2
                    self.line += 1
                    continue
                self.pos += 2
            elif c == "'":
                end = text.find("'", self.pos + 1)
                if end < 0:
                    raise Incomplete("unexpected EOF while looking for matching `''", self.line)
                self.line += text.count("\n", self.pos, end)
                self.pos = end + 1
            elif c == '"':
                self._double_quoted()
            elif c == "`":
                self._backquoted()
            elif c == "$":
                self._dollar()
            else:
                self.pos += 1
        word = text[start:self.pos].replace("\\\n", "")
        return word

    def _double_quoted(self) -> None:
        text = self.text
        self.pos += 1
        while self.pos < len(text):
            c = text[self.pos]
            if c == '"':
                self.pos += 1
                return
            if c == "\\":
                self.pos += 2
            elif c == "$":
                self._dollar()
            elif c == "`":
                self._backquoted()
            else:
                if c == "\n":
                    self.line += 1
                self.pos += 1
        raise Incomplete("unexpected EOF while looking for matching `\"'", self.line)

    def _backquoted(self) -> None:
        text = self.text
        self.pos += 1
        while self.pos < len(text):
            c = text[self.pos]
            if c == "\\":
                self.pos += 2
                continue
            if c == "`":
                self.pos += 1
                return
            if c == "\n":
                self.line += 1
            self.pos += 1
        raise Incomplete("unexpected EOF while looking for matching ``'", self.line)

    def _dollar(self) -> None:
        text = self.text
        if text.startswith("$((", self.pos):
            self.pos += 3
            depth = 2
            while self.pos < len(text) and depth:
                c = text[self.pos]
                if c == "(":
                    depth += 1
                elif c == ")":
                    depth -= 1
                self.pos += 1
            if depth:
                raise Incomplete("unexpected EOF while looking for matching `)'", self.line)
            return
        if text.startswith("$(", self.pos):
            self.pos += 2
            self._skip_command_text(")")
            return
        if text.startswith("${", self.pos):
            self.pos += 2
            depth = 1
            while self.pos < len(text) and depth:
                c = text[self.pos]
                if c == "\\":
                    self.pos += 2
                    continue
                if c == "'":
                    end = text.find("'", self.pos + 1)
                    self.pos = (end if end >= 0 else len(text) - 1) + 1
                    continue
                if c == '"':
                    self._double_quoted()
                    continue
                if c == "$":
                    self._dollar()
                    continue
                if c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                self.pos += 1
            if depth:
                raise Incomplete("unexpected EOF while looking for matching `}'", self.line)
            return
        self.pos += 1

    def _skip_command_text(self, closer: str) -> None:
        """Past the end of a $( ... ): nested parentheses, quotes and case patterns allowed."""
        text = self.text
        depth = 1
        while self.pos < len(text):
            c = text[self.pos]
            if c == "\\":
                self.pos += 2
                continue
            if c == "'":
                end = text.find("'", self.pos + 1)
                if end < 0:
                    raise Incomplete("unexpected EOF while looking for matching `''", self.line)
                self.pos = end + 1
                continue
            if c == '"':
                self._double_quoted()
                continue
            if c == "`":
                self._backquoted()
                continue
            if c == "$":
                self._dollar()
                continue
            if c == "#" and (self.pos == 0 or text[self.pos - 1] in " \t\n;"):
                while self.pos < len(text) and text[self.pos] != "\n":
                    self.pos += 1
                continue
            if c == "\n":
                self.line += 1
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    self.pos += 1
                    return
            self.pos += 1
        raise Incomplete("unexpected EOF while looking for matching `)'", self.line)

    def _read_heredocs(self) -> None:
        text = self.text
        for redirect, delimiter, strip in self.pending_heredocs:
            body: list[str] = []
            while True:
                if self.pos >= len(text):
                    raise Incomplete(f"here-document delimited by end-of-file (wanted `{delimiter}')", self.line)
                end = text.find("\n", self.pos)
                line = text[self.pos:] if end < 0 else text[self.pos:end]
                self.pos = len(text) if end < 0 else end + 1
                self.line += 1
                check = line.lstrip("\t") if strip else line
                if check == delimiter:
                    break
                body.append(check + "\n")
            redirect.target = "".join(body)
        self.pending_heredocs = []


# ================================================================ parser


class Parser:
    def __init__(self, text: str) -> None:
        self.lexer = Lexer(text)
        self.peeked: Token | None = None

    def peek(self) -> Token:
        if self.peeked is None:
            self.peeked = self.lexer.next_token()
        return self.peeked

    def take(self) -> Token:
        token = self.peek()
        self.peeked = None
        return token

    def error(self, token: Token) -> ShellSyntaxError:
        if token.kind == "EOF":
            return Incomplete("syntax error: unexpected end of file", token.line)
        shown = "newline" if token.value == "\n" else token.value
        return ShellSyntaxError(f"syntax error near unexpected token `{shown}'", token.line)

    def is_word(self, value: str) -> bool:
        token = self.peek()
        return token.kind == "WORD" and token.value == value

    def is_op(self, value: str) -> bool:
        token = self.peek()
        return token.kind == "OP" and token.value == value

    def expect_word(self, value: str) -> None:
        token = self.take()
        if token.kind != "WORD" or token.value != value:
            raise self.error(token)

    def skip_newlines(self) -> None:
        while self.is_op("\n"):
            self.take()

    def parse_program(self) -> CommandList:
        self.skip_newlines()
        result = self.parse_list(top=True)
        token = self.peek()
        if token.kind != "EOF":
            raise self.error(token)
        return result

    def parse_list(self, *, top: bool = False, terminators: tuple[str, ...] = ()) -> CommandList:
        items: list[tuple[AndOr, bool]] = []
        while True:
            self.skip_newlines()
            token = self.peek()
            if token.kind == "EOF":
                break
            if token.kind == "WORD" and token.value in terminators:
                break
            if token.kind == "OP" and token.value in (")", ";;"):
                break
            and_or = self.parse_and_or()
            background = False
            if self.is_op("&"):
                self.take()
                background = True
            elif self.is_op(";"):
                self.take()
            elif self.is_op("\n"):
                self.take()
            else:
                items.append((and_or, background))
                break
            items.append((and_or, background))
        return CommandList(items)

    def parse_and_or(self) -> AndOr:
        first = self.parse_pipeline()
        rest = []
        while self.is_op("&&") or self.is_op("||"):
            op = self.take().value
            self.skip_newlines()
            rest.append((op, self.parse_pipeline()))
        return AndOr(first, rest)

    def parse_pipeline(self) -> Pipeline:
        negate = False
        if self.is_word("!"):
            self.take()
            negate = True
        commands = [self.parse_command()]
        while self.is_op("|"):
            self.take()
            self.skip_newlines()
            commands.append(self.parse_command())
        return Pipeline(commands, negate)

    def parse_command(self) -> Any:
        token = self.peek()
        if token.kind == "OP" and token.value == "(":
            self.take()
            body = self.parse_list()
            if not self.is_op(")"):
                raise self.error(self.peek())
            self.take()
            return Compound(Subshell(body), self.parse_redirects())
        if token.kind == "WORD":
            value = token.value
            if value == "{":
                self.take()
                body = self.parse_body(("}",))
                self.expect_word("}")
                return Compound(BraceGroup(body), self.parse_redirects())
            if value == "if":
                return Compound(self.parse_if(), self.parse_redirects())
            if value in ("while", "until"):
                self.take()
                condition = self.parse_body(("do",))
                self.expect_word("do")
                body = self.parse_body(("done",))
                self.expect_word("done")
                return Compound(WhileClause(condition, body, until=value == "until"), self.parse_redirects())
            if value == "for":
                return Compound(self.parse_for(), self.parse_redirects())
            if value == "case":
                return Compound(self.parse_case(), self.parse_redirects())
            if value == "function":
                self.take()
                name = self.take()
                if self.is_op("("):
                    self.take()
                    if not self.is_op(")"):
                        raise self.error(self.peek())
                    self.take()
                self.skip_newlines()
                return FunctionDef(name.value, self.parse_command())
            if value in ("then", "else", "elif", "fi", "do", "done", "esac", "}", "in"):
                raise self.error(self.take())
        if token.kind == "OP" and token.value not in ("<", ">", ">>", "<<", "<<-", "<&", ">&", "<>", ">|", "&>",
                                                      "&>>"):
            raise self.error(self.take())
        return self.parse_simple()

    def parse_body(self, terminators: tuple[str, ...]) -> CommandList:
        """A compound list that must hold at least one command (`do done` is a syntax error)."""
        body = self.parse_list(terminators=terminators)
        if not body.items:
            raise self.error(self.peek())
        return body

    def parse_if(self) -> IfClause:
        self.expect_word("if")
        branches = []
        condition = self.parse_body(("then",))
        self.expect_word("then")
        body = self.parse_body(("elif", "else", "fi"))
        branches.append((condition, body))
        otherwise = None
        while True:
            token = self.take()
            if token.kind == "WORD" and token.value == "elif":
                condition = self.parse_body(("then",))
                self.expect_word("then")
                body = self.parse_body(("elif", "else", "fi"))
                branches.append((condition, body))
            elif token.kind == "WORD" and token.value == "else":
                otherwise = self.parse_body(("fi",))
                self.expect_word("fi")
                break
            elif token.kind == "WORD" and token.value == "fi":
                break
            else:
                raise self.error(token)
        return IfClause(branches, otherwise)

    def parse_for(self) -> ForClause:
        self.expect_word("for")
        name = self.take()
        if name.kind != "WORD" or not NAME_RE.fullmatch(name.value):
            raise ShellSyntaxError(f"`{name.value}': not a valid identifier", name.line)
        self.skip_newlines()
        words: list[str] | None = None
        if self.is_word("in"):
            self.take()
            words = []
            while self.peek().kind == "WORD":
                words.append(self.take().value)
            if not (self.is_op(";") or self.is_op("\n")):
                raise self.error(self.peek())
            self.take()
        elif self.is_op(";"):
            self.take()
        self.skip_newlines()
        self.expect_word("do")
        body = self.parse_body(("done",))
        self.expect_word("done")
        return ForClause(name.value, words, body)

    def parse_case(self) -> CaseClause:
        self.expect_word("case")
        word = self.take()
        if word.kind != "WORD":
            raise self.error(word)
        self.skip_newlines()
        self.expect_word("in")
        items: list[tuple[list[str], CommandList | None]] = []
        while True:
            self.skip_newlines()
            if self.is_word("esac"):
                self.take()
                break
            if self.is_op("("):
                self.take()
            patterns = []
            while True:
                token = self.take()
                if token.kind != "WORD":
                    raise self.error(token)
                patterns.append(token.value)
                if self.is_op("|"):
                    self.take()
                    continue
                break
            if not self.is_op(")"):
                raise self.error(self.peek())
            self.take()
            body = self.parse_list(terminators=("esac",))
            items.append((patterns, body))
            if self.is_op(";;"):
                self.take()
                continue
            self.skip_newlines()
            if self.is_word("esac"):
                self.take()
                break
            raise self.error(self.peek())
        return CaseClause(word.value, items)

    def parse_redirects(self) -> list[Redirect]:
        redirects = []
        while True:
            token = self.peek()
            if token.kind == "OP" and token.value in ("<", ">", ">>", "<<", "<<-", "<&", ">&", "<>", ">|", "&>",
                                                      "&>>"):
                redirects.append(self.parse_redirect())
            else:
                return redirects

    def parse_redirect(self) -> Redirect:
        token = self.take()
        op = token.value
        target = self.take()
        if target.kind != "WORD":
            raise self.error(target)
        fd = token.io_number if token.io_number is not None else (0 if op[0] == "<" else 1)
        if op in ("<<", "<<-"):
            delimiter = target.value
            quoted = any(c in delimiter for c in "'\"\\")
            delimiter = _remove_quotes(delimiter)
            redirect = Redirect(fd, op, "", quoted_heredoc=quoted)
            self.lexer.pending_heredocs.append((redirect, delimiter, op == "<<-"))
            return redirect
        return Redirect(fd, op, target.value)

    def parse_simple(self) -> Any:
        assignments: list[str] = []
        words: list[str] = []
        redirects: list[Redirect] = []
        line = self.peek().line
        while True:
            token = self.peek()
            if token.kind == "OP" and token.value in ("<", ">", ">>", "<<", "<<-", "<&", ">&", "<>", ">|", "&>",
                                                      "&>>"):
                redirects.append(self.parse_redirect())
                continue
            if token.kind != "WORD":
                break
            if not words and ASSIGN_RE.fullmatch(token.value) and not token.value.startswith("="):
                assignments.append(self.take().value)
                continue
            if not words and token.value in RESERVED and token.value not in ("{", "}", "!", "in"):
                break
            words.append(self.take().value)
            if len(words) == 1 and not assignments and self.is_op("(") and NAME_RE.fullmatch(words[0].replace(
                    "-", "_").replace(".", "_")):
                self.take()
                if not self.is_op(")"):
                    raise self.error(self.peek())
                self.take()
                self.skip_newlines()
                return FunctionDef(words[0], self.parse_command())
        if not words and not assignments and not redirects:
            raise self.error(self.take())
        return SimpleCommand(assignments, words, redirects, line)


@functools.lru_cache(maxsize=1024)
def parse(text: str) -> CommandList:
    """The syntax tree of `text` (cached: scripts, functions and $(...) run the same text again;
    nothing changes a tree once made)."""
    return Parser(text).parse_program()


def _remove_quotes(word: str) -> str:
    out = []
    i = 0
    while i < len(word):
        c = word[i]
        if c == "\\" and i + 1 < len(word):
            out.append(word[i + 1])
            i += 2
        elif c in "'\"":
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


# ================================================================ control flow


class ExitShell(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class ReturnFromFunction(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class LoopControl(Exception):
    def __init__(self, kind: str, levels: int) -> None:
        super().__init__(kind)
        self.kind = kind
        self.levels = levels


class ExpansionError(Exception):
    """An expansion that stops the command (${x:?msg}, a bad substitution, set -u)."""


# ================================================================ input and output


class Output:
    """Where a command writes: a buffer, the terminal, a guest file or nothing."""

    def write(self, text: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class BufferOutput(Output):
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def value(self) -> str:
        return "".join(self.parts)


class NullOutput(Output):
    def write(self, text: str) -> None:
        pass


class CallbackOutput(Output):
    def __init__(self, sink: Callable[[str], None]) -> None:
        self.sink = sink

    def write(self, text: str) -> None:
        if text:
            self.sink(text)


class FileOutput(Output):
    """Each write goes to the guest file at once (so `>>` in a loop and a later read agree)."""

    def __init__(self, guest: Guest, path: str) -> None:
        self.guest = guest
        self.path = path

    def write(self, text: str) -> None:
        if text:
            self.guest.write_file(self.path, text, append=True)


class Input:
    """What a command reads. `read` and `readline` return "" at the end."""

    is_terminal = False

    async def readline(self) -> str:
        raise NotImplementedError

    async def read(self) -> str:
        parts = []
        while line := await self.readline():
            parts.append(line)
        return "".join(parts)


class TextInput(Input):
    def __init__(self, text: str = "") -> None:
        self.text = text
        self.pos = 0

    async def readline(self) -> str:
        if self.pos >= len(self.text):
            return ""
        end = self.text.find("\n", self.pos)
        end = len(self.text) if end < 0 else end + 1
        line = self.text[self.pos:end]
        self.pos = end
        return line

    async def read(self) -> str:
        rest = self.text[self.pos:]
        self.pos = len(self.text)
        return rest


class StreamInput(Input):
    """Lines arriving from outside (an SSH channel, the terminal's line discipline)."""

    def __init__(self, *, terminal: bool = False) -> None:
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.buffer = ""
        self.ended = False
        self.is_terminal = terminal

    def feed(self, text: str) -> None:
        self.queue.put_nowait(text)

    def end(self) -> None:
        self.queue.put_nowait(None)

    async def _more(self) -> bool:
        if self.ended:
            return False
        item = await self.queue.get()
        if item is None:
            if self.is_terminal:
                return False  # Ctrl-D ends this read only; the terminal stays
            self.ended = True
            return False
        self.buffer += item
        return True

    async def readline(self) -> str:
        while "\n" not in self.buffer:
            if not await self._more():
                line, self.buffer = self.buffer, ""
                return line
        line, _, self.buffer = self.buffer.partition("\n")
        return line + "\n"

    async def read(self) -> str:
        while await self._more():
            pass
        text, self.buffer = self.buffer, ""
        return text


@dataclass
class Io:
    stdin: Input
    stdout: Output
    stderr: Output


@dataclass
class Terminal:
    """The pseudo-terminal of an interactive session."""

    columns: int = 80
    rows: int = 24
    term: str = "xterm-256color"
    name: str = "/dev/pts/0"


# ================================================================ shell state


@dataclass
class Frame:
    """What a subshell copies and a function call shares."""

    variables: dict[str, str]
    exported: set[str]
    functions: dict[str, Any]
    cwd: str
    options: set[str]


MAX_ROUNDS = 100_000  # the most rounds a loop makes in a run that cannot be interrupted (Run Command)
LOOP_YIELD = 200

USER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/games:/usr/local/games:/snap/bin"
ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin"
SUDO_PATH = ROOT_PATH


class Shell:
    """One shell process in the guest: its user, variables, functions, cwd and options."""

    def __init__(self, guest: Guest, *, user: str, cwd: str | None = None, login: bool = True,
                 terminal: Terminal | None = None, environment: dict[str, str] | None = None,
                 dialect: str = "bash") -> None:
        self.guest = guest
        self.user = user
        self.creds: Credentials = guest.credentials(user)
        self.terminal = terminal
        self.dialect = dialect  # bash | dash: how errors are worded
        self.login = login
        self.name = "-bash" if login and terminal is not None else "bash"
        self.script_name: str | None = None
        home = guest.home_of(user)
        env = {
            "HOME": home, "USER": user, "LOGNAME": user, "SHELL": "/bin/bash",
            "PATH": ROOT_PATH if user == "root" else USER_PATH, "LANG": "C.UTF-8", "PWD": cwd or home,
        }
        if terminal is not None:
            env["TERM"] = terminal.term
            env["SSH_TTY"] = terminal.name
        env.update(environment or {})
        variables = dict(env)
        variables.update({"HOSTNAME": guest.hostname, "IFS": " \t\n", "PS1": r"\u@\h:\w\$ ", "PS2": "> ",
                          "OPTIND": "1", "BASH_VERSION": "5.1.16(1)-release", "UID": str(self.creds.uid),
                          "EUID": str(self.creds.uid), "PPID": "1", "SHLVL": "1"})
        self.frame = Frame(variables, set(env), {}, cwd or home, set())
        self.positional: list[str] = []
        self.argv0 = self.name
        self.last_status = 0
        self.pid = 1000 + guest._rng.randrange(1000, 30000)
        self.condition_depth = 0  # > 0 inside if/while conditions and && || lists: set -e does not apply
        self.loop_depth = 0
        self.function_depth = 0
        self.history: list[str] = []
        self.line_offset = 0
        self.interactive = terminal is not None
        self.sleeper: Callable[[float], Awaitable[None]] | None = None  # None: sleeps pass at once
        self.session: Any = None  # the SSH session (ssh_server) this shell runs in, if any
        # In a session: awaited every LOOP_YIELD rounds of a loop, so a long or endless loop lets the
        # simulator's event loop run (and Ctrl-C reach it); None: loops stop at MAX_ROUNDS instead.
        self.yield_point: Callable[[], Awaitable[None]] | None = None
        self.exited = False  # `exit` ended this shell

    # ---- variables

    @property
    def cwd(self) -> str:
        return self.frame.cwd

    def get(self, name: str) -> str | None:
        if name == "PWD":
            return self.frame.variables.get("PWD", self.cwd)
        if name == "RANDOM":
            return str(self.guest._rng.randrange(32768))
        if name == "SECONDS":
            return "0"
        if name == "HOSTNAME":
            return self.guest.hostname
        return self.frame.variables.get(name)

    def set(self, name: str, value: str, *, export: bool = False) -> None:
        self.frame.variables[name] = value
        if export or "a" in self.frame.options:
            self.frame.exported.add(name)

    def environment(self) -> dict[str, str]:
        return {k: v for k, v in self.frame.variables.items() if k in self.frame.exported}

    def prompt(self) -> str:
        home = self.guest.home_of(self.user)
        cwd = self.cwd
        shown = "~" + cwd[len(home):] if cwd == home or cwd.startswith(home + "/") else cwd
        sign = "#" if self.creds.root else "$"
        return f"{self.user}@{self.guest.hostname.split('.')[0]}:{shown}{sign} "

    def subshell(self) -> Shell:
        child = Shell.__new__(Shell)
        child.__dict__.update(self.__dict__)
        child.frame = Frame(dict(self.frame.variables), set(self.frame.exported), dict(self.frame.functions),
                            self.frame.cwd, set(self.frame.options))
        child.positional = list(self.positional)
        return child

    # ---- running

    def run_line(self, line: str, stdin: str = "") -> ScriptResult:
        """Run a command line without a terminal, as `bash -c` does; stdin is `stdin`."""
        out, err = BufferOutput(), BufferOutput()
        io = Io(TextInput(stdin), out, err)
        status = drive(self.run_text(line, io, source="-c"))
        return ScriptResult(status, out.value(), err.value())

    def run_script_text(self, script: str, *, argv0: str) -> ScriptResult:
        """Run a script file's text the way /bin/sh runs a Run Command script."""
        self.script_name = argv0
        self.argv0 = argv0
        first = script.split("\n", 1)[0]
        self.dialect = "bash" if first.startswith("#!") and "bash" in first else "dash"
        out, err = BufferOutput(), BufferOutput()
        status = drive(self.run_text(script, Io(TextInput(""), out, err), source="script"))
        return ScriptResult(status, out.value(), err.value())

    async def run_text(self, text: str, io: Io, *, source: str = "-c") -> int:
        """Parse and run `text` whole; syntax errors are reported as bash/dash word them."""
        try:
            tree = parse(text)
        except ShellSyntaxError as exc:
            io.stderr.write(self.syntax_message(exc, source) + "\n")
            self.last_status = 2
            return 2
        try:
            return await self.execute(tree, io)
        except ExitShell as done:
            self.last_status = done.status
            self.exited = True
            return done.status
        except ReturnFromFunction as done:
            return done.status
        except LoopControl:
            return self.last_status

    @staticmethod
    def complete(text: str) -> bool:
        """Whether `text` is a whole command (an interactive shell asks for more with PS2 when
        not): a syntax error counts as whole, to be reported."""
        try:
            parse(text)
        except Incomplete:
            return False
        except ShellSyntaxError:
            return True
        return True

    def syntax_message(self, exc: ShellSyntaxError, source: str) -> str:
        line = exc.line + self.line_offset
        if self.dialect == "dash":
            return f"{self.script_name or 'sh'}: {line}: Syntax error: {str(exc).replace('syntax error: ', '')}"
        if source == "interactive":
            return f"{self.name}: {exc}"
        where = self.script_name or self.name
        return f"{where}: line {line}: {exc}"

    def error_prefix(self, line: int) -> str:
        """How this shell starts an error line about something at `line`."""
        if self.dialect == "dash":
            return f"{self.script_name or 'sh'}: {line + self.line_offset}: "
        if self.interactive and self.script_name is None:
            return f"{self.name}: "
        return f"{self.script_name or self.name}: line {line + self.line_offset}: "

    async def execute(self, node: Any, io: Io) -> int:
        if isinstance(node, CommandList):
            status = 0
            for and_or, _background in node.items:
                status = await self.run_and_or(and_or, io)
            return status
        raise TypeError(node)

    async def run_and_or(self, node: AndOr, io: Io) -> int:
        if node.rest:
            self.condition_depth += 1
            try:
                status = await self.run_pipeline(node.first, io)
                for index, (op, pipeline) in enumerate(node.rest):
                    last = index == len(node.rest) - 1
                    if (op == "&&" and status == 0) or (op == "||" and status != 0):
                        if last:
                            self.condition_depth -= 1
                            try:
                                status = await self.run_pipeline(pipeline, io)
                            finally:
                                self.condition_depth += 1
                        else:
                            status = await self.run_pipeline(pipeline, io)
            finally:
                self.condition_depth -= 1
            self.last_status = status
            return status
        return await self.run_pipeline(node.first, io)

    async def run_pipeline(self, node: Pipeline, io: Io) -> int:
        if node.negate:
            self.condition_depth += 1
        try:
            if len(node.commands) == 1:
                status = await self.run_command(node.commands[0], io)
            else:
                stdin = io.stdin
                statuses = []
                for index, command in enumerate(node.commands):
                    last = index == len(node.commands) - 1
                    out: Output = io.stdout if last else BufferOutput()
                    child = self.subshell()
                    try:
                        code = await child.run_command(command, Io(stdin, out, io.stderr))
                    except ExitShell as done:
                        code = done.status
                    statuses.append(code)
                    if not last:
                        assert isinstance(out, BufferOutput)
                        stdin = TextInput(out.value())
                status = statuses[-1]
                if "pipefail" in self.frame.options:
                    status = next((s for s in reversed(statuses) if s != 0), 0)
                if not node.negate:
                    self.last_status = status
                    self.check_errexit(status)
        finally:
            if node.negate:
                self.condition_depth -= 1
        if node.negate:
            status = 0 if status else 1
        self.last_status = status
        return status

    async def loop_round(self, rounds: int) -> None:
        """Every LOOP_YIELD rounds of a loop: let the event loop run, or stop a loop nothing can
        interrupt once it is past MAX_ROUNDS."""
        if self.yield_point is not None:
            await self.yield_point()
        elif rounds >= MAX_ROUNDS:
            raise LoopLimit()

    def check_errexit(self, status: int) -> None:
        if status != 0 and "e" in self.frame.options and self.condition_depth == 0:
            raise ExitShell(status)

    async def run_command(self, node: Any, io: Io) -> int:
        if isinstance(node, SimpleCommand):
            status = await self.run_simple(node, io)
            self.last_status = status
            self.check_errexit(status)
            return status
        if isinstance(node, FunctionDef):
            self.frame.functions[node.name] = node.body
            self.last_status = 0
            return 0
        if isinstance(node, Compound):
            try:
                cmd_io = await self.apply_redirects(node.redirects, io, line=1)
            except RedirectFailed as exc:
                io.stderr.write(exc.message + "\n")
                self.last_status = 1
                return 1
            status = await self.run_compound(node.body, cmd_io)
            self.last_status = status
            return status
        raise TypeError(node)

    async def run_compound(self, body: Any, io: Io) -> int:
        if isinstance(body, BraceGroup):
            return await self.execute(body.body, io)
        if isinstance(body, Subshell):
            child = self.subshell()
            try:
                return await child.execute(body.body, io)
            except ExitShell as done:
                return done.status
        if isinstance(body, IfClause):
            for condition, branch in body.branches:
                self.condition_depth += 1
                try:
                    status = await self.execute(condition, io)
                finally:
                    self.condition_depth -= 1
                if status == 0:
                    return await self.execute(branch, io)
            if body.otherwise is not None:
                return await self.execute(body.otherwise, io)
            return 0
        if isinstance(body, ForClause):
            if body.words is None:
                values = list(self.positional)
            else:
                values = []
                for word in body.words:
                    values.extend(await self.expand_word(word, io))
            status = 0
            self.loop_depth += 1
            try:
                for round_number, value in enumerate(values, 1):
                    if round_number % LOOP_YIELD == 0 and self.yield_point is not None:
                        await self.yield_point()  # a list is finite: no limit, only fairness
                    self.set(body.name, value)
                    try:
                        status = await self.execute(body.body, io)
                    except LoopControl as control:
                        if control.levels > 1:
                            control.levels -= 1
                            raise
                        if control.kind == "break":
                            break
            finally:
                self.loop_depth -= 1
            return status
        if isinstance(body, WhileClause):
            status = 0
            self.loop_depth += 1
            rounds = 0
            try:
                while True:
                    rounds += 1
                    if rounds % LOOP_YIELD == 0:
                        try:
                            await self.loop_round(rounds)
                        except LoopLimit:
                            io.stderr.write(f"{self.error_prefix(1)}loop stopped after {MAX_ROUNDS} rounds "
                                            "(the simulated guest's limit outside a terminal)\n")
                            return 1
                    self.condition_depth += 1
                    try:
                        test = await self.execute(body.condition, io)
                    finally:
                        self.condition_depth -= 1
                    if (test == 0) == body.until:
                        break
                    try:
                        status = await self.execute(body.body, io)
                    except LoopControl as control:
                        if control.levels > 1:
                            control.levels -= 1
                            raise
                        if control.kind == "break":
                            break
            finally:
                self.loop_depth -= 1
            return status
        if isinstance(body, CaseClause):
            word = "".join(await self.expand_word(body.word, io, split=False, glob=False))
            for patterns, branch in body.items:
                for pattern in patterns:
                    expanded = await self.expand_pattern(pattern, io)
                    if shell_match(word, expanded):
                        return await self.execute(branch, io) if branch is not None else 0
            return 0
        raise TypeError(body)

    async def run_simple(self, node: SimpleCommand, io: Io) -> int:
        try:
            words: list[str] = []
            for word in node.words:
                words.extend(await self.expand_word(word, io))
            assignments = []
            for assignment in node.assignments:
                match = ASSIGN_RE.fullmatch(assignment)
                assert match is not None
                value = "".join(await self.expand_word(match.group(3), io, split=False, glob=False,
                                                       assignment=True))
                if match.group(2):
                    value = (self.get(match.group(1)) or "") + value
                assignments.append((match.group(1), value))
        except ExpansionError as exc:
            io.stderr.write(f"{self.error_prefix(node.line)}{exc}\n")
            if not self.interactive:
                raise ExitShell(1) from None
            return 1
        if "x" in self.frame.options:
            shown = [f"{n}={v}" for n, v in assignments] + [_quote_for_trace(w) for w in words]
            io.stderr.write("+ " + " ".join(shown) + "\n")
        try:
            cmd_io = await self.apply_redirects(node.redirects, io, line=node.line)
        except RedirectFailed as exc:
            io.stderr.write(exc.message + "\n")
            return 1
        try:
            if not words:
                for name, value in assignments:
                    self.set(name, value)
                return self.last_status if node.words else 0
            return await self.invoke(words, cmd_io, assignments=assignments, line=node.line)
        finally:
            for stream in (cmd_io.stdout, cmd_io.stderr):
                if stream is not io.stdout and stream is not io.stderr:
                    stream.close()

    async def invoke(self, words: list[str], io: Io, *, assignments: list[tuple[str, str]] | None = None,
                     line: int = 1) -> int:
        """Run one command: a function, a builtin or a program of the guest's PATH."""
        name = words[0]
        assignments = assignments or []
        if name in self.frame.functions:
            return await self.call_function(name, words, io)
        builtin = BUILTINS.get(name)
        if builtin is not None:
            saved = {n: self.frame.variables.get(n) for n, _ in assignments}
            for n, v in assignments:
                self.set(n, v)
            try:
                return await builtin(Call(self, words, io, line))
            finally:
                if name not in SPECIAL_BUILTINS:
                    for n, old in saved.items():
                        if old is None:
                            self.frame.variables.pop(n, None)
                        else:
                            self.frame.variables[n] = old
        program, path, problem = self.find_program(name)
        if program is None:
            if problem == "denied":
                io.stderr.write(f"{self.error_prefix(line)}{name}: Permission denied\n")
                return 126
            if problem == "directory":
                io.stderr.write(f"{self.error_prefix(line)}{name}: Is a directory\n")
                return 126
            if "/" in name:
                io.stderr.write(f"{self.error_prefix(line)}{name}: No such file or directory\n")
            elif self.dialect == "dash":
                io.stderr.write(f"{self.error_prefix(line)}{name}: not found\n")
            else:
                io.stderr.write(f"{self.error_prefix(line)}{name}: command not found\n")
            return 127
        runner = self.subshell()
        for n, v in assignments:
            runner.set(n, v, export=True)
        runner.argv0 = path or name
        try:
            return await program(Call(runner, words, io, line))
        except ExitShell as done:
            return done.status

    def find_program(self, name: str) -> tuple[Callable[[Call], Awaitable[int]] | None, str | None, str | None]:
        """(implementation, path, problem) of a command name looked up on the guest's PATH."""
        from .guest import Directory, RegularFile

        candidates = [name] if "/" in name else [
            d.rstrip("/") + "/" + name for d in (self.get("PATH") or "").split(":") if d]
        problem = None
        for candidate in candidates:
            try:
                node = self.guest.lookup(candidate, self.cwd)
            except PathError:
                continue
            if isinstance(node, Directory):
                problem = "directory"
                continue
            if not isinstance(node, RegularFile):
                continue
            from .guest import may

            if not may(node, self.creds, 1):
                problem = "denied"
                continue
            if node.program is not None and node.program in PROGRAM_IMPLEMENTATIONS:
                return PROGRAM_IMPLEMENTATIONS[node.program], self.guest.resolve(candidate, self.cwd), None
            return _script_runner(node.text), self.guest.resolve(candidate, self.cwd), None
        return None, None, problem

    async def call_function(self, name: str, words: list[str], io: Io) -> int:
        saved = self.positional
        self.positional = words[1:]
        self.function_depth += 1
        try:
            return await self.run_command(self.frame.functions[name], io)
        except ReturnFromFunction as done:
            return done.status
        finally:
            self.function_depth -= 1
            self.positional = saved

    # ---- redirections

    async def apply_redirects(self, redirects: list[Redirect], io: Io, *, line: int) -> Io:
        if not redirects:
            return io
        fds: dict[int, Any] = {0: io.stdin, 1: io.stdout, 2: io.stderr}
        for r in redirects:
            if r.op in ("<<", "<<-"):
                body = r.target if r.quoted_heredoc else await self.expand_heredoc(r.target, io)
                fds[r.fd] = TextInput(body)
                continue
            try:
                target = "".join(await self.expand_word(r.target, io, split=False, glob=False))
            except ExpansionError as exc:
                raise RedirectFailed(f"{self.error_prefix(line)}{exc}") from None
            if r.op in (">&", "<&"):
                if target == "-":
                    fds[r.fd] = NullOutput() if r.op == ">&" else TextInput("")
                    continue
                if target.isdigit() and int(target) in fds:
                    fds[r.fd] = fds[int(target)]
                    continue
                if r.op == "<&":
                    raise RedirectFailed(f"{self.error_prefix(line)}{target}: ambiguous redirect")
                output = self.open_output(target, append=False, line=line)
                fds[1] = output
                fds[2] = output
                continue
            if r.op in ("&>", "&>>"):
                output = self.open_output(target, append=r.op == "&>>", line=line)
                fds[1] = output
                fds[2] = output
                continue
            if r.op in ("<", "<>"):
                try:
                    text = self.guest.read_file(target, self.cwd, self.creds)
                except PathError as exc:
                    raise RedirectFailed(f"{self.error_prefix(line)}{target}: {exc.reason}") from None
                fds[r.fd] = TextInput(text)
                continue
            fds[r.fd] = self.open_output(target, append=r.op == ">>", line=line)
        return Io(fds[0], fds[1], fds[2])

    def open_output(self, target: str, *, append: bool, line: int) -> Output:
        from .guest import DeviceFile

        try:
            node = self.guest.lookup(target, self.cwd, who=self.creds)
        except PathError:
            node = None
        if isinstance(node, DeviceFile):
            if not self.creds.root and node.block:
                raise RedirectFailed(f"{self.error_prefix(line)}{target}: Permission denied")
            return NullOutput()
        try:
            self.guest.write_file(target, "", append=append, cwd=self.cwd, who=self.creds)
        except PathError as exc:
            raise RedirectFailed(f"{self.error_prefix(line)}{target}: {exc.reason}") from None
        return FileOutput(self.guest, self.guest.resolve(target, self.cwd))

    # ---- expansion

    async def expand_word(self, word: str, io: Io, *, split: bool = True, glob: bool = True,
                          assignment: bool = False) -> list[str]:
        """A raw word -> fields, as POSIX expands a word of a command."""
        if not PLAIN_WORD_SPECIALS.intersection(word):
            return [word]  # nothing to expand, split or match: most words of a script
        segments = await self.expand_segments(word, io, assignment=assignment)
        fields = _split_fields(segments, self.get("IFS") if self.get("IFS") is not None else " \t\n") if split \
            else [[(s.text, s.quoted) for s in segments]]
        result: list[str] = []
        for field_parts in fields:
            text = "".join(t for t, _ in field_parts)
            if glob and "f" not in self.frame.options and any(
                    not quoted and GLOB_PATTERN.search(t) for t, quoted in field_parts):
                pattern = "".join(t if not quoted else _glob_escape(t) for t, quoted in field_parts)
                matches = self.glob(pattern)
                if matches:
                    result.extend(matches)
                    continue
            result.append(text)
        if not split:
            return ["".join(result)]
        return result

    async def expand_pattern(self, word: str, io: Io) -> str:
        """A case pattern: quoted parts match literally."""
        segments = await self.expand_segments(word, io)
        return "".join(s.text if not s.quoted else _glob_escape(s.text) for s in segments)

    async def expand_heredoc(self, body: str, io: Io) -> str:
        segments = await self.expand_segments(body, io, heredoc=True)
        return "".join(s.text for s in segments)

    async def expand_segments(self, word: str, io: Io, *, assignment: bool = False,
                              heredoc: bool = False) -> list[Segment]:
        out: list[Segment] = []
        i = 0
        n = len(word)
        in_double = False
        if not heredoc and word.startswith("~"):
            end = word.find("/")
            end = n if end < 0 else end
            name = word[1:end]
            if not any(c in name for c in "'\"$\\"):
                home = self.get("HOME") or "/" if not name else (
                    self.guest.home_of(name) if name in self.guest.users else None)
                if home is not None:
                    out.append(Segment(home, True, False))
                    i = end
        while i < n:
            c = word[i]
            if c == "'" and not in_double and not heredoc:
                end = word.find("'", i + 1)
                out.append(Segment(word[i + 1:end], True, False, literal=True))
                i = end + 1
            elif c == '"' and not heredoc:
                in_double = not in_double
                out.append(Segment("", True, False, literal=True))  # "" is an (empty) field
                i += 1
            elif c == "\\":
                if i + 1 >= n:
                    out.append(Segment("\\", in_double or heredoc, False))
                    i += 1
                    continue
                nxt = word[i + 1]
                if in_double or heredoc:
                    if nxt in "$`\"\\\n" and not (heredoc and nxt == '"'):
                        out.append(Segment(nxt if nxt != "\n" else "", True, False))
                    else:
                        out.append(Segment("\\" + nxt, True, False))
                else:
                    out.append(Segment(nxt, True, False, literal=True))
                i += 2
            elif c == "$":
                text, consumed, is_at = await self.expand_dollar(word, i, io, quoted=in_double or heredoc)
                if is_at is not None:
                    for index, value in enumerate(is_at):
                        if index:
                            out.append(Segment("", True, False, field_break=True))
                        out.append(Segment(value, True, False))
                    if not is_at and in_double:
                        out.append(Segment("", True, False, drop_if_alone=True))
                else:
                    out.append(Segment(text, in_double or heredoc, not (in_double or heredoc)))
                i += consumed
            elif c == "`":
                end = i + 1
                raw = []
                while end < n and word[end] != "`":
                    if word[end] == "\\" and end + 1 < n and word[end + 1] in "$`\\":
                        raw.append(word[end + 1])
                        end += 2
                        continue
                    raw.append(word[end])
                    end += 1
                text = await self.command_substitution("".join(raw), io)
                out.append(Segment(text, in_double or heredoc, not (in_double or heredoc)))
                i = end + 1
            else:
                j = i
                while j < n and word[j] not in "'\"\\$`":
                    j += 1
                if heredoc:
                    while j < n and word[j] not in "\\$`":
                        j += 1
                if j == i:
                    j = i + 1
                chunk = word[i:j]
                if assignment and not in_double and "~" in chunk:
                    home_dir = self.get("HOME") or "/"
                    chunk = re.sub(r"(^|:)~(?=/|:|$)", lambda m, h=home_dir: m.group(1) + h, chunk)
                out.append(Segment(chunk, in_double or heredoc, False, literal=not in_double))
                i = j
        return out

    async def expand_dollar(self, word: str, i: int, io: Io, *, quoted: bool
                            ) -> tuple[str, int, list[str] | None]:
        """Expand the $... at word[i]: (text, characters consumed, fields of "$@" or None)."""
        n = len(word)
        if i + 1 >= n:
            return "$", 1, None
        nxt = word[i + 1]
        if word.startswith("$((", i):
            depth = 2
            j = i + 3
            while j < n and depth:
                if word[j] == "(":
                    depth += 1
                elif word[j] == ")":
                    depth -= 1
                j += 1
            expression = word[i + 3:j - 2]
            expanded = "".join(s.text for s in await self.expand_segments(expression, io, heredoc=True))
            return str(self.arithmetic(expanded)), j - i, None
        if nxt == "(":
            lexer = Lexer(word)
            lexer.pos = i + 2
            lexer._skip_command_text(")")
            inner = word[i + 2:lexer.pos - 1]
            return await self.command_substitution(inner, io), lexer.pos - i, None
        if nxt == "{":
            depth = 1
            j = i + 2
            while j < n and depth:
                if word[j] == "\\":
                    j += 2
                    continue
                if word[j] == "{":
                    depth += 1
                elif word[j] == "}":
                    depth -= 1
                j += 1
            inner = word[i + 2:j - 1]
            text, fields = await self.parameter_expansion(inner, io, quoted=quoted)
            return text, j - i, fields
        if nxt in "@*":
            if nxt == "@" and quoted:
                return "", 2, list(self.positional)
            if quoted:
                sep = (self.get("IFS") or " ")[:1] if self.get("IFS") != "" else ""
                return sep.join(self.positional), 2, None
            return " ".join(self.positional), 2, None
        if nxt in "?#$!-0123456789":
            return self.special(nxt), 2, None
        m = NAME_RE.match(word, i + 1)
        if m is None:
            return "$", 1, None
        name = m.group(0)
        value = self.get(name)
        if value is None and "u" in self.frame.options:
            raise ExpansionError(f"{name}: unbound variable")
        return value or "", 1 + len(name), None

    def special(self, name: str) -> str:
        if name == "?":
            return str(self.last_status)
        if name == "#":
            return str(len(self.positional))
        if name == "$":
            return str(self.pid)
        if name == "!":
            return ""
        if name == "-":
            flags = "".join(sorted(o for o in self.frame.options if len(o) == 1))
            return flags + ("i" if self.interactive else "") + "hB"
        if name == "0":
            return self.argv0
        index = int(name)
        return self.positional[index - 1] if index <= len(self.positional) else ""

    async def parameter_expansion(self, inner: str, io: Io, *, quoted: bool) -> tuple[str, list[str] | None]:
        if inner.startswith("#") and len(inner) > 1 and (NAME_RE.fullmatch(inner[1:]) or inner[1:] in "@*?#"
                                                          or inner[1:].isdigit()):
            value = self._param_value(inner[1:])
            if inner[1:] in "@*":
                return str(len(self.positional)), None
            return str(len(value or "")), None
        m = re.match(r"([A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*?#$!-])", inner)
        if m is None:
            raise ExpansionError(f"${{{inner}}}: bad substitution")
        name = m.group(1)
        rest = inner[m.end():]
        value = self._param_value(name)
        if name == "@" and quoted and not rest:
            return "", list(self.positional)
        if not rest:
            if value is None and "u" in self.frame.options:
                raise ExpansionError(f"{name}: unbound variable")
            return value or "", None
        op_match = re.match(r"(:?[-=+?]|##?|%%?|//?|:)", rest)
        if op_match is None:
            raise ExpansionError(f"${{{inner}}}: bad substitution")
        op = op_match.group(1)
        arg_raw = rest[op_match.end():]

        async def arg() -> str:
            return "".join(s.text for s in await self.expand_segments(arg_raw, io, assignment=False))

        if op in (":-", "-"):
            unset = value is None or (op == ":-" and value == "")
            return (await arg() if unset else value or ""), None
        if op in (":=", "="):
            if value is None or (op == ":=" and value == ""):
                new = await arg()
                self.set(name, new)
                return new, None
            return value, None
        if op in (":+", "+"):
            use = value is not None and (op == "+" or value != "")
            return (await arg() if use else ""), None
        if op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                message = await arg() or "parameter null or not set"
                raise ExpansionError(f"{name}: {message}")
            return value, None
        if op == ":":
            parts = arg_raw.split(":", 1)
            try:
                offset = self.arithmetic(parts[0])
                length = self.arithmetic(parts[1]) if len(parts) > 1 else None
            except ExpansionError:
                raise ExpansionError(f"${{{inner}}}: bad substitution") from None
            text = value or ""
            if offset < 0:
                offset = max(0, len(text) + offset)
            return (text[offset:] if length is None else text[offset:offset + length]), None
        text = value or ""
        pattern = await self.expand_pattern(arg_raw.split("/", 1)[0] if op in ("/", "//") else arg_raw, io)
        if op in ("#", "##"):
            cuts = range(len(text) + 1) if op == "#" else range(len(text), -1, -1)
            for k in cuts:
                if shell_match(text[:k], pattern):
                    return text[k:], None
            return text, None
        if op in ("%", "%%"):
            cuts = range(len(text), -1, -1) if op == "%" else range(len(text) + 1)
            for k in cuts:
                if shell_match(text[k:], pattern):
                    return text[:k], None
            return text, None
        replacement = arg_raw.split("/", 1)[1] if "/" in arg_raw else ""
        replacement = "".join(s.text for s in await self.expand_segments(replacement, io))
        result = []
        k = 0
        replaced = False
        while k <= len(text):
            if replaced and op == "/":
                result.append(text[k:])
                break
            for end in range(len(text), k, -1):
                if shell_match(text[k:end], pattern):
                    result.append(replacement)
                    k = end
                    replaced = True
                    break
            else:
                if k < len(text):
                    result.append(text[k])
                k += 1
        return "".join(result), None

    def _param_value(self, name: str) -> str | None:
        if name in ("?", "#", "$", "!", "-", "0") or name.isdigit():
            if name.isdigit() and name != "0" and int(name) > len(self.positional):
                return None
            return self.special(name) if not name.isdigit() or name == "0" else self.positional[int(name) - 1]
        if name in ("@", "*"):
            return " ".join(self.positional)
        return self.get(name)

    async def command_substitution(self, text: str, io: Io) -> str:
        child = self.subshell()
        child.interactive = False
        out = BufferOutput()
        try:
            tree = parse(text)
        except ShellSyntaxError as exc:
            io.stderr.write(self.syntax_message(exc, "-c") + "\n")
            self.last_status = 2
            return ""
        try:
            status = await child.execute(tree, Io(io.stdin, out, io.stderr))
        except ExitShell as done:
            status = done.status
        except (ReturnFromFunction, LoopControl):
            status = child.last_status
        self.last_status = status
        return out.value().rstrip("\n")

    def arithmetic(self, expression: str) -> int:
        return Arithmetic(self).evaluate(expression)

    def glob(self, pattern: str) -> list[str]:
        """Pathname expansion on the guest's files (sorted; hidden files need a leading dot)."""
        from .guest import Directory

        absolute = pattern.startswith("/")
        parts = [p for p in pattern.split("/") if p]
        bases = ["/" if absolute else ""]
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            found: list[str] = []
            for base in bases:
                directory = base or self.cwd
                if not any(c in part for c in "*?["):
                    candidate = (base.rstrip("/") + "/" if base else "") + _glob_unescape(part)
                    if self.guest.exists(candidate, self.cwd) if last else self._is_dir(candidate):
                        found.append(candidate)
                    continue
                try:
                    node = self.guest.lookup(directory, self.cwd, who=self.creds)
                except PathError:
                    continue
                if not isinstance(node, Directory):
                    continue
                names = sorted(self._dir_entries(directory, node))
                for name in names:
                    if name.startswith(".") and not part.startswith("."):
                        continue
                    if shell_match(name, part):
                        candidate = (base.rstrip("/") + "/" if base else "") + name
                        if last or self._is_dir(candidate):
                            found.append(candidate)
            bases = found
            if not bases:
                return []
        return sorted(bases)

    def _dir_entries(self, path: str, node: Any) -> list[str]:
        return list(node.entries)

    def _is_dir(self, path: str) -> bool:
        from .guest import Directory

        try:
            return isinstance(self.guest.lookup(path, self.cwd), Directory)
        except PathError:
            return False


PLAIN_WORD_SPECIALS = frozenset("$`'\"\\*?[~")
GLOB_PATTERN = re.compile(r"[*?]|\[.+\]")  # "[" alone (test's name) is no pattern


class LoopLimit(Exception):
    pass


class RedirectFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Segment:
    text: str
    quoted: bool
    splittable: bool
    literal: bool = False
    field_break: bool = False
    drop_if_alone: bool = False


def _split_fields(segments: list[Segment], ifs: str) -> list[list[tuple[str, bool]]]:
    fields: list[list[tuple[str, bool]]] = []
    current: list[tuple[str, bool]] = []
    has_content = False  # the current field exists (quoted empty strings count)
    ifs_white = "".join(c for c in ifs if c in " \t\n")
    ifs_other = "".join(c for c in ifs if c not in " \t\n")
    for segment in segments:
        if segment.field_break:
            fields.append(current)
            current, has_content = [], True
            continue
        if segment.drop_if_alone:
            continue
        if not segment.splittable or not ifs:
            current.append((segment.text, segment.quoted))
            if segment.quoted or segment.text:
                has_content = True
            continue
        text = segment.text
        k = 0
        while k < len(text):
            c = text[k]
            if c in ifs_white:
                if has_content:
                    fields.append(current)
                    current, has_content = [], False
                k += 1
            elif c in ifs_other:
                fields.append(current)
                current, has_content = [], False
                k += 1
            else:
                j = k
                while j < len(text) and text[j] not in ifs:
                    j += 1
                current.append((text[k:j], False))
                has_content = True
                k = j
    if has_content:
        fields.append(current)
    return fields


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _glob_unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def shell_match(text: str, pattern: str) -> bool:
    """Shell pattern matching (* ? [...] [!...], backslash escapes)."""
    regex = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            regex.append(re.escape(pattern[i + 1]))
            i += 2
        elif c == "*":
            regex.append(".*")
            i += 1
        elif c == "?":
            regex.append(".")
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1:i + 2] in ("!", "^") else i + 1)
            if end < 0:
                regex.append(re.escape(c))
                i += 1
                continue
            inner = pattern[i + 1:end]
            if inner[:1] in ("!", "^"):
                inner = "^" + inner[1:]
            inner = inner.replace("\\", "\\\\")
            regex.append(f"[{inner}]")
            i = end + 1
        else:
            regex.append(re.escape(c))
            i += 1
    return re.fullmatch("".join(regex), text, re.S) is not None


def _quote_for_trace(word: str) -> str:
    if word and all(c.isalnum() or c in "-_./=:,+@%" for c in word):
        return word
    return "'" + word.replace("'", "'\\''") + "'"


def drive(coroutine: Coroutine[Any, Any, int]) -> int:
    """Run a coroutine that never waits (no terminal, its input given) to its end, now."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return int(done.value or 0)
    coroutine.close()
    raise RuntimeError("a guest command waited for input or time in a run that has neither")


def _script_runner(text: str) -> Callable[[Call], Awaitable[int]]:
    async def run(call: Call) -> int:
        shell = call.shell
        shell.positional = call.args
        shell.script_name = call.shell.argv0
        shell.interactive = False
        first = text.split("\n", 1)[0]
        shell.dialect = "bash" if first.startswith("#!") and "bash" in first else "dash"
        return await shell.run_text(text, call.io, source="script")

    return run


# ================================================================ arithmetic


@functools.lru_cache(maxsize=512)
def arithmetic_tokens(text: str) -> tuple[str, ...]:
    tokens = []
    pos = 0
    while pos < len(text):
        m = Arithmetic.TOKEN.match(text, pos)
        if m is None:
            raise ExpansionError(f"{text}: syntax error in expression (error token is \"{text[pos:]}\")")
        tokens.append(m.group(1))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tuple(tokens)


class Arithmetic:
    """$(( )): integers, + - * / % ** << >> & | ^ ~ ! comparisons && || ?: = += ..."""

    TOKEN = re.compile(r"\s*(0[xX][0-9a-fA-F]+|\d+|[A-Za-z_][A-Za-z0-9_]*|\*\*|<<|>>|<=|>=|==|!=|&&|\|\||"
                       r"[-+*/%]=|[-+*/%()<>!~&|^?:=])")

    def __init__(self, shell: Shell) -> None:
        self.shell = shell

    def evaluate(self, text: str) -> int:
        text = text.strip()
        self.tokens = list(arithmetic_tokens(text))
        self.index = 0
        if not self.tokens:
            return 0
        value = self.assignment()
        if self.index != len(self.tokens):
            raise ExpansionError(f"{text}: syntax error in expression (error token is "
                                 f"\"{' '.join(self.tokens[self.index:])}\")")
        return value

    def peek(self) -> str | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> str:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def assignment(self) -> int:
        if (self.index + 1 < len(self.tokens) and NAME_RE.fullmatch(self.tokens[self.index])
                and self.tokens[self.index + 1] in ("=", "+=", "-=", "*=", "/=", "%=")):
            name = self.take()
            op = self.take()
            value = self.assignment()
            if op != "=":
                value = self.binary(op[0], self.variable(name), value)
            self.shell.set(name, str(value))
            return value
        return self.ternary()

    def ternary(self) -> int:
        condition = self.logical_or()
        if self.peek() == "?":
            self.take()
            yes = self.assignment()
            if self.peek() != ":":
                raise ExpansionError("`:' expected for conditional expression")
            self.take()
            no = self.assignment()
            return yes if condition else no
        return condition

    PRECEDENCE = {"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6, "<": 7, ">": 7, "<=": 7, ">=": 7,
                  "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10}

    def logical_or(self, min_precedence: int = 1) -> int:
        """Binary operators by precedence climbing (all left-associative)."""
        value = self.power()
        while True:
            op = self.peek()
            precedence = self.PRECEDENCE.get(op) if op is not None else None
            if precedence is None or precedence < min_precedence:
                return value
            self.take()
            value = self.binary(op, value, self.logical_or(precedence + 1))  # type: ignore[arg-type]

    def power(self) -> int:
        base = self.unary()
        if self.peek() == "**":
            self.take()
            return base ** self.power()
        return base

    def unary(self) -> int:
        token = self.peek()
        if token in ("-", "+", "!", "~"):
            self.take()
            value = self.unary()
            return {"-": -value, "+": value, "!": int(not value), "~": ~value}[token]
        return self.primary()

    def primary(self) -> int:
        if self.peek() is None:
            raise ExpansionError("syntax error: operand expected")
        token = self.take()
        if token == "(":
            value = self.assignment()
            if self.peek() != ")":
                raise ExpansionError("missing `)'")
            self.take()
            return value
        if token.isdigit():
            return int(token, 8) if token.startswith("0") and len(token) > 1 else int(token)
        if token.lower().startswith("0x"):
            return int(token, 16)
        if NAME_RE.fullmatch(token):
            return self.variable(token)
        raise ExpansionError(f"syntax error: operand expected (error token is \"{token}\")")

    def variable(self, name: str) -> int:
        raw = (self.shell.get(name) or "0").strip() or "0"
        try:
            return int(raw, 0) if raw.lower().startswith("0x") else int(raw)
        except ValueError:
            return Arithmetic(self.shell).evaluate(raw) if raw != name else 0

    @staticmethod
    def binary(op: str, a: int, b: int) -> int:
        if op in ("/", "%") and b == 0:
            raise ExpansionError("division by 0 (error token is \"0\")")
        return ARITHMETIC_OPERATORS[op](a, b)


ARITHMETIC_OPERATORS: dict[str, Callable[[int, int], int]] = {
    "||": lambda x, y: int(bool(x) or bool(y)), "&&": lambda x, y: int(bool(x) and bool(y)),
    "|": lambda x, y: x | y, "^": lambda x, y: x ^ y, "&": lambda x, y: x & y,
    "==": lambda x, y: int(x == y), "!=": lambda x, y: int(x != y), "<": lambda x, y: int(x < y),
    ">": lambda x, y: int(x > y), "<=": lambda x, y: int(x <= y), ">=": lambda x, y: int(x >= y),
    "<<": lambda x, y: x << y, ">>": lambda x, y: x >> y, "+": lambda x, y: x + y, "-": lambda x, y: x - y,
    "*": lambda x, y: x * y, "/": lambda x, y: int(x / y), "%": lambda x, y: x - int(x / y) * y,
}


# ================================================================ commands


class Call:
    """One command invocation: its words, its streams and the shell it runs in."""

    def __init__(self, shell: Shell, argv: list[str], io: Io, line: int = 1) -> None:
        self.shell = shell
        self.argv = argv
        self.io = io
        self.line = line

    @property
    def name(self) -> str:
        return self.argv[0].rsplit("/", 1)[-1]

    @property
    def args(self) -> list[str]:
        return self.argv[1:]

    @property
    def guest(self) -> Guest:
        return self.shell.guest

    @property
    def creds(self) -> Credentials:
        return self.shell.creds

    @property
    def root(self) -> bool:
        return self.shell.creds.root

    @property
    def shell_session(self) -> Any:
        """The interactive session this command runs in (sudo -i, su change its user), or None."""
        session = self.shell.session
        return session if session is not None and getattr(session, "interactive", False) else None

    def out(self, text: str) -> None:
        self.io.stdout.write(text)

    def err(self, text: str) -> None:
        self.io.stderr.write(text)

    def fail(self, message: str, status: int = 1) -> int:
        self.err(message if message.endswith("\n") else message + "\n")
        return status


Command = Callable[[Call], Awaitable[int]]
BUILTINS: dict[str, Command] = {}
SPECIAL_BUILTINS = {"export", "set", "unset", "readonly", "shift", "exit", "return", "break", "continue", ".",
                    "eval", "exec", ":", "source", "local", "trap"}
PROGRAM_IMPLEMENTATIONS: dict[str, Command] = {}
PROGRAMS: dict[str, str] = {}  # name -> "bin" | "sbin": where the image keeps it


def builtin(*names: str) -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        for name in names:
            BUILTINS[name] = fn
        return fn

    return register


def program(*names: str, where: str = "bin") -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        for name in names:
            PROGRAM_IMPLEMENTATIONS[name] = fn
            PROGRAMS[name] = where
        return fn

    return register


class UsageError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def getopt(args: list[str], short: str, long: list[str] | None = None, *, stop_at_first: bool = False,
           ) -> tuple[list[tuple[str, str]], list[str]]:
    """Options in GNU style: short letters (with ':' after those taking a value), long names
    (with '=' after those taking a value); returns ([(option, value)], operands)."""
    long = long or []
    takes = {c for i, c in enumerate(short) if i + 1 < len(short) and short[i + 1] == ":"}
    long_names = {name.rstrip("="): name.endswith("=") for name in long}
    options: list[tuple[str, str]] = []
    operands: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            operands.extend(args[i + 1:])
            break
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg[2:].partition("=")
            matches = [n for n in long_names if n == name] or [n for n in long_names if n.startswith(name)]
            if len(matches) != 1:
                raise UsageError(f"unrecognized option '{arg}'" if not matches else f"option '{arg}' is ambiguous")
            name = matches[0]
            if long_names[name]:
                if not eq:
                    i += 1
                    if i >= len(args):
                        raise UsageError(f"option '--{name}' requires an argument")
                    value = args[i]
                options.append(("--" + name, value))
            else:
                if eq:
                    raise UsageError(f"option '--{name}' doesn't allow an argument")
                options.append(("--" + name, ""))
        elif arg.startswith("-") and len(arg) > 1:
            k = 1
            while k < len(arg):
                c = arg[k]
                if c not in short or c == ":":
                    raise UsageError(f"invalid option -- '{c}'")
                if c in takes:
                    value = arg[k + 1:]
                    if not value:
                        i += 1
                        if i >= len(args):
                            raise UsageError(f"option requires an argument -- '{c}'")
                        value = args[i]
                    options.append(("-" + c, value))
                    break
                options.append(("-" + c, ""))
                k += 1
        else:
            operands.append(arg)
            if stop_at_first:
                operands.extend(args[i + 1:])
                break
        i += 1
    return options, operands



def parse_options(call: Call, short: str, long: list[str] | None = None, *, stop_at_first: bool = False,
                  ) -> tuple[list[tuple[str, str]], list[str]] | int:
    """getopt() with the GNU-style complaint on a bad option (exit 1)."""
    try:
        return getopt(call.args, short, long, stop_at_first=stop_at_first)
    except UsageError as exc:
        call.err(f"{call.name}: {exc.message}\nTry '{call.name} --help' for more information.\n")
        return 1


def flag_set(options: list[tuple[str, str]]) -> set[str]:
    return {o for o, _ in options}


# ---------------------------------------------------------------- builtins


@builtin(":", "true")
async def b_true(call: Call) -> int:
    return 0


@builtin("false")
async def b_false(call: Call) -> int:
    return 1


def echo_escapes(text: str) -> tuple[str, bool]:
    """echo -e / printf %b escapes; the bool says \\c stopped the output."""
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\" or i + 1 >= len(text):
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1]
        simple = {"n": "\n", "t": "\t", "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "r": "\r", "v": "\v",
                  "e": "\x1b", "E": "\x1b"}
        if nxt in simple:
            out.append(simple[nxt])
            i += 2
        elif nxt == "c":
            return "".join(out), True
        elif nxt == "0" or nxt in "1234567":
            m = re.match(r"0?([0-7]{1,3})", text[i + 1:])
            assert m is not None
            out.append(chr(int(m.group(1), 8)))
            i += 1 + m.end()
        elif nxt == "x":
            m = re.match(r"[0-9a-fA-F]{1,2}", text[i + 2:])
            if m:
                out.append(chr(int(m.group(0), 16)))
                i += 2 + m.end()
            else:
                out.append("\\x")
                i += 2
        else:
            out.append("\\" + nxt)
            i += 2
    return "".join(out), False


@builtin("echo")
async def b_echo(call: Call) -> int:
    args = call.args
    newline = True
    escapes = call.shell.dialect == "dash"
    while args and re.fullmatch(r"-[neE]+", args[0]):
        for c in args[0][1:]:
            if c == "n":
                newline = False
            elif c == "e":
                escapes = True
            else:
                escapes = False
        args = args[1:]
    text = " ".join(args)
    if escapes:
        text, stopped = echo_escapes(text)
        if stopped:
            call.out(text)
            return 0
    call.out(text + ("\n" if newline else ""))
    return 0


PRINTF_SPEC = re.compile(r"%([-+ #0]*)(\*|\d+)?(?:\.(\*|\d+))?([diouxXeEfgGcsbq%])")


def format_printf(call: Call, fmt: str, args: list[str]) -> tuple[str, int]:
    out: list[str] = []
    status = 0
    consumed_any = True
    index = 0
    while True:
        pos = 0
        consumed_any = False
        while pos < len(fmt):
            m = PRINTF_SPEC.search(fmt, pos)
            literal = fmt[pos:m.start() if m else len(fmt)]
            text, stopped = echo_escapes(literal)
            out.append(text)
            if stopped:
                return "".join(out), status
            if m is None:
                break
            pos = m.end()
            flags, width, precision, conv = m.groups()
            if conv == "%":
                out.append("%")
                continue

            def next_arg() -> str | None:
                nonlocal index, consumed_any
                if index < len(args):
                    index += 1
                    consumed_any = True
                    return args[index - 1]
                return None

            if width == "*":
                width = next_arg() or "0"
            if precision == "*":
                precision = next_arg() or "0"
            value = next_arg()
            spec = "%" + flags + (width or "") + ("." + precision if precision is not None else "")
            if conv in "diouxX":
                raw = value if value is not None else "0"
                try:
                    if raw[:1] in "'\"" and len(raw) > 1:
                        number = ord(raw[1])
                    else:
                        number = int(raw, 0) if re.fullmatch(r"[-+]?0[xX][0-9a-fA-F]+", raw) else int(raw or "0")
                except ValueError:
                    call.err(f"{call.shell.error_prefix(call.line)}printf: {raw}: invalid number\n")
                    status = 1
                    number = 0
                py = "d" if conv in "iu" else conv
                out.append((spec + py) % number)
            elif conv in "eEfgG":
                try:
                    number_f = float(value or "0")
                except ValueError:
                    call.err(f"{call.shell.error_prefix(call.line)}printf: {value}: invalid number\n")
                    status = 1
                    number_f = 0.0
                out.append((spec + conv) % number_f)
            elif conv == "c":
                out.append((spec + "s") % (value or "")[:1])
            elif conv == "b":
                text, stopped = echo_escapes(value or "")
                out.append((spec + "s") % text)
                if stopped:
                    return "".join(out), status
            elif conv == "q":
                out.append(shlex.quote(value or "''") if value else "''")
            else:
                out.append((spec + "s") % (value or ""))
        if index >= len(args) or not consumed_any:
            break
    return "".join(out), status


@builtin("printf")
async def b_printf(call: Call) -> int:
    args = call.args
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        call.err(f"{call.shell.error_prefix(call.line)}printf: usage: printf [-v var] format [arguments]\n")
        return 2
    variable = None
    if args[0] == "-v" and len(args) > 2:
        variable = args[1]
        args = args[2:]
    text, status = format_printf(call, args[0], args[1:])
    if variable:
        call.shell.set(variable, text)
    else:
        call.out(text)
    return status


class TestError(Exception):
    pass


def evaluate_test(call: Call, args: list[str]) -> bool:
    guest = call.guest
    shell = call.shell
    from .guest import DeviceFile, Directory, RegularFile, Symlink, may

    def node(path: str, follow: bool = True) -> Any:
        try:
            return guest.lookup(path, shell.cwd, follow=follow)
        except PathError:
            return None

    def unary(op: str, operand: str) -> bool:
        if op == "-z":
            return operand == ""
        if op == "-n":
            return operand != ""
        if op in ("-L", "-h"):
            return isinstance(node(operand, follow=False), Symlink)
        if op == "-t":
            return shell.terminal is not None and operand in ("0", "1", "2")
        n = node(operand) if operand else None
        if op == "-e":
            return n is not None
        if op == "-f":
            return isinstance(n, RegularFile)
        if op == "-d":
            return isinstance(n, Directory)
        if op == "-b":
            return isinstance(n, DeviceFile) and n.block
        if op == "-c":
            return isinstance(n, DeviceFile) and not n.block
        if op == "-s":
            return n is not None and (isinstance(n, Directory) or getattr(n, "size", 0) > 0 or
                                      isinstance(n, DeviceFile))
        if op == "-r":
            return n is not None and may(n, shell.creds, 4)
        if op == "-w":
            return n is not None and may(n, shell.creds, 2)
        if op == "-x":
            return n is not None and may(n, shell.creds, 1)
        if op in ("-p", "-S", "-g", "-u", "-k", "-O", "-G", "-N"):
            return False
        raise TestError(f"{op}: unary operator expected")

    def integer(text: str) -> int:
        try:
            return int(text.strip())
        except ValueError:
            raise TestError(f"{text}: integer expression expected") from None

    def binary(left: str, op: str, right: str) -> bool:
        if op in ("=", "=="):
            return left == right
        if op == "!=":
            return left != right
        if op == "<":
            return left < right
        if op == ">":
            return left > right
        comparisons = {"-eq": int.__eq__, "-ne": int.__ne__, "-lt": int.__lt__, "-le": int.__le__,
                       "-gt": int.__gt__, "-ge": int.__ge__}
        if op in comparisons:
            return bool(comparisons[op](integer(left), integer(right)))
        if op in ("-nt", "-ot", "-ef"):
            return False
        raise TestError(f"{op}: binary operator expected")

    UNARY = {"-z", "-n", "-e", "-f", "-d", "-b", "-c", "-L", "-h", "-s", "-r", "-w", "-x", "-t", "-p", "-S", "-g",
             "-u", "-k", "-O", "-G", "-N"}
    BINARY = {"=", "==", "!=", "<", ">", "-eq", "-ne", "-lt", "-le", "-gt", "-ge", "-nt", "-ot", "-ef"}

    def simple(items: list[str]) -> bool:
        if len(items) == 0:
            return False
        if len(items) == 1:
            return items[0] != ""
        if len(items) == 2:
            if items[0] == "!":
                return not simple(items[1:])
            if items[0] in UNARY:
                return unary(items[0], items[1])
            raise TestError(f"{items[0]}: unary operator expected")
        if len(items) == 3:
            if items[1] in BINARY:
                return binary(items[0], items[1], items[2])
            if items[0] == "!":
                return not simple(items[1:])
            if items[0] == "(" and items[2] == ")":
                return simple(items[1:2])
            if items[1] in ("-a", "-o"):
                return expression(items)
            raise TestError(f"{items[1]}: binary operator expected")
        if len(items) == 4 and items[0] == "!":
            return not simple(items[1:])
        return expression(items)

    def expression(items: list[str]) -> bool:
        # -o binds looser than -a; parentheses group
        depth = 0
        for k in range(len(items) - 1, -1, -1):
            token = items[k]
            if token == ")":
                depth += 1
            elif token == "(":
                depth -= 1
            elif token == "-o" and depth == 0 and 0 < k < len(items) - 1:
                return expression(items[:k]) or expression(items[k + 1:])
        for k in range(len(items) - 1, -1, -1):
            token = items[k]
            if token == ")":
                depth += 1
            elif token == "(":
                depth -= 1
            elif token == "-a" and depth == 0 and 0 < k < len(items) - 1:
                return expression(items[:k]) and expression(items[k + 1:])
        if items and items[0] == "(" and items[-1] == ")":
            return expression(items[1:-1])
        if len(items) <= 4:
            return simple(items)
        raise TestError("too many arguments")

    return simple(args)


@builtin("test", "[")
async def b_test(call: Call) -> int:
    args = call.args
    if call.name == "[":
        if not args or args[-1] != "]":
            call.err(f"{call.shell.error_prefix(call.line)}[: missing `]'\n")
            return 2
        args = args[:-1]
    try:
        return 0 if evaluate_test(call, args) else 1
    except TestError as exc:
        call.err(f"{call.shell.error_prefix(call.line)}{call.name}: {exc}\n")
        return 2


@builtin("cd")
async def b_cd(call: Call) -> int:
    from .guest import Directory, may

    shell = call.shell
    args = [a for a in call.args if a not in ("-L", "-P")]
    if len(args) > 1:
        call.err(f"{shell.error_prefix(call.line)}cd: too many arguments\n")
        return 1
    if not args:
        target = shell.get("HOME") or "/"
    elif args[0] == "-":
        target = shell.get("OLDPWD") or shell.cwd
        call.out(target + "\n")
    else:
        target = args[0]
    try:
        canonical = call.guest.resolve(target, shell.cwd, who=shell.creds)
        node = call.guest.lookup(canonical)
    except PathError as exc:
        call.err(f"{shell.error_prefix(call.line)}cd: {target}: {exc.reason}\n")
        return 1
    if not isinstance(node, Directory):
        call.err(f"{shell.error_prefix(call.line)}cd: {target}: Not a directory\n")
        return 1
    if not may(node, shell.creds, 1):
        call.err(f"{shell.error_prefix(call.line)}cd: {target}: Permission denied\n")
        return 1
    shell.set("OLDPWD", shell.cwd)
    shell.frame.cwd = canonical
    shell.set("PWD", canonical)
    return 0


@builtin("pwd")
async def b_pwd(call: Call) -> int:
    call.out(call.shell.cwd + "\n")
    return 0


@builtin("exit")
async def b_exit(call: Call) -> int:
    status = call.shell.last_status
    if call.args:
        try:
            status = int(call.args[0]) & 0xFF
        except ValueError:
            call.err(f"{call.shell.error_prefix(call.line)}exit: {call.args[0]}: numeric argument required\n")
            status = 2
    raise ExitShell(status)


@builtin("return")
async def b_return(call: Call) -> int:
    status = call.shell.last_status
    if call.args:
        try:
            status = int(call.args[0]) & 0xFF
        except ValueError:
            call.err(f"{call.shell.error_prefix(call.line)}return: {call.args[0]}: numeric argument required\n")
            status = 2
    if call.shell.function_depth == 0 and call.shell.script_name is None:
        call.err(f"{call.shell.error_prefix(call.line)}return: can only `return' from a function or sourced script\n")
        return 1
    raise ReturnFromFunction(status)


@builtin("break", "continue")
async def b_loop_control(call: Call) -> int:
    if call.shell.loop_depth == 0:
        return 0
    levels = int(call.args[0]) if call.args and call.args[0].isdigit() else 1
    raise LoopControl(call.name, max(1, min(levels, call.shell.loop_depth)))


@builtin("shift")
async def b_shift(call: Call) -> int:
    count = int(call.args[0]) if call.args and call.args[0].isdigit() else 1
    if count > len(call.shell.positional):
        return 1
    call.shell.positional = call.shell.positional[count:]
    return 0


@builtin("export", "readonly")
async def b_export(call: Call) -> int:
    shell = call.shell
    args = [a for a in call.args if a not in ("-n", "-f")]
    if not args or call.args == ["-p"]:
        for name in sorted(shell.frame.exported):
            value = shell.frame.variables.get(name)
            if value is not None:
                call.out(f'declare -x {name}="{value}"\n')
        return 0
    status = 0
    for arg in args:
        if arg == "-p":
            continue
        name, eq, value = arg.partition("=")
        if not NAME_RE.fullmatch(name):
            call.err(f"{shell.error_prefix(call.line)}{call.name}: `{arg}': not a valid identifier\n")
            status = 1
            continue
        if eq:
            shell.set(name, value)
        if "-n" in call.args:
            shell.frame.exported.discard(name)
        else:
            shell.frame.exported.add(name)
    return status


@builtin("local")
async def b_local(call: Call) -> int:
    for arg in call.args:
        name, eq, value = arg.partition("=")
        if eq:
            call.shell.set(name, value)
        elif call.shell.get(name) is None:
            call.shell.set(name, "")
    return 0


@builtin("unset")
async def b_unset(call: Call) -> int:
    functions = "-f" in call.args
    for name in call.args:
        if name in ("-f", "-v"):
            continue
        if functions:
            call.shell.frame.functions.pop(name, None)
        else:
            call.shell.frame.variables.pop(name, None)
            call.shell.frame.exported.discard(name)
    return 0


SET_LONG = {"errexit": "e", "nounset": "u", "xtrace": "x", "noglob": "f", "allexport": "a", "pipefail": "pipefail",
            "noclobber": "C", "verbose": "v", "monitor": "m", "notify": "b", "emacs": "emacs", "vi": "vi"}


@builtin("set")
async def b_set(call: Call) -> int:
    shell = call.shell
    args = call.args
    if not args:
        for name in sorted(shell.frame.variables):
            call.out(f"{name}={shlex.quote(shell.frame.variables[name])}\n")
        return 0
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            shell.positional = args[i + 1:]
            return 0
        if arg in ("-o", "+o"):
            if i + 1 >= len(args):
                for long_name, short in SET_LONG.items():
                    state = "on" if short in shell.frame.options else "off"
                    call.out(f"{long_name:<15}\t{state}\n")
                return 0
            name = args[i + 1]
            if name not in SET_LONG:
                call.err(f"{shell.error_prefix(call.line)}set: {name}: invalid option name\n")
                return 2
            (shell.frame.options.add if arg == "-o" else shell.frame.options.discard)(SET_LONG[name])
            i += 2
            continue
        if arg[:1] in "-+" and len(arg) > 1:
            for c in arg[1:]:
                if c not in "euxfavCmbhBHT":
                    call.err(f"{shell.error_prefix(call.line)}set: {arg[0]}{c}: invalid option\n")
                    return 2
                (shell.frame.options.add if arg[0] == "-" else shell.frame.options.discard)(c)
            i += 1
            continue
        shell.positional = args[i:]
        return 0
    return 0


@builtin("read")
async def b_read(call: Call) -> int:
    options = parse_options(call, "rsp:t:n:d:a:u:")
    if isinstance(options, int):
        return 2
    opts, names = options
    flags = dict(opts)
    if "-p" in flags and call.io.stdin.is_terminal:
        call.err(flags["-p"])
    line = await call.io.stdin.readline()
    if not line:
        for name in names or ["REPLY"]:
            call.shell.set(name, "")
        return 1
    ended = line.endswith("\n")
    text = line[:-1] if ended else line
    if "-r" not in flags:
        text = re.sub(r"\\(.)", r"\1", text)
    if not names:
        call.shell.set("REPLY", text)
        return 0 if ended else 1
    ifs = call.shell.get("IFS")
    ifs = " \t\n" if ifs is None else ifs
    white = "".join(c for c in ifs if c in " \t\n")
    parts: list[str] = []
    rest = text.strip(white) if white else text
    for index in range(len(names)):
        if index == len(names) - 1:
            parts.append(rest.rstrip(white) if white else rest)
            break
        if not ifs:
            parts.append(rest)
            rest = ""
            continue
        m = re.search("[" + re.escape(ifs) + "]", rest)
        if m is None:
            parts.append(rest)
            rest = ""
            continue
        parts.append(rest[:m.start()])
        rest = rest[m.end():].lstrip(white) if white else rest[m.end():]
    for name, value in zip(names, parts + [""] * (len(names) - len(parts)), strict=True):
        call.shell.set(name, value)
    return 0 if ended else 1


@builtin("eval")
async def b_eval(call: Call) -> int:
    if not call.args:
        return 0
    try:
        tree = parse(" ".join(call.args))
    except ShellSyntaxError as exc:
        call.err(call.shell.syntax_message(exc, "-c").replace("syntax error", "eval: syntax error", 1) + "\n")
        return 2
    return await call.shell.execute(tree, call.io)


@builtin(".", "source")
async def b_source(call: Call) -> int:
    if not call.args:
        call.err(f"{call.shell.error_prefix(call.line)}{call.name}: filename argument required\n")
        return 2
    try:
        text = call.guest.read_file(call.args[0], call.shell.cwd, call.creds)
    except PathError as exc:
        call.err(f"{call.shell.error_prefix(call.line)}{call.args[0]}: {exc.reason}\n")
        return 1
    saved = call.shell.positional
    if len(call.args) > 1:
        call.shell.positional = call.args[1:]
    try:
        tree = parse(text)
        return await call.shell.execute(tree, call.io)
    except ShellSyntaxError as exc:
        call.err(f"{call.args[0]}: line {exc.line}: {exc}\n")
        return 2
    except ReturnFromFunction as done:
        return done.status
    finally:
        call.shell.positional = saved


@builtin("exec")
async def b_exec(call: Call) -> int:
    if not call.args:
        return 0
    status = await call.shell.invoke(call.args, call.io, line=call.line)
    raise ExitShell(status)


@builtin("command")
async def b_command(call: Call) -> int:
    args = call.args
    if args and args[0] in ("-v", "-V"):
        status = 1
        for name in args[1:]:
            description = describe_command(call.shell, name, verbose=args[0] == "-V")
            if description is not None:
                call.out(description + "\n")
                status = 0
            elif args[0] == "-V":
                call.err(f"{call.shell.error_prefix(call.line)}command: {name}: not found\n")
        return status
    if args and args[0] == "-p":
        args = args[1:]
    if not args:
        return 0
    saved = call.shell.frame.functions
    call.shell.frame.functions = {}
    try:
        return await call.shell.invoke(args, call.io, line=call.line)
    finally:
        call.shell.frame.functions = saved


def describe_command(shell: Shell, name: str, *, verbose: bool) -> str | None:
    if name in RESERVED and name not in ("in",):
        return f"{name} is a shell keyword" if verbose else name
    if name in shell.frame.functions:
        return f"{name} is a function" if verbose else name
    if name in BUILTINS:
        return f"{name} is a shell builtin" if verbose else name
    _program, path, _problem = shell.find_program(name)
    if path is not None:
        shown = path if "/" not in name else name
        for directory in (shell.get("PATH") or "").split(":"):
            candidate = directory.rstrip("/") + "/" + name
            if "/" not in name and shell.guest.exists(candidate):
                shown = candidate
                break
        return f"{name} is {shown}" if verbose else shown
    return None


@builtin("type")
async def b_type(call: Call) -> int:
    status = 0
    for name in call.args:
        if name.startswith("-"):
            continue
        description = describe_command(call.shell, name, verbose=True)
        if description is None:
            call.err(f"{call.shell.error_prefix(call.line)}type: {name}: not found\n")
            status = 1
        else:
            call.out(description + "\n")
    return status


@builtin("trap", "wait", "hash", "alias", "unalias", "ulimit", "shopt", "disown", "jobs", "bind", "complete")
async def b_accept(call: Call) -> int:
    return 0


@builtin("umask")
async def b_umask(call: Call) -> int:
    if not call.args:
        call.out("0022\n" if call.root else "0002\n")
    return 0


@builtin("history")
async def b_history(call: Call) -> int:
    if call.args and call.args[0] == "-c":
        call.shell.history.clear()
        return 0
    for number, entry in enumerate(call.shell.history, 1):
        call.out(f"{number:>5}  {entry}\n")
    return 0


@builtin("let")
async def b_let(call: Call) -> int:
    value = 0
    try:
        for expression in call.args:
            value = call.shell.arithmetic(expression)
    except ExpansionError as exc:
        call.err(f"{call.shell.error_prefix(call.line)}let: {exc}\n")
        return 1
    return 0 if value else 1


for _name in ("true", "false", "echo", "printf", "test", "["):
    PROGRAM_IMPLEMENTATIONS[_name] = BUILTINS[_name]
    PROGRAMS[_name] = "bin"


# ---------------------------------------------------------------- files: cat, ls, mkdir, rm ...


async def read_inputs(call: Call, operands: list[str]) -> tuple[list[str], int]:
    """The text of each operand ("-" or none: stdin); errors reported as cat does."""
    texts = []
    status = 0
    for operand in operands or ["-"]:
        if operand == "-":
            texts.append(await call.io.stdin.read())
            continue
        try:
            texts.append(call.guest.read_file(operand, call.shell.cwd, call.creds))
        except PathError as exc:
            call.err(f"{call.name}: {operand}: {exc.reason}\n")
            status = 1
    return texts, status


@program("cat")
async def p_cat(call: Call) -> int:
    options = parse_options(call, "nbsAvET", ["number", "show-all"])
    if isinstance(options, int):
        return options
    opts, operands = options
    status = 0
    number = "-n" in flag_set(opts) or "--number" in flag_set(opts)
    counter = 0
    for operand in operands or ["-"]:
        if operand == "-":
            if call.io.stdin.is_terminal:
                while line := await call.io.stdin.readline():
                    call.out(line)
                continue
            text = await call.io.stdin.read()
        else:
            try:
                text = call.guest.read_file(operand, call.shell.cwd, call.creds)
            except PathError as exc:
                call.err(f"cat: {operand}: {exc.reason}\n")
                status = 1
                continue
        if number:
            lines = text.splitlines(keepends=True)
            numbered = []
            for line in lines:
                counter += 1
                numbered.append(f"{counter:>6}\t{line}")
            text = "".join(numbered)
        call.out(text)
    return status


def mode_string(node: Any) -> str:
    from .guest import DeviceFile, Directory, Symlink

    kind = "d" if isinstance(node, Directory) else "l" if isinstance(node, Symlink) else \
        ("b" if node.block else "c") if isinstance(node, DeviceFile) else "-"
    bits = ""
    for shift in (6, 3, 0):
        part = (node.mode >> shift) & 7
        bits += ("r" if part & 4 else "-") + ("w" if part & 2 else "-") + ("x" if part & 1 else "-")
    if node.mode & 0o4000:
        bits = bits[:2] + ("s" if bits[2] == "x" else "S") + bits[3:]
    if node.mode & 0o1000:
        bits = bits[:8] + ("t" if bits[8] == "x" else "T")
    if isinstance(node, Symlink):
        bits = "rwxrwxrwx"
    return kind + bits


def group_name(guest: Guest, gid: int) -> str:
    names = {0: "root", 4: "adm", 5: "tty", 6: "disk", 27: "sudo", 42: "shadow", 104: "syslog",
             1000: guest.admin_user}
    return names.get(gid, str(gid))


def ls_time(timestamp: float, now: float) -> str:
    import time as time_module

    t = time_module.gmtime(timestamp)
    month = time_module.strftime("%b", t)
    if abs(now - timestamp) > 182 * 86400:
        return f"{month} {t.tm_mday:>2}  {t.tm_year}"
    return f"{month} {t.tm_mday:>2} {t.tm_hour:02d}:{t.tm_min:02d}"


@program("ls", "dir")
async def p_ls(call: Call) -> int:
    from .guest import DeviceFile, Directory, Symlink

    options = parse_options(call, "laAdhF1RtrSiCn", ["all", "almost-all", "directory", "human-readable", "color=",
                                                       "classify", "numeric-uid-gid"])
    if isinstance(options, int):
        return 2
    opts, operands = options
    flags = flag_set(opts)
    long_format = "-l" in flags or "-n" in flags
    show_all = "-a" in flags or "--all" in flags
    almost = "-A" in flags or "--almost-all" in flags
    as_dir = "-d" in flags or "--directory" in flags
    human = "-h" in flags or "--human-readable" in flags
    classify = "-F" in flags or "--classify" in flags
    numeric = "-n" in flags
    guest = call.guest
    shell = call.shell
    status = 0
    files: list[tuple[str, Any, str]] = []
    dirs: list[tuple[str, str]] = []
    for operand in operands or ["."]:
        try:
            node = guest.lookup(operand, shell.cwd, follow=not long_format or operand.endswith("/"), who=call.creds)
        except PathError as exc:
            call.err(f"ls: cannot access '{operand}': {exc.reason}\n")
            status = 2
            continue
        if isinstance(node, Directory) and not as_dir:
            dirs.append((operand, guest.resolve(operand, shell.cwd)))
        elif isinstance(node, Symlink) and long_format and not as_dir:
            target_node = None
            try:
                target_node = guest.lookup(operand, shell.cwd)
            except PathError:
                pass
            if isinstance(target_node, Directory) and operand.endswith("/"):
                dirs.append((operand, guest.resolve(operand, shell.cwd)))
            else:
                files.append((operand, node, guest.resolve(operand, shell.cwd, follow=False)))
        else:
            files.append((operand, node, guest.resolve(operand, shell.cwd, follow=False)))

    def size_text(node: Any) -> str:
        if isinstance(node, DeviceFile):
            return f"{node.major}, {node.minor}"
        size = len(node.target) if isinstance(node, Symlink) else getattr(node, "size", 0)
        if human:
            return human_size_ls(size)
        return str(size)

    def render(entries: list[tuple[str, Any, str]]) -> None:
        if not entries:
            return
        if not long_format:
            names = []
            for name, node, _path in entries:
                suffix = ""
                if classify:
                    suffix = "/" if isinstance(node, Directory) else "@" if isinstance(node, Symlink) else \
                        "*" if getattr(node, "mode", 0) & 0o111 and not isinstance(node, DeviceFile) else ""
                names.append((ls_quote(name) if shell.terminal is not None else name) + suffix)
            if shell.terminal is not None and "-1" not in flags:
                call.out(columnate(names, shell.terminal.columns))
            else:
                call.out("".join(n + "\n" for n in names))
            return
        rows = []
        for name, node, _path in entries:
            owner = str(node.uid) if numeric else guest.user_named(node.uid)
            group = str(node.gid) if numeric else group_name(guest, node.gid)
            links = str(2 + sum(isinstance(c, Directory) for c in node.entries.values())) if isinstance(
                node, Directory) else "1"
            shown = (ls_quote(name) if shell.terminal is not None else name)
            if isinstance(node, Symlink):
                shown += f" -> {node.target}"
            elif classify and isinstance(node, Directory):
                shown += "/"
            rows.append([mode_string(node), links, owner, group, size_text(node), ls_time(node.mtime, guest.clock()),
                         shown])
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        for r in rows:
            call.out(f"{r[0]} {r[1]:>{widths[1]}} {r[2]:<{widths[2]}} {r[3]:<{widths[3]}} {r[4]:>{widths[4]}} "
                     f"{r[5]} {r[6]}\n")

    render(sorted(files, key=lambda e: ls_sort_key(e[0])))
    for index, (operand, canonical) in enumerate(dirs):
        node = guest.lookup(canonical)
        from .guest import may

        if not may(node, call.creds, 4):
            call.err(f"ls: cannot open directory '{operand}': Permission denied\n")
            status = 2
            continue
        entries = []
        names = sorted(node.entries, key=ls_sort_key)
        if show_all:
            entries.append((".", node, canonical))
            parent = guest.lookup(canonical.rsplit("/", 1)[0] or "/")
            entries.append(("..", parent, canonical))
        for name in names:
            if name.startswith(".") and not (show_all or almost):
                continue
            child_path = canonical.rstrip("/") + "/" + name
            try:
                child = guest.lookup(child_path, follow=False)
            except PathError:
                continue
            entries.append((name, child, child_path))
        if len(dirs) > 1 or files:
            if index or files:
                call.out("\n")
            call.out(f"{operand}:\n")
        if long_format:
            from .guest import RegularFile

            total = sum(-(-e[1].size // 4096) * 4 for e in entries if isinstance(e[1], RegularFile)) + \
                sum(4 for e in entries if isinstance(e[1], Directory) and not e[1].in_memory)
            call.out(f"total {total}\n")
        render(entries)
    return status


def ls_sort_key(name: str) -> tuple[str, str]:
    stripped = name.lstrip(".").lower()
    return (stripped, name)


def ls_quote(name: str) -> str:
    if any(c in name for c in " \t'\"$`\\!*?[]{}()&;|<>~#"):
        return "'" + name.replace("'", "'\\''") + "'"
    return name


def columnate(names: list[str], width: int) -> str:
    if not names:
        return ""
    for rows in range(1, len(names) + 1):
        cols = -(-len(names) // rows)
        col_widths = []
        for c in range(cols):
            chunk = names[c * rows:(c + 1) * rows]
            col_widths.append(max(len(n) for n in chunk) + 2)
        if sum(col_widths) - 2 <= width or rows == len(names):
            lines = []
            for r in range(rows):
                parts = []
                for c in range(cols):
                    k = c * rows + r
                    if k < len(names):
                        last = c == cols - 1 or (c + 1) * rows + r >= len(names)
                        parts.append(names[k] if last else names[k].ljust(col_widths[c]))
                lines.append("".join(parts))
            return "\n".join(lines) + "\n"
    return "\n".join(names) + "\n"


def human_size_ls(size: int) -> str:
    if size < 1024:
        return str(size)
    value = float(size)
    for unit in "KMGTPE":
        value /= 1024
        if value < 1024 or unit == "E":
            if value < 10:
                tenths = -(-size * 10 // 1024 ** ("KMGTPE".index(unit) + 1))
                return f"{tenths // 10}.{tenths % 10}{unit}"
            return f"{-(-size // 1024 ** ('KMGTPE'.index(unit) + 1))}{unit}"
    return str(size)


@program("mkdir")
async def p_mkdir(call: Call) -> int:
    options = parse_options(call, "pvm:", ["parents", "verbose", "mode="])
    if isinstance(options, int):
        return options
    opts, operands = options
    flags = flag_set(opts)
    parents = "-p" in flags or "--parents" in flags
    if not operands:
        return call.fail("mkdir: missing operand\nTry 'mkdir --help' for more information.")
    status = 0
    guest = call.guest
    for operand in operands:
        path = operand
        try:
            if parents:
                from .guest import normpath

                guest.make_dirs(normpath(path, call.shell.cwd), who=call.creds)
                continue
            if guest.exists(path, call.shell.cwd):
                call.err(f"mkdir: cannot create directory ‘{operand}’: File exists\n")
                status = 1
                continue
            parent, name, canonical = guest.parent_dir(path, call.shell.cwd)
            from .guest import Directory, may

            if not may(parent, call.creds, 2):
                call.err(f"mkdir: cannot create directory ‘{operand}’: Permission denied\n")
                status = 1
                continue
            parent.entries[name] = Directory(0o755 if call.root else 0o775, call.creds.uid, call.creds.gid,
                                             guest.clock())
        except PathError as exc:
            call.err(f"mkdir: cannot create directory ‘{operand}’: {exc.reason}\n")
            status = 1
    return status


@program("rmdir")
async def p_rmdir(call: Call) -> int:
    from .guest import Directory, may

    status = 0
    for operand in [a for a in call.args if not a.startswith("-")]:
        try:
            parent, name, canonical = call.guest.parent_dir(operand, call.shell.cwd)
            node = parent.entries.get(name)
            if node is None:
                raise PathError(operand, "No such file or directory")
            if not isinstance(node, Directory):
                raise PathError(operand, "Not a directory")
            if call.guest.is_mountpoint(canonical):
                raise PathError(operand, "Device or resource busy")
            if node.entries:
                raise PathError(operand, "Directory not empty")
            if not may(parent, call.creds, 2):
                raise PathError(operand, "Permission denied")
            del parent.entries[name]
        except PathError as exc:
            call.err(f"rmdir: failed to remove '{operand}': {exc.reason}\n")
            status = 1
    return status


@program("rm")
async def p_rm(call: Call) -> int:
    from .guest import Directory, may

    options = parse_options(call, "rRfivd", ["recursive", "force", "no-preserve-root", "verbose", "dir"])
    if isinstance(options, int):
        return options
    opts, operands = options
    flags = flag_set(opts)
    recursive = bool(flags & {"-r", "-R", "--recursive"})
    force = bool(flags & {"-f", "--force"})
    guest = call.guest
    if not operands:
        if force:
            return 0
        return call.fail("rm: missing operand\nTry 'rm --help' for more information.")
    status = 0

    def remove_tree(canonical: str, node: Any) -> bool:
        """Empty a directory tree; False when something in it could not go."""
        ok = True
        for name in list(node.entries):
            child_path = canonical.rstrip("/") + "/" + name
            child = node.entries[name]
            if guest.is_mountpoint(child_path):
                call.err(f"rm: cannot remove '{child_path}': Device or resource busy\n")
                ok = False
                continue
            if not may(node, call.creds, 2):
                call.err(f"rm: cannot remove '{child_path}': Permission denied\n")
                ok = False
                continue
            if isinstance(child, Directory):
                mounted_inside = any(m.target.startswith(child_path + "/") for m in guest.mounts)
                if not remove_tree(child_path, child) or mounted_inside:
                    ok = False
                    continue
            del node.entries[name]
        return ok

    for operand in operands:
        canonical = normpath_safe(guest, operand, call.shell.cwd)
        if canonical == "/" and recursive and "--no-preserve-root" not in flags:
            call.err("rm: it is dangerous to operate recursively on '/'\n"
                     "rm: use --no-preserve-root to override this failsafe\n")
            status = 1
            continue
        try:
            if canonical == "/":
                root_node = guest.lookup("/")
                if not remove_tree("/", root_node):
                    status = 1
                continue
            parent, name, canonical = guest.parent_dir(operand, call.shell.cwd)
            node = parent.entries.get(name)
            if node is None:
                if not force:
                    call.err(f"rm: cannot remove '{operand}': No such file or directory\n")
                    status = 1
                continue
            if isinstance(node, Directory) and not recursive:
                call.err(f"rm: cannot remove '{operand}': Is a directory\n")
                status = 1
                continue
            if guest.is_mountpoint(canonical):
                call.err(f"rm: cannot remove '{operand}': Device or resource busy\n")
                status = 1
                continue
            if not may(parent, call.creds, 2):
                call.err(f"rm: cannot remove '{operand}': Permission denied\n")
                status = 1
                continue
            if isinstance(node, Directory):
                if not remove_tree(canonical, node):
                    status = 1
                    continue
            del parent.entries[name]
        except PathError as exc:
            if not force:
                call.err(f"rm: cannot remove '{operand}': {exc.reason}\n")
                status = 1
    return status


def normpath_safe(guest: Guest, path: str, cwd: str) -> str:
    try:
        return guest.resolve(path, cwd, follow=False)
    except PathError:
        from .guest import normpath

        return normpath(path, cwd)


@program("touch")
async def p_touch(call: Call) -> int:
    status = 0
    for operand in [a for a in call.args if not a.startswith("-")]:
        try:
            if call.guest.exists(operand, call.shell.cwd):
                node = call.guest.lookup(operand, call.shell.cwd)
                from .guest import may

                if not may(node, call.creds, 2):
                    raise PathError(operand, "Permission denied")
                node.mtime = call.guest.clock()
            else:
                call.guest.write_file(operand, "", cwd=call.shell.cwd, who=call.creds)
        except PathError as exc:
            call.err(f"touch: cannot touch '{operand}': {exc.reason}\n")
            status = 1
    return status


@program("cp", "mv")
async def p_cp(call: Call) -> int:
    from .guest import Directory, RegularFile

    operands = [a for a in call.args if not a.startswith("-")]
    if len(operands) < 2:
        return call.fail(f"{call.name}: missing file operand\nTry '{call.name} --help' for more information.")
    *sources, destination = operands
    guest = call.guest
    status = 0
    for source in sources:
        try:
            node = guest.lookup(source, call.shell.cwd, who=call.creds)
            if isinstance(node, Directory):
                call.err(f"{call.name}: -r not specified; omitting directory '{source}'\n")
                status = 1
                continue
            text = guest.read_file(source, call.shell.cwd, call.creds)
            target = destination
            if guest.exists(destination, call.shell.cwd) and isinstance(
                    guest.lookup(destination, call.shell.cwd), Directory):
                target = destination.rstrip("/") + "/" + source.rsplit("/", 1)[-1]
            guest.write_file(target, text, cwd=call.shell.cwd, who=call.creds,
                             mode=node.mode if isinstance(node, RegularFile) else 0o644)
            if call.name == "mv":
                parent, name, _ = guest.parent_dir(source, call.shell.cwd)
                del parent.entries[name]
        except PathError as exc:
            call.err(f"{call.name}: cannot stat '{source}': {exc.reason}\n")
            status = 1
    return status


@program("ln")
async def p_ln(call: Call) -> int:
    from .guest import Symlink, may

    options = parse_options(call, "sfnTv", ["symbolic", "force"])
    if isinstance(options, int):
        return options
    opts, operands = options
    flags = flag_set(opts)
    if "-s" not in flags and "--symbolic" not in flags:
        return call.fail("ln: hard links are not supported in this guest (use -s)")
    if len(operands) != 2:
        return call.fail("ln: missing file operand")
    target, link = operands
    try:
        parent, name, _ = call.guest.parent_dir(link, call.shell.cwd)
        if name in parent.entries and not ({"-f", "--force"} & flags):
            return call.fail(f"ln: failed to create symbolic link '{link}': File exists")
        if not may(parent, call.creds, 2):
            return call.fail(f"ln: failed to create symbolic link '{link}': Permission denied")
        parent.entries[name] = Symlink(0o777, call.creds.uid, call.creds.gid, call.guest.clock(), target)
    except PathError as exc:
        return call.fail(f"ln: failed to create symbolic link '{link}': {exc.reason}")
    return 0


@program("chmod")
async def p_chmod(call: Call) -> int:
    operands = [a for a in call.args if not a.startswith("-") or re.fullmatch(r"-[rwxst]+", a)]
    if len(operands) < 2:
        return call.fail("chmod: missing operand")
    mode, *paths = operands
    status = 0
    for path in paths:
        try:
            node = call.guest.lookup(path, call.shell.cwd, who=call.creds)
            if not call.root and node.uid != call.creds.uid:
                raise PathError(path, "Operation not permitted")
            if re.fullmatch(r"[0-7]{1,4}", mode):
                node.mode = int(mode, 8)
            else:
                for clause in mode.split(","):
                    m = re.fullmatch(r"([ugoa]*)([-+=])([rwxst]*)", clause)
                    if m is None:
                        return call.fail(f"chmod: invalid mode: ‘{mode}’")
                    who, op, perms = m.groups()
                    who = who or "a"
                    bits = 0
                    for w in who:
                        shifts = {"u": [6], "g": [3], "o": [0], "a": [6, 3, 0]}[w]
                        for shift in shifts:
                            for p, v in (("r", 4), ("w", 2), ("x", 1)):
                                if p in perms:
                                    bits |= v << shift
                    if op == "+":
                        node.mode |= bits
                    elif op == "-":
                        node.mode &= ~bits
                    else:
                        node.mode = (node.mode & ~0o777) | bits
        except PathError as exc:
            call.err(f"chmod: cannot access '{path}': {exc.reason}\n" if exc.reason != "Operation not permitted"
                     else f"chmod: changing permissions of '{path}': Operation not permitted\n")
            status = 1
    return status


@program("chown")
async def p_chown(call: Call) -> int:
    operands = [a for a in call.args if not a.startswith("-")]
    if len(operands) < 2:
        return call.fail("chown: missing operand")
    owner, *paths = operands
    user, _, group = owner.partition(":")
    guest = call.guest
    status = 0
    for path in paths:
        if not call.root:
            call.err(f"chown: changing ownership of '{path}': Operation not permitted\n")
            status = 1
            continue
        try:
            node = guest.lookup(path, call.shell.cwd)
            if user:
                if user not in guest.users and not user.isdigit():
                    return call.fail(f"chown: invalid user: ‘{owner}’")
                node.uid = int(user) if user.isdigit() else guest.users[user][0]
            if group:
                node.gid = int(group) if group.isdigit() else guest.users.get(group, (0, 0, ""))[1]
        except PathError as exc:
            call.err(f"chown: cannot access '{path}': {exc.reason}\n")
            status = 1
    return status


@program("readlink", "realpath")
async def p_readlink(call: Call) -> int:
    from .guest import Symlink

    options = parse_options(call, "fenmqsvz", ["canonicalize", "canonicalize-existing", "no-newline", "quiet",
                                                "silent", "relative-to="])
    if isinstance(options, int):
        return options
    opts, operands = options
    flags = flag_set(opts)
    canonicalize = call.name == "realpath" or bool(flags & {"-f", "-e", "-m", "--canonicalize",
                                                             "--canonicalize-existing"})
    existing = call.name == "realpath" and "-m" not in flags or bool(flags & {"-e", "--canonicalize-existing"})
    quiet = bool(flags & {"-q", "-s", "--quiet", "--silent"})
    if not operands:
        return call.fail(f"{call.name}: missing operand\nTry '{call.name} --help' for more information.")
    status = 0
    for operand in operands:
        guest = call.guest
        if canonicalize:
            try:
                path = guest.resolve(operand, call.shell.cwd)
            except PathError as exc:
                if not quiet:
                    call.err(f"{call.name}: {operand}: {exc.reason}\n")
                status = 1
                continue
            if existing and not guest.exists(path):
                if call.name == "realpath" and not quiet:
                    call.err(f"realpath: {operand}: No such file or directory\n")
                status = 1
                continue
            call.out(path + ("" if "-n" in flags else "\n"))
            continue
        try:
            node = guest.lookup(operand, call.shell.cwd, follow=False)
        except PathError:
            status = 1
            continue
        if not isinstance(node, Symlink):
            status = 1
            continue
        call.out(node.target + ("" if "-n" in flags else "\n"))
    return status


@program("basename")
async def p_basename(call: Call) -> int:
    args = call.args
    if not args:
        return call.fail("basename: missing operand\nTry 'basename --help' for more information.")
    name = args[0].rstrip("/").rsplit("/", 1)[-1] or "/"
    if len(args) > 1 and name.endswith(args[1]) and name != args[1]:
        name = name[:-len(args[1])]
    call.out(name + "\n")
    return 0


@program("dirname")
async def p_dirname(call: Call) -> int:
    if not call.args:
        return call.fail("dirname: missing operand\nTry 'dirname --help' for more information.")
    for path in call.args:
        stripped = path.rstrip("/")
        if "/" not in stripped:
            call.out(("/" if path.startswith("/") else ".") + "\n")
            continue
        head = stripped.rsplit("/", 1)[0].rstrip("/")
        call.out((head or "/") + "\n")
    return 0


@program("stat")
async def p_stat(call: Call) -> int:
    from .guest import DeviceFile, Directory, Symlink

    options = parse_options(call, "cL:f", ["format=", "dereference"])
    if isinstance(options, int):
        return options
    opts, operands = options
    fmt = dict(opts).get("-c") or dict(opts).get("--format")
    status = 0
    for operand in operands:
        try:
            node = call.guest.lookup(operand, call.shell.cwd, follow="-L" in flag_set(opts))
        except PathError as exc:
            call.err(f"stat: cannot statx '{operand}': {exc.reason}\n")
            status = 1
            continue
        kind = "directory" if isinstance(node, Directory) else "symbolic link" if isinstance(node, Symlink) else \
            "block special file" if isinstance(node, DeviceFile) and node.block else \
            "character special file" if isinstance(node, DeviceFile) else "regular file"
        size = getattr(node, "size", 0) if not isinstance(node, Directory) else 4096
        if fmt:
            values = {"%n": operand, "%s": str(size), "%F": kind, "%a": f"{node.mode & 0o7777:o}",
                      "%A": mode_string(node), "%U": call.guest.user_named(node.uid), "%u": str(node.uid),
                      "%G": group_name(call.guest, node.gid), "%g": str(node.gid),
                      "%t": f"{getattr(node, 'major', 0):x}", "%T": f"{getattr(node, 'minor', 0):x}",
                      "%Y": str(int(node.mtime))}
            call.out(re.sub(r"%[a-zA-Z]", lambda m, v=values: v.get(m.group(0), m.group(0)), fmt) + "\n")
            continue
        call.out(f"  File: {operand}\n  Size: {size:<15} Blocks: {-(-size // 512):<10} IO Block: 4096   {kind}\n"
                 f"Access: ({node.mode & 0o7777:04o}/{mode_string(node)})  Uid: ({node.uid:>5}/"
                 f"{call.guest.user_named(node.uid):>8})   Gid: ({node.gid:>5}/{group_name(call.guest, node.gid):>8})\n")
    return status


# ---------------------------------------------------------------- text: head, tail, wc, grep, sed ...


def split_lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


@program("head", "tail")
async def p_head_tail(call: Call) -> int:
    args = list(call.args)
    count = 10
    from_start = False
    operands = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-n", "--lines") and i + 1 < len(args):
            value = args[i + 1]
            i += 2
        elif arg.startswith("-n"):
            value = arg[2:]
            i += 1
        elif arg.startswith("--lines="):
            value = arg[8:]
            i += 1
        elif re.fullmatch(r"-\d+", arg):
            value = arg[1:]
            i += 1
        elif arg in ("-q", "-s", "-f", "-F"):
            i += 1
            continue
        else:
            operands.append(arg)
            i += 1
            continue
        if value.startswith("+"):
            from_start = True
        try:
            count = int(value.lstrip("+-"))
        except ValueError:
            return call.fail(f"{call.name}: invalid number of lines: ‘{value}’")
    texts, status = await read_inputs(call, operands)
    for text in texts:
        lines = split_lines(text)
        if call.name == "head":
            call.out("".join(lines[:count]))
        elif from_start:
            call.out("".join(lines[max(0, count - 1):]))
        else:
            call.out("".join(lines[-count:] if count else []))
    return status


@program("wc")
async def p_wc(call: Call) -> int:
    options = parse_options(call, "lwcmL", ["lines", "words", "bytes", "chars"])
    if isinstance(options, int):
        return options
    opts, operands = options
    flags = flag_set(opts) or {"-l", "-w", "-c"}
    texts, status = await read_inputs(call, operands)
    for index, text in enumerate(texts):
        counts = []
        if flags & {"-l", "--lines"}:
            counts.append(text.count("\n"))
        if flags & {"-w", "--words"}:
            counts.append(len(text.split()))
        if flags & {"-c", "--bytes", "-m", "--chars"}:
            counts.append(len(text.encode()))
        width = 1 if len(counts) == 1 and not operands else 7 if not operands else max(len(str(c)) for c in counts)
        shown = " ".join(f"{c:>{width}}" for c in counts)
        name = f" {operands[index]}" if operands and index < len(operands) else ""
        call.out(shown + name + "\n")
    return status


@program("cut")
async def p_cut(call: Call) -> int:
    options = parse_options(call, "d:f:c:b:s", ["delimiter=", "fields=", "characters=", "bytes=", "only-delimited"])
    if isinstance(options, int):
        return options
    opts, operands = options
    values = dict(opts)
    delimiter = values.get("-d", values.get("--delimiter", "\t"))
    fields = values.get("-f", values.get("--fields"))
    chars = values.get("-c", values.get("-b", values.get("--characters", values.get("--bytes"))))
    if fields is None and chars is None:
        return call.fail("cut: you must specify a list of bytes, characters, or fields\n"
                         "Try 'cut --help' for more information.")
    spec = fields or chars or ""

    def selected(n: int) -> bool:
        for part in spec.split(","):
            if "-" in part:
                low, _, high = part.partition("-")
                if (int(low) if low else 1) <= n <= (int(high) if high else 10 ** 9):
                    return True
            elif part and int(part) == n:
                return True
        return False

    texts, status = await read_inputs(call, operands)
    for text in texts:
        for line in text.splitlines():
            if fields is not None:
                if delimiter not in line:
                    if "-s" not in values:
                        call.out(line + "\n")
                    continue
                parts = line.split(delimiter)
                call.out(delimiter.join(p for k, p in enumerate(parts, 1) if selected(k)) + "\n")
            else:
                call.out("".join(c for k, c in enumerate(line, 1) if selected(k)) + "\n")
    return status


def tr_set(spec: str) -> str:
    classes = {"[:upper:]": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "[:lower:]": "abcdefghijklmnopqrstuvwxyz",
               "[:digit:]": "0123456789", "[:space:]": " \t\n\r\f\v", "[:blank:]": " \t",
               "[:alpha:]": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
               "[:alnum:]": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"}
    for name, chars in classes.items():
        spec = spec.replace(name, chars)
    spec, _ = echo_escapes(spec)
    out = []
    i = 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            out.extend(chr(c) for c in range(ord(spec[i]), ord(spec[i + 2]) + 1))
            i += 3
        else:
            out.append(spec[i])
            i += 1
    return "".join(out)


@program("tr")
async def p_tr(call: Call) -> int:
    args = list(call.args)
    delete = squeeze = False
    while args and args[0].startswith("-") and len(args[0]) > 1:
        delete = delete or "d" in args[0]
        squeeze = squeeze or "s" in args[0]
        args = args[1:]
    text = await call.io.stdin.read()
    if delete:
        chars = set(tr_set(args[0])) if args else set()
        text = "".join(c for c in text if c not in chars)
    elif len(args) >= 2:
        source, target = tr_set(args[0]), tr_set(args[1])
        if target:
            target = target + target[-1] * max(0, len(source) - len(target))
            text = text.translate({ord(a): b for a, b in zip(source, target, strict=False)})
        if squeeze:
            chars = set(target)
            text = re.sub("([" + re.escape("".join(chars)) + "])\\1+", r"\1", text) if chars else text
    elif squeeze and args:
        chars = set(tr_set(args[0]))
        text = re.sub("([" + re.escape("".join(chars)) + "])\\1+", r"\1", text) if chars else text
    call.out(text)
    return 0


@program("sort")
async def p_sort(call: Call) -> int:
    options = parse_options(call, "rnuk:t:V", ["reverse", "numeric-sort", "unique", "key=", "field-separator=",
                                               "version-sort"])
    if isinstance(options, int):
        return 2
    opts, operands = options
    values = dict(opts)
    flags = flag_set(opts)
    texts, status = await read_inputs(call, operands)
    lines = [line for text in texts for line in text.splitlines()]
    separator = values.get("-t")
    key_spec = values.get("-k")

    def key(line: str) -> Any:
        field_text = line
        if key_spec:
            start = int(re.match(r"\d+", key_spec).group(0)) if re.match(r"\d+", key_spec) else 1  # type: ignore[union-attr]
            parts = line.split(separator) if separator else line.split()
            field_text = parts[start - 1] if start - 1 < len(parts) else ""
        if flags & {"-n", "--numeric-sort"}:
            m = re.match(r"\s*-?\d+(\.\d+)?", field_text)
            return (float(m.group(0)) if m else 0.0, line)
        if flags & {"-V", "--version-sort"}:
            return ([int(p) if p.isdigit() else p for p in re.split(r"(\d+)", field_text)], line)
        return field_text
    lines.sort(key=key, reverse=bool(flags & {"-r", "--reverse"}))
    if flags & {"-u", "--unique"}:
        seen: list[str] = []
        for line in lines:
            if not seen or seen[-1] != line:
                seen.append(line)
        lines = seen
    call.out("".join(line + "\n" for line in lines))
    return status


@program("uniq")
async def p_uniq(call: Call) -> int:
    flags = {a for a in call.args if a.startswith("-")}
    texts, status = await read_inputs(call, [a for a in call.args if not a.startswith("-")])
    previous: str | None = None
    count = 0
    lines = [line for text in texts for line in text.splitlines()]

    def emit(line: str | None, n: int) -> None:
        if line is None:
            return
        if "-d" in flags and n < 2:
            return
        call.out((f"{n:>7} " if "-c" in flags else "") + line + "\n")

    for line in lines:
        if line == previous:
            count += 1
            continue
        emit(previous, count)
        previous, count = line, 1
    emit(previous, count)
    return status


POSIX_CLASSES = {"[:digit:]": r"0-9", "[:alpha:]": r"a-zA-Z", "[:alnum:]": r"a-zA-Z0-9", "[:upper:]": r"A-Z",
                 "[:lower:]": r"a-z", "[:space:]": r"\s", "[:blank:]": r" \t", "[:xdigit:]": r"0-9a-fA-F",
                 "[:punct:]": r"!-/:-@\[-`{-~", "[:print:]": r" -~", "[:graph:]": r"!-~", "[:cntrl:]": r"\x00-\x1f"}


def posix_regex(pattern: str, *, extended: bool) -> str:
    """A POSIX BRE/ERE (GNU flavour) as a Python regular expression."""
    out = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "[":
            j = i + 1
            if j < n and pattern[j] in "^!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                if pattern.startswith("[:", j):
                    end = pattern.find(":]", j)
                    j = end + 2 if end >= 0 else j + 1
                else:
                    j += 1
            body = pattern[i + 1:j]
            for name, replacement in POSIX_CLASSES.items():
                body = body.replace(name, replacement)
            if body.startswith("!"):
                body = "^" + body[1:]
            body = body.replace("\\", "\\\\") if "\\s" not in body else body
            out.append("[" + body + "]")
            i = j + 1
            continue
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if not extended and nxt in "(){}|+?":
                out.append(nxt)
            elif nxt in "<>":
                out.append(r"\b")
            elif nxt.isdigit() or nxt in "wWsSbB":
                out.append("\\" + nxt)
            else:
                out.append(re.escape(nxt))
            i += 2
            continue
        if not extended and c in "(){}|+?":
            out.append("\\" + c)
        elif c == "*" and (not out or out[-1] in ("^", "(")):
            out.append(r"\*")
        else:
            out.append(c)
        i += 1
    return "".join(out)


@program("grep", "egrep", "fgrep")
async def p_grep(call: Call) -> int:
    options = parse_options(call, "qvicnEFwxolshHe:m:r", [
        "quiet", "silent", "invert-match", "ignore-case", "count", "line-number", "extended-regexp", "fixed-strings",
        "word-regexp", "line-regexp", "only-matching", "files-with-matches", "no-messages", "color=", "colour=",
        "regexp=", "max-count=", "with-filename", "no-filename"])
    if isinstance(options, int):
        return 2
    opts, operands = options
    flags = flag_set(opts)
    patterns = [v for o, v in opts if o in ("-e", "--regexp")]
    if not patterns:
        if not operands:
            call.err("Usage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information.\n")
            return 2
        patterns = operands[0].split("\n")
        operands = operands[1:]
    extended = call.name == "egrep" or bool(flags & {"-E", "--extended-regexp"})
    fixed = call.name == "fgrep" or bool(flags & {"-F", "--fixed-strings"})
    regexes = []
    for pattern in patterns:
        body = re.escape(pattern) if fixed else posix_regex(pattern, extended=extended)
        if flags & {"-w", "--word-regexp"}:
            body = rf"(?<!\w)(?:{body})(?!\w)"
        if flags & {"-x", "--line-regexp"}:
            body = rf"^(?:{body})$"
        try:
            regexes.append(re.compile(body, re.I if flags & {"-i", "--ignore-case"} else 0))
        except re.error:
            call.err("grep: Unmatched ( or \\(\n")
            return 2
    quiet = bool(flags & {"-q", "--quiet", "--silent"})
    invert = bool(flags & {"-v", "--invert-match"})
    count_only = bool(flags & {"-c", "--count"})
    numbers = bool(flags & {"-n", "--line-number"})
    only = bool(flags & {"-o", "--only-matching"})
    list_files = bool(flags & {"-l", "--files-with-matches"})
    max_count = int(dict(opts).get("-m", dict(opts).get("--max-count", "0")) or 0)
    show_names = (len(operands) > 1 or "-H" in flags) and "-h" not in flags
    matched_any = False
    status = 0
    for name in operands or ["-"]:
        if name == "-":
            text = await call.io.stdin.read()
        else:
            try:
                text = call.guest.read_file(name, call.shell.cwd, call.creds)
            except PathError as exc:
                if not flags & {"-s", "--no-messages"}:
                    call.err(f"grep: {name}: {exc.reason}\n")
                status = 2
                continue
        count = 0
        for number, line in enumerate(text.splitlines(), 1):
            hits = [m for r in regexes for m in r.finditer(line)]
            if bool(hits) == invert:
                continue
            matched_any = True
            count += 1
            if quiet:
                return 0
            if list_files:
                call.out(f"{'(standard input)' if name == '-' else name}\n")
                break
            if not count_only:
                prefix = (f"{name}:" if show_names else "") + (f"{number}:" if numbers else "")
                if only and not invert:
                    for m in sorted(hits, key=lambda m: m.start()):
                        if m.group(0):
                            call.out(prefix + m.group(0) + "\n")
                else:
                    call.out(prefix + line + "\n")
            if max_count and count >= max_count:
                break
        if count_only:
            call.out((f"{name}:" if show_names else "") + f"{count}\n")
    if status == 2 and not matched_any:
        return 2
    return 0 if matched_any else 1


@program("sed")
async def p_sed(call: Call) -> int:
    args = list(call.args)
    scripts: list[str] = []
    quiet = in_place = extended = False
    operands: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-e", "--expression") and i + 1 < len(args):
            scripts.append(args[i + 1])
            i += 2
            continue
        if arg in ("-n", "--quiet", "--silent"):
            quiet = True
        elif arg.startswith("-i") or arg.startswith("--in-place"):
            in_place = True
        elif arg in ("-E", "-r", "--regexp-extended"):
            extended = True
        elif arg.startswith("-") and len(arg) > 1 and set(arg[1:]) <= set("nEri"):
            quiet = quiet or "n" in arg
            extended = extended or "E" in arg or "r" in arg
            in_place = in_place or "i" in arg
        else:
            operands.append(arg)
        i += 1
    if not scripts:
        if not operands:
            return call.fail("Usage: sed [OPTION]... {script-only-if-no-other-script} [input-file]...")
        scripts = [operands.pop(0)]
    try:
        program_list = compile_sed("\n".join(scripts), extended)
    except ValueError as exc:
        return call.fail(f"sed: -e expression #1, char 1: {exc}")
    if in_place:
        status = 0
        for name in operands:
            try:
                text = call.guest.read_file(name, call.shell.cwd, call.creds)
                call.guest.write_file(name, run_sed(program_list, text, quiet), cwd=call.shell.cwd, who=call.creds)
            except PathError as exc:
                call.err(f"sed: can't read {name}: {exc.reason}\n")
                status = 2
        return status
    texts, status = await read_inputs(call, operands)
    call.out(run_sed(program_list, "".join(texts), quiet))
    return 2 if status else 0


def compile_sed(script: str, extended: bool) -> list[tuple[Any, Any, str, Any]]:
    commands = []
    for raw in re.split(r"[;\n]\s*(?=(?:[0-9$/]|[sdpqy]\W|[dpq]$|[dpq]\s*$))", script):
        text = raw.strip()
        if not text:
            continue
        addresses: list[Any] = []
        for _ in range(2):
            m = re.match(r"(\d+|\$|/((?:\\.|[^/])*)/)", text)
            if not m:
                break
            if m.group(1).startswith("/"):
                addresses.append(re.compile(posix_regex(m.group(2), extended=extended)))
            else:
                addresses.append(m.group(1))
            text = text[m.end():]
            if text.startswith(","):
                text = text[1:]
                continue
            break
        first = addresses[0] if addresses else None
        second = addresses[1] if len(addresses) > 1 else None
        text = text.strip()
        if not text:
            raise ValueError("missing command")
        op = text[0]
        if op == "s":
            delimiter = text[1]
            parts = re.split(r"(?<!\\)" + re.escape(delimiter), text[2:])
            if len(parts) < 3:
                raise ValueError("unterminated `s' command")
            pattern, replacement, flags = parts[0], parts[1], parts[2]
            regex = re.compile(posix_regex(pattern, extended=extended), re.I if "I" in flags else 0)
            commands.append((first, second, "s", (regex, replacement, flags)))
        elif op in "dpq":
            commands.append((first, second, op, None))
        elif op == "y":
            delimiter = text[1]
            source, target = text[2:].split(delimiter)[:2]
            commands.append((first, second, "y", str.maketrans(source, target)))
        else:
            raise ValueError(f"unknown command: `{op}'")
    return commands


def run_sed(commands: list[tuple[Any, Any, str, Any]], text: str, quiet: bool) -> str:
    lines = text.splitlines()
    out: list[str] = []
    active: dict[int, bool] = {}

    def matches(address: Any, number: int, line: str) -> bool:
        if address == "$":
            return number == len(lines)
        if isinstance(address, str):
            return number == int(address)
        return bool(address.search(line))

    for number, line in enumerate(lines, 1):
        deleted = False
        stop = False
        for index, (first, second, op, arg) in enumerate(commands):
            if first is not None:
                if second is None:
                    if not matches(first, number, line):
                        continue
                else:
                    if active.get(index):
                        if matches(second, number, line) or (isinstance(second, str) and second != "$"
                                                             and number >= int(second)):
                            active[index] = False
                    elif matches(first, number, line):
                        active[index] = True
                    else:
                        continue
            if op == "s":
                regex, replacement, flags = arg
                count = 0 if "g" in flags else 1
                repl = re.sub(r"\\(\d)", r"\\g<\1>", replacement).replace("&", r"\g<0>").replace(r"\&", "&")
                repl = repl.replace("\\n", "\n")
                new, n = regex.subn(repl, line, count=count)
                line = new
                if n and "p" in flags:
                    out.append(line)
            elif op == "d":
                deleted = True
                break
            elif op == "p":
                out.append(line)
            elif op == "q":
                stop = True
                break
            elif op == "y":
                line = line.translate(arg)
        if not deleted and not quiet:
            out.append(line)
        if stop:
            break
    return "".join(line + "\n" for line in out)


@program("tee")
async def p_tee(call: Call) -> int:
    options = parse_options(call, "ai", ["append", "ignore-interrupts"])
    if isinstance(options, int):
        return options
    opts, operands = options
    append = bool(flag_set(opts) & {"-a", "--append"})
    text = await call.io.stdin.read()
    status = 0
    for operand in operands:
        try:
            node = call.guest.lookup(operand, call.shell.cwd) if call.guest.exists(operand, call.shell.cwd) else None
            from .guest import DeviceFile

            if isinstance(node, DeviceFile):
                continue
            call.guest.write_file(operand, text, append=append, cwd=call.shell.cwd, who=call.creds)
        except PathError as exc:
            call.err(f"tee: {operand}: {exc.reason}\n")
            status = 1
    call.out(text)
    return status


@program("seq")
async def p_seq(call: Call) -> int:
    numbers = [a for a in call.args if not a.startswith("-") or a.lstrip("-").isdigit()]
    try:
        values = [int(n) for n in numbers]
    except ValueError:
        return call.fail(f"seq: invalid floating point argument: ‘{numbers[0]}’")
    if len(values) == 1:
        first, step, last = 1, 1, values[0]
    elif len(values) == 2:
        first, step, last = values[0], 1, values[1]
    elif len(values) == 3:
        first, step, last = values
    else:
        return call.fail("seq: missing operand")
    if step == 0:
        return call.fail("seq: invalid Zero increment value: ‘0’")
    out = []
    value = first
    while (step > 0 and value <= last) or (step < 0 and value >= last):
        out.append(f"{value}\n")
        value += step
        if len(out) >= MAX_ROUNDS:
            break
    call.out("".join(out))
    return 0


@program("xargs")
async def p_xargs(call: Call) -> int:
    args = [a for a in call.args if a not in ("-r", "--no-run-if-empty")]
    text = await call.io.stdin.read()
    items = text.split()
    if not items and len(args) != len(call.args):
        return 0
    command = args or ["echo"]
    return await call.shell.invoke(command + items, call.io, line=call.line)


# ---------------------------------------------------------------- system: id, uname, date, sudo ...


@program("whoami")
async def p_whoami(call: Call) -> int:
    call.out(call.shell.user + "\n")
    return 0


@program("id")
async def p_id(call: Call) -> int:
    guest = call.guest
    user = call.args[-1] if call.args and not call.args[-1].startswith("-") else call.shell.user
    if user not in guest.users:
        return call.fail(f"id: ‘{user}’: no such user")
    creds = guest.credentials(user)
    flags = {a for a in call.args if a.startswith("-")}
    if "-u" in flags:
        call.out((user if "-n" in flags else str(creds.uid)) + "\n")
        return 0
    if "-g" in flags:
        call.out((group_name(guest, creds.gid) if "-n" in flags else str(creds.gid)) + "\n")
        return 0
    names = {0: "root", 4: "adm", 20: "dialout", 24: "cdrom", 25: "floppy", 27: "sudo", 29: "audio", 30: "dip",
             44: "video", 46: "plugdev", 118: "netdev", 119: "lxd", 1000: guest.admin_user}
    if "-G" in flags:
        call.out(" ".join(names.get(g, str(g)) if "-n" in flags else str(g) for g in creds.groups) + "\n")
        return 0
    groups = ",".join(f"{g}({names.get(g, g)})" for g in creds.groups)
    call.out(f"uid={creds.uid}({user}) gid={creds.gid}({names.get(creds.gid, creds.gid)}) groups={groups}\n")
    return 0


@program("groups")
async def p_groups(call: Call) -> int:
    names = {0: "root", 4: "adm", 20: "dialout", 24: "cdrom", 25: "floppy", 27: "sudo", 29: "audio", 30: "dip",
             44: "video", 46: "plugdev", 118: "netdev", 119: "lxd", 1000: call.guest.admin_user}
    call.out(" ".join(names.get(g, str(g)) for g in call.creds.groups) + "\n")
    return 0


@program("hostname")
async def p_hostname(call: Call) -> int:
    args = call.args
    if args and not args[0].startswith("-"):
        if not call.root:
            return call.fail("hostname: you must be root to change the host name")
        call.guest._hostname = args[0]  # until the next boot, as the kernel hostname is
        return 0
    name = call.guest.hostname
    if "-I" in args or "-i" in args:
        call.out("10.0.0.4 \n" if "-I" in args else "127.0.1.1\n")
        return 0
    call.out((name.split(".")[0] if "-s" in args else name) + "\n")
    return 0


@program("uname")
async def p_uname(call: Call) -> int:
    from .guest import KERNEL_RELEASE, KERNEL_VERSION

    guest = call.guest
    fields = {"-s": "Linux", "-n": guest.hostname, "-r": KERNEL_RELEASE, "-v": KERNEL_VERSION, "-m": "x86_64",
              "-p": "x86_64", "-i": "x86_64", "-o": "GNU/Linux"}
    args = [a for a in call.args]
    if not args:
        call.out("Linux\n")
        return 0
    chosen: list[str] = []
    for arg in args:
        if arg in ("-a", "--all"):
            chosen = ["-s", "-n", "-r", "-v", "-m", "-p", "-i", "-o"]
            break
        if not arg.startswith("-"):
            return call.fail(f"uname: extra operand ‘{arg}’\nTry 'uname --help' for more information.")
        for c in arg[1:]:
            if "-" + c not in fields:
                return call.fail(f"uname: invalid option -- '{c}'\nTry 'uname --help' for more information.")
            chosen.append("-" + c)
    order = ["-s", "-n", "-r", "-v", "-m", "-p", "-i", "-o"]
    call.out(" ".join(fields[o] for o in order if o in chosen) + "\n")
    return 0


@program("date")
async def p_date(call: Call) -> int:
    import time as time_module

    now = call.guest.clock()
    formats = [a[1:] for a in call.args if a.startswith("+")]
    utc = time_module.gmtime(now)
    if formats:
        fmt = formats[0].replace("%N", "000000000").replace("%s", str(int(now)))
        call.out(time_module.strftime(fmt, utc) + "\n")
    else:
        call.out(time_module.strftime("%a %b %e %H:%M:%S UTC %Y", utc) + "\n")
    return 0


@program("uptime")
async def p_uptime(call: Call) -> int:
    import time as time_module

    guest = call.guest
    seconds = max(0, int(guest.clock() - guest.boot_time))
    minutes = seconds // 60
    shown = f"{minutes // 60}:{minutes % 60:02d}" if minutes >= 60 else f"{minutes} min"
    if "-p" in call.args:
        call.out(f"up {minutes} minutes\n")
        return 0
    clock = time_module.strftime("%H:%M:%S", time_module.gmtime(guest.clock()))
    call.out(f" {clock} up {shown},  1 user,  load average: 0.00, 0.01, 0.00\n")
    return 0


@program("nproc")
async def p_nproc(call: Call) -> int:
    call.out(f"{call.guest.vcpus}\n")
    return 0


@program("free")
async def p_free(call: Call) -> int:
    total = call.guest.memory_bytes // 1024 - 412_000
    used = 310_000
    free = total - used - 420_000
    call.out("               total        used        free      shared  buff/cache   available\n"
             f"Mem:      {total:>10}  {used:>10}  {free:>10}        1012  {420_000:>10}  {total - used:>10}\n"
             f"Swap:              0           0           0\n")
    return 0


@program("env", "printenv")
async def p_env(call: Call) -> int:
    args = list(call.args)
    environment = call.shell.environment()
    if call.name == "printenv":
        if args:
            status = 1
            for name in args:
                if name in environment:
                    call.out(environment[name] + "\n")
                    status = 0
            return status
        call.out("".join(f"{k}={v}\n" for k, v in environment.items()))
        return 0
    assignments = []
    while args and ASSIGN_RE.fullmatch(args[0]) and not args[0].startswith("="):
        name, _, value = args.pop(0).partition("=")
        assignments.append((name, value))
    if args and args[0] in ("-i", "-"):
        args.pop(0)
    if not args:
        environment.update(dict(assignments))
        call.out("".join(f"{k}={v}\n" for k, v in environment.items()))
        return 0
    return await call.shell.invoke(args, call.io, assignments=assignments, line=call.line)


@program("which")
async def p_which(call: Call) -> int:
    status = 0
    for name in [a for a in call.args if not a.startswith("-")]:
        _program, path, _problem = call.shell.find_program(name)
        if path is None:
            status = 1
            continue
        for directory in (call.shell.get("PATH") or "").split(":"):
            candidate = directory.rstrip("/") + "/" + name
            if "/" not in name and call.guest.exists(candidate):
                path = candidate
                break
        call.out(path + "\n")
    return status


@program("sleep")
async def p_sleep(call: Call) -> int:
    if not call.args:
        return call.fail("sleep: missing operand\nTry 'sleep --help' for more information.")
    total = 0.0
    for arg in call.args:
        m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)([smhd]?)", arg)
        if m is None:
            return call.fail(f"sleep: invalid time interval ‘{arg}’\nTry 'sleep --help' for more information.")
        total += float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    if call.shell.sleeper is not None:
        await call.shell.sleeper(total)
    return 0


@program("sync")
async def p_sync(call: Call) -> int:
    return 0


@program("logger")
async def p_logger(call: Call) -> int:
    return 0


@program("timeout")
async def p_timeout(call: Call) -> int:
    args = [a for a in call.args if not a.startswith("-")]
    if len(args) < 2:
        return call.fail("timeout: missing operand\nTry 'timeout --help' for more information.", 125)
    return await call.shell.invoke(args[1:], call.io, line=call.line)


@program("stty")
async def p_stty(call: Call) -> int:
    terminal = call.shell.terminal
    if terminal is None or not call.io.stdin.is_terminal:
        return call.fail("stty: 'standard input': Inappropriate ioctl for device")
    if call.args == ["size"]:
        call.out(f"{terminal.rows} {terminal.columns}\n")
        return 0
    if not call.args or call.args == ["-a"]:
        call.out(f"speed 38400 baud; rows {terminal.rows}; columns {terminal.columns}; line = 0;\n")
        return 0
    return 0


@program("tty")
async def p_tty(call: Call) -> int:
    terminal = call.shell.terminal
    if terminal is None or not call.io.stdin.is_terminal:
        if "-s" not in call.args:
            call.out("not a tty\n")
        return 1
    if "-s" not in call.args:
        call.out(terminal.name + "\n")
    return 0


@program("clear")
async def p_clear(call: Call) -> int:
    term = call.shell.get("TERM")
    if not term:
        return call.fail("TERM environment variable not set.")
    call.out("\x1b[H\x1b[2J\x1b[3J")
    return 0


@program("sh", "bash", "dash")
async def p_sh(call: Call) -> int:
    shell = call.shell
    shell.interactive = False
    shell.name = call.name
    shell.dialect = "dash" if call.name in ("sh", "dash") else "bash"
    args = list(call.args)
    command: str | None = None
    read_stdin = False
    while args and args[0].startswith(("-", "+")) and args[0] not in ("-", "--"):
        arg = args.pop(0)
        if arg == "-c":
            if not args:
                return call.fail(f"{call.name}: -c: option requires an argument", 2)
            command = args.pop(0)
            continue
        if arg == "-s":
            read_stdin = True
            continue
        if arg in ("-o", "+o") and args:
            option = SET_LONG.get(args.pop(0))
            if option:
                (shell.frame.options.add if arg == "-o" else shell.frame.options.discard)(option)
            continue
        for c in arg[1:]:
            if c == "c":
                command = args.pop(0) if args else None
            elif c in "euxfa":
                (shell.frame.options.add if arg[0] == "-" else shell.frame.options.discard)(c)
            elif c == "s":
                read_stdin = True
    if args and args[0] in ("-", "--"):
        args.pop(0)
    if command is None and not args and not read_stdin and call.shell_session is not None \
            and call.io.stdin.is_terminal:
        call.shell_session.push_user(shell.user, login=False)  # an interactive shell inside this one
        return 0
    shell.script_name = None
    if command is not None:
        if args:
            shell.argv0 = args[0]
            shell.positional = args[1:]
        else:
            shell.argv0 = call.name
            shell.positional = []
        return await shell.run_text(command, call.io, source="-c")
    if args and not read_stdin:
        path = args[0]
        try:
            text = call.guest.read_file(path, shell.cwd, call.creds)
        except PathError as exc:
            if call.name == "bash":
                return call.fail(f"bash: {path}: {exc.reason}", 127)
            return call.fail(f"{call.name}: 0: cannot open {path}: {exc.reason.replace('No such file or directory', 'No such file')}", 2)
        shell.script_name = path
        shell.argv0 = path
        shell.positional = args[1:]
        return await shell.run_text(text, call.io, source="script")
    shell.positional = args
    text = await call.io.stdin.read()
    return await shell.run_text(text, call.io, source="stdin")


@program("sudo")
async def p_sudo(call: Call) -> int:
    shell = call.shell
    args = list(call.args)
    user = "root"
    login = shell_mode = preserve = False
    while args and args[0].startswith("-") and args[0] != "--":
        arg = args.pop(0)
        if arg in ("-u", "--user"):
            if not args:
                return call.fail("sudo: option requires an argument -- 'u'")
            user = args.pop(0)
        elif arg.startswith("-u") and len(arg) > 2:
            user = arg[2:]
        elif arg in ("-n", "--non-interactive", "-H", "--set-home", "-k", "-S", "-b"):
            continue
        elif arg in ("-E", "--preserve-env"):
            preserve = True
        elif arg in ("-i", "--login"):
            login = True
        elif arg in ("-s", "--shell"):
            shell_mode = True
        elif arg in ("-l", "--list"):
            call.out(f"Matching Defaults entries for {shell.user} on {call.guest.hostname}:\n"
                     "    env_reset, mail_badpass,\n"
                     "    secure_path=/usr/local/sbin\\:/usr/local/bin\\:/usr/sbin\\:/usr/bin\\:/sbin\\:/bin\\:/snap/bin,"
                     " use_pty\n\n"
                     f"User {shell.user} may run the following commands on {call.guest.hostname}:\n"
                     "    (ALL : ALL) ALL\n    (ALL) NOPASSWD: ALL\n")
            return 0
        elif arg in ("-v", "--validate"):
            return 0
        elif arg in ("-V", "--version"):
            call.out("Sudo version 1.9.9\n")
            return 0
        else:
            return call.fail(f"sudo: invalid option -- '{arg.lstrip('-')[:1]}'\nusage: sudo -h | -K | -k | -V")
    if args and args[0] == "--":
        args.pop(0)
    if user not in call.guest.users:
        return call.fail(f"sudo: unknown user {user}\nsudo: error initializing audit plugin sudoers_audit")
    if shell.user != "root" and shell.user != call.guest.admin_user:
        return call.fail(f"{shell.user} is not in the sudoers file.  This incident will be reported.")
    if not args and not (login or shell_mode):
        return call.fail("usage: sudo -h | -K | -k | -V\nusage: sudo -v [-ABknS] [-g group] [-h host] [-p prompt] "
                         "[-u user]\nusage: sudo -l [-ABknS] [-g group] [-h host] [-p prompt] [-U user] [-u user] "
                         "[command]\nusage: sudo [-ABbEHknPS] [-r role] [-t type] [-C num] [-D directory] "
                         "[-g group] [-h host] [-p prompt] [-R position] [-T timeout] [-u user] [VAR=value] "
                         "[-i|-s] [<command>]")
    session = call.shell_session
    if not args:
        if session is not None:
            session.push_user(user, login=login)
            return 0
        args = ["bash"]
    target = Shell(call.guest, user=user, cwd=call.guest.home_of(user) if login else shell.cwd, login=False,
                   terminal=shell.terminal)
    target.set("PATH", SUDO_PATH, export=True)
    target.set("SUDO_USER", shell.user, export=True)
    target.set("SUDO_UID", str(shell.creds.uid), export=True)
    if preserve:
        for name, value in shell.environment().items():
            if name not in ("PATH", "HOME", "USER", "LOGNAME"):
                target.set(name, value, export=True)
    if shell.get("TERM"):
        target.set("TERM", shell.get("TERM") or "", export=True)
    target.sleeper = shell.sleeper
    target.yield_point = shell.yield_point
    target.session = shell.session
    target.interactive = False
    target.name = "sudo"
    while args and ASSIGN_RE.fullmatch(args[0]):
        name, _, value = args.pop(0).partition("=")
        target.set(name, value, export=True)
    if login or shell_mode:
        return await target.run_text(" ".join(shlex.quote(a) for a in args), call.io)
    program_fn, _path, problem = target.find_program(args[0])
    if program_fn is None:
        return call.fail(f"sudo: {args[0]}: command not found", 1)
    try:
        return await target.invoke(args, call.io, line=call.line)
    except ExitShell as done:
        return done.status


@program("su")
async def p_su(call: Call) -> int:
    if not call.root:
        if call.shell_session is None:
            return call.fail("su: Authentication failure")
        call.err("Password: \nsu: Authentication failure\n")
        return 1
    user = next((a for a in call.args if not a.startswith("-")), "root")
    if call.shell_session is not None:
        call.shell_session.push_user(user, login="-" in call.args or "-l" in call.args)
    return 0


@program("systemctl")
async def p_systemctl(call: Call) -> int:
    args = [a for a in call.args if not a.startswith("-")]
    if not args:
        return call.fail("systemctl: this guest's systemd answers daemon-reload, status and is-system-running only")
    verb = args[0]
    if verb == "daemon-reload":
        if not call.root:
            return call.fail("Failed to reload daemon: Access denied\n"
                             "(the simulated guest's polkit does not ask for a password: use sudo)")
        call.guest.fstab_dirty = False
        return 0
    if verb == "is-system-running":
        call.out("degraded\n" if call.guest.boot_error else "running\n")
        return 0
    if verb in ("status", "is-active"):
        units = args[1:] or ["sshd"]
        for unit in units:
            if verb == "is-active":
                call.out("active\n")
            else:
                call.out(f"● {unit}.service\n     Loaded: loaded\n     Active: active (running)\n")
        return 0
    if verb in ("start", "stop", "restart", "reload", "enable", "disable"):
        if not call.root:
            return call.fail(f"Failed to {verb} {' '.join(args[1:])}: Interactive authentication required.")
        return 0
    return call.fail(f"Unknown command verb {verb}.")


# ---------------------------------------------------------------- sizes as the tools print them


def lsblk_size(n: int) -> str:
    """util-linux's size_to_human_string with one-letter suffixes: 1G, 1022M, 29.9G, 512B."""
    exp = 0
    for shift in range(10, 70, 10):
        if n < (1 << shift):
            exp = shift - 10
            break
    suffix = "BKMGTPE"[exp // 10]
    dec = n >> exp
    frac = n & ((1 << exp) - 1) if exp else 0
    if frac:
        frac = frac * 1000 // (1 << exp)
        frac = (frac + 50) // 100
        if frac == 10:
            dec += 1
            frac = 0
    return f"{dec}.{frac}{suffix}" if frac else f"{dec}{suffix}"


def fdisk_size(n: int) -> str:
    """util-linux's size_to_human_string with 3-letter suffixes and 2 decimals: 30 GiB, 63.75 MiB."""
    exp = 0
    for shift in range(10, 70, 10):
        if n < (1 << shift):
            exp = shift - 10
            break
    suffix = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"][exp // 10]
    dec = n >> exp
    frac = n & ((1 << exp) - 1) if exp else 0
    if frac:
        frac = frac * 1000 // (1 << exp)
        frac = (frac + 5) // 10
        if frac == 100:
            dec += 1
            frac = 0
    return f"{dec}.{frac:02d} {suffix}" if frac else f"{dec} {suffix}"


def df_human(n: int, *, si: bool = False) -> str:
    """coreutils' human_readable as df -h/-H prints it: rounded up, one decimal below 10."""
    base = 1000 if si else 1024
    if n < base:
        return str(n)
    units = "kMGTPEZY" if si else "KMGTPEZY"
    value = n
    power = 0
    while value >= base * base ** power and power < len(units):
        power += 1
    scale = base ** power
    if n * 10 < scale * 100:  # below 10: one decimal, rounded up
        tenths = -(-n * 10 // scale)
        if tenths < 100:
            return f"{tenths // 10}.{tenths % 10}{units[power - 1]}"
        return f"10{units[power - 1]}"
    whole = -(-n // scale)
    if whole >= base and power < len(units):
        return f"1.0{units[power]}"
    return f"{whole}{units[power - 1]}"


def parse_size(text: str) -> int | None:
    """1, 1K, 1M, 1G, 1KiB, 1MB ... as -B and sizes take them."""
    m = re.fullmatch(r"(\d*)([KMGTPE]?)(i?B?)", text.strip(), re.I)
    if m is None:
        return None
    number = int(m.group(1) or "1")
    letter = m.group(2).upper()
    if not letter:
        return number
    power = "KMGTPE".index(letter) + 1
    base = 1000 if m.group(3).upper() == "B" else 1024
    return number * base ** power


def table(headers: list[str], rows: list[list[str]], right: set[int], *, heading: bool = True,
          pad_last: bool = False, minimum: dict[int, int] | None = None) -> str:
    """Columns as libsmartcols lays them out: one space apart, numbers to the right, the
    last column not padded (an empty last cell leaves the separator); `minimum` widths by column."""
    if not headers:
        return ""
    minimum = minimum or {}
    widths = [max([len(headers[i]), minimum.get(i, 0)] + [len(r[i]) for r in rows]) for i in range(len(headers))]
    out = []
    for row in ([headers] if heading else []) + rows:
        cells = []
        for i, cell in enumerate(row):
            last = i == len(row) - 1
            if i in right:
                cells.append(cell.rjust(widths[i]))
            elif last and not pad_last:
                cells.append(cell)
            else:
                cells.append(cell.ljust(widths[i]))
        out.append(" ".join(cells))
    return "".join(line + "\n" for line in out)


# ---------------------------------------------------------------- lsblk


@dataclass
class LsblkColumn:
    header: str
    right: bool = False
    kind: str = "str"  # str | bool | size | number | list


# lsblk's width hints of its right-aligned columns: libsmartcols keeps them as minimum widths
LSBLK_MIN_WIDTHS = {"MAJ:MIN": 6, "FSAVAIL": 5, "FSSIZE": 5, "FSUSED": 5, "FSUSE%": 3, "RA": 3, "SIZE": 5,
                    "ALIGNMENT": 6, "MIN-IO": 6, "OPT-IO": 6, "PHY-SEC": 7, "LOG-SEC": 7, "RQ-SIZE": 5,
                    "DISC-ALN": 6, "DISC-GRAN": 6, "DISC-MAX": 6, "WSAME": 6}


LSBLK_COLUMNS = {
    "NAME": LsblkColumn("NAME"), "KNAME": LsblkColumn("KNAME"), "PATH": LsblkColumn("PATH"),
    "MAJ:MIN": LsblkColumn("MAJ:MIN", True), "FSAVAIL": LsblkColumn("FSAVAIL", True, "size"),
    "FSSIZE": LsblkColumn("FSSIZE", True, "size"), "FSTYPE": LsblkColumn("FSTYPE"),
    "FSUSED": LsblkColumn("FSUSED", True, "size"), "FSUSE%": LsblkColumn("FSUSE%", True),
    "FSROOTS": LsblkColumn("FSROOTS", kind="list"), "FSVER": LsblkColumn("FSVER"),
    "MOUNTPOINT": LsblkColumn("MOUNTPOINT"), "MOUNTPOINTS": LsblkColumn("MOUNTPOINTS", kind="list"),
    "LABEL": LsblkColumn("LABEL"), "UUID": LsblkColumn("UUID"), "PTUUID": LsblkColumn("PTUUID"),
    "PTTYPE": LsblkColumn("PTTYPE"), "PARTTYPE": LsblkColumn("PARTTYPE"),
    "PARTTYPENAME": LsblkColumn("PARTTYPENAME"), "PARTLABEL": LsblkColumn("PARTLABEL"),
    "PARTUUID": LsblkColumn("PARTUUID"), "PARTFLAGS": LsblkColumn("PARTFLAGS"),
    "RA": LsblkColumn("RA", True, "number"), "RO": LsblkColumn("RO", True, "bool"),
    "RM": LsblkColumn("RM", True, "bool"), "HOTPLUG": LsblkColumn("HOTPLUG", True, "bool"),
    "MODEL": LsblkColumn("MODEL"), "SERIAL": LsblkColumn("SERIAL"), "SIZE": LsblkColumn("SIZE", True, "size"),
    "STATE": LsblkColumn("STATE"), "OWNER": LsblkColumn("OWNER"), "GROUP": LsblkColumn("GROUP"),
    "MODE": LsblkColumn("MODE"), "ALIGNMENT": LsblkColumn("ALIGNMENT", True, "number"),
    "MIN-IO": LsblkColumn("MIN-IO", True, "number"), "OPT-IO": LsblkColumn("OPT-IO", True, "number"),
    "PHY-SEC": LsblkColumn("PHY-SEC", True, "number"), "LOG-SEC": LsblkColumn("LOG-SEC", True, "number"),
    "ROTA": LsblkColumn("ROTA", True, "bool"), "SCHED": LsblkColumn("SCHED"),
    "RQ-SIZE": LsblkColumn("RQ-SIZE", True, "number"), "TYPE": LsblkColumn("TYPE"),
    "DISC-ALN": LsblkColumn("DISC-ALN", True, "number"), "DISC-GRAN": LsblkColumn("DISC-GRAN", True, "size"),
    "DISC-MAX": LsblkColumn("DISC-MAX", True, "size"), "DISC-ZERO": LsblkColumn("DISC-ZERO", True, "bool"),
    "WSAME": LsblkColumn("WSAME", True, "size"), "WWN": LsblkColumn("WWN"), "RAND": LsblkColumn("RAND", True, "bool"),
    "PKNAME": LsblkColumn("PKNAME"), "HCTL": LsblkColumn("HCTL"), "TRAN": LsblkColumn("TRAN"),
    "SUBSYSTEMS": LsblkColumn("SUBSYSTEMS"), "REV": LsblkColumn("REV"), "VENDOR": LsblkColumn("VENDOR"),
    "ZONED": LsblkColumn("ZONED"), "DAX": LsblkColumn("DAX", True, "bool"),
}
LSBLK_DEFAULT = ["NAME", "MAJ:MIN", "RM", "SIZE", "RO", "TYPE", "MOUNTPOINTS"]
LSBLK_FS = ["NAME", "FSTYPE", "FSVER", "LABEL", "UUID", "FSAVAIL", "FSUSE%", "MOUNTPOINTS"]
LSBLK_SCSI = ["NAME", "HCTL", "TYPE", "VENDOR", "MODEL", "REV", "SERIAL", "TRAN"]


def lsblk_values(guest: Guest, target: Any) -> dict[str, Any]:
    """Every lsblk column of one block device, as raw values (sizes in bytes)."""
    from .guest import PARTITION_TYPE_NAMES, SECTOR

    disk, part = target.disk, target.partition
    fs = target.filesystem
    mounts = list(reversed(guest.mount_of(target)))
    major, minor = target.major_minor
    table_ = disk.table
    values: dict[str, Any] = {
        "NAME": target.name, "KNAME": target.name, "PATH": target.path,
        "PKNAME": disk.name if part is not None else None,
        "MAJ:MIN": (major, minor), "RM": False, "RO": disk.read_only, "HOTPLUG": False,
        "SIZE": target.size_bytes, "TYPE": "part" if part is not None else ("loop" if disk.role == "loop" else "disk"),
        "FSTYPE": fs.fstype if fs is not None else None,
        "FSVER": (fs.version or None) if fs is not None else None,
        "LABEL": (fs.label or None) if fs is not None else None,
        "UUID": (fs.uuid or None) if fs is not None else None,
        "PTTYPE": table_.kind if table_ is not None else None,
        "PTUUID": table_.ptuuid.removeprefix("0x") if table_ is not None else None,
        "PARTTYPE": None, "PARTTYPENAME": None, "PARTLABEL": None, "PARTUUID": None, "PARTFLAGS": None,
        "MOUNTPOINT": mounts[0].target if mounts else None,
        "MOUNTPOINTS": [m.target for m in mounts] or [None],
        "FSROOTS": ["/" for _ in mounts] or [None],
        "FSAVAIL": None, "FSSIZE": None, "FSUSED": None, "FSUSE%": None,
        "RA": 128, "MODEL": "Virtual Disk" if disk.role != "loop" and part is None else None,
        "SERIAL": f"600224{disk.serial[:26]}" if disk.role != "loop" and part is None else None,
        "STATE": "running" if disk.role != "loop" and part is None else None,
        "OWNER": "root", "GROUP": "disk", "MODE": "brw-rw----", "ALIGNMENT": 0, "MIN-IO": 4096 if disk.role != "loop"
        else 512, "OPT-IO": 0, "PHY-SEC": 4096 if disk.role != "loop" else 512, "LOG-SEC": SECTOR,
        "ROTA": disk.role != "loop", "SCHED": "mq-deadline" if disk.role != "loop" else "none", "RQ-SIZE": 64,
        "DISC-ALN": 0, "DISC-GRAN": 2 * 1024 * 1024 if disk.role != "loop" else 4096,
        "DISC-MAX": 4 * 1024 ** 3, "DISC-ZERO": False, "WSAME": 0,
        "WWN": f"0x600224{disk.serial[:26]}" if disk.role != "loop" else None, "RAND": disk.role != "loop",
        "HCTL": disk.hctl if part is None else None, "TRAN": None,
        "SUBSYSTEMS": "block:scsi:vmbus:acpi" if disk.role != "loop" else "block",
        "REV": "1.0 " if disk.role != "loop" and part is None else None,
        "VENDOR": "Msft    " if disk.role != "loop" and part is None else None, "ZONED": "none", "DAX": False,
    }
    if table_ is None and part is None:
        values["PTTYPE"] = values["PTUUID"] = None
    if part is not None and table_ is not None:
        if table_.kind == "gpt":
            values["PARTTYPE"] = part.type_id.lower()
            values["PARTTYPENAME"] = PARTITION_TYPE_NAMES.get(part.type_id.upper(), "Linux filesystem")
            values["PARTLABEL"] = part.name or None
        else:
            values["PARTTYPE"] = f"0x{part.type_id}"
            from .guest import DOS_TYPE_NAMES

            values["PARTTYPENAME"] = DOS_TYPE_NAMES.get(part.type_id, "Linux")
            values["PARTFLAGS"] = "0x80" if part.bootable else None
        values["PARTUUID"] = part.partuuid
    if fs is not None and mounts:
        total, used, avail = fs.df_figures()
        values["FSSIZE"], values["FSUSED"], values["FSAVAIL"] = total, used, avail
        values["FSUSE%"] = f"{round(used * 100 / total) if total else 0}%"
    return values


def lsblk_cell(column: str, value: Any, *, bytes_mode: bool, parsable: bool) -> str:
    spec = LSBLK_COLUMNS[column]
    if value is None or value == [None]:
        return ""
    if column == "MAJ:MIN":
        major, minor = value
        return f"{major}:{minor}" if parsable else f"{major:>3}:{minor:<3}"
    if spec.kind == "bool":
        return "1" if value else "0"
    if spec.kind == "size":
        return str(value) if bytes_mode else lsblk_size(int(value))
    if spec.kind == "list":
        return "\n".join(v for v in value if v is not None)
    return str(value)


def lsblk_json_value(column: str, value: Any, *, bytes_mode: bool) -> Any:
    import json

    spec = LSBLK_COLUMNS[column]
    if column == "MAJ:MIN":
        return json.dumps(f"{value[0]}:{value[1]}")
    if spec.kind == "list":
        return value
    if value is None:
        return "null"
    if spec.kind == "bool":
        return "true" if value else "false"
    if spec.kind == "size":
        return str(int(value)) if bytes_mode else json.dumps(lsblk_size(int(value)))
    if spec.kind == "number":
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


@program("lsblk")
async def p_lsblk(call: Call) -> int:
    options = parse_options(call, "JbO:o:fdnplPraSTie:I:xMD", [
        "json", "bytes", "output=", "output-all", "fs", "nodeps", "noheadings", "paths", "list", "pairs", "raw",
        "all", "scsi", "tree", "ascii", "exclude=", "include=", "sort=", "merge", "discard", "topology", "perms",
        "inverse", "zoned", "tree="])
    if isinstance(options, int):
        return options
    opts, operands = options
    flags = flag_set(opts)
    values = dict(opts)
    guest = call.guest
    columns = list(LSBLK_DEFAULT)
    if flags & {"-f", "--fs"}:
        columns = list(LSBLK_FS)
    if flags & {"-S", "--scsi"}:
        columns = list(LSBLK_SCSI)
    if flags & {"-O", "--output-all"}:
        columns = list(LSBLK_COLUMNS)
    for option, value in opts:
        if option in ("-o", "--output"):
            requested = [c.strip().upper() for c in value.lstrip("+").split(",") if c.strip()]
            for name in requested:
                if name not in LSBLK_COLUMNS:
                    return call.fail(f"lsblk: unknown column: {name}")
            columns = (columns + requested) if value.startswith("+") else requested
    json_mode = bool(flags & {"-J", "--json"})
    bytes_mode = bool(flags & {"-b", "--bytes"})
    pairs = bool(flags & {"-P", "--pairs"})
    raw = bool(flags & {"-r", "--raw"})
    as_list = bool(flags & {"-l", "--list"}) or pairs or raw
    nodeps = bool(flags & {"-d", "--nodeps"}) or bool(flags & {"-S", "--scsi"})
    paths = bool(flags & {"-p", "--paths"})
    heading = not (flags & {"-n", "--noheadings"})
    excluded = {int(m) for m in values.get("-e", values.get("--exclude", "")).split(",") if m.strip().isdigit()}
    included = {int(m) for m in values.get("-I", values.get("--include", "")).split(",") if m.strip().isdigit()}

    roots: list[Any] = []
    status = 0
    found_any = False
    if operands:
        for operand in operands:
            target = guest.block_target(operand, call.shell.cwd)
            if target is None:
                call.err(f"lsblk: {operand}: not a block device\n")
                status = 32
                continue
            found_any = True
            roots.append(target)
    else:
        from .guest import BlockTarget

        roots = [BlockTarget(d) for d in guest.block_devices()]
    if status and found_any:
        status = 64
    if flags & {"-S", "--scsi"}:
        roots = [r for r in roots if r.disk.hctl is not None and r.partition is None]
    roots = [r for r in roots if (not included or r.major_minor[0] in included) and r.major_minor[0] not in excluded]

    def children(target: Any) -> list[Any]:
        from .guest import BlockTarget

        if nodeps or target.partition is not None or target.disk.table is None:
            return []
        return [BlockTarget(target.disk, p) for p in sorted(target.disk.table.partitions, key=lambda p: p.number)]

    def shown_name(target: Any, column: str) -> Any:
        raw_values = lsblk_values(guest, target)
        if paths and column in ("NAME", "PKNAME") and raw_values[column]:
            return "/dev/" + raw_values[column]
        return raw_values[column]

    if json_mode:
        lines = ["{", '   "blockdevices": [']

        def emit(targets: list[Any], indent: int) -> None:
            pad = " " * indent
            for index, target in enumerate(targets):
                lines.append(pad + ("{" if index == 0 else "},{"))
                key_pad = pad + "   "
                kids = children(target)
                raw_values = lsblk_values(guest, target)
                fields = []
                for column in columns:
                    value = shown_name(target, column) if column in ("NAME", "PKNAME") else raw_values[column]
                    key = column.lower()
                    rendered = lsblk_json_value(column, value, bytes_mode=bytes_mode)
                    if isinstance(rendered, list):
                        import json

                        items = ", ".join("null" if v is None else json.dumps(v, ensure_ascii=False)
                                          for v in rendered)
                        fields.append(f'{key_pad}"{key}": [\n{key_pad}    {items}\n{key_pad}]')
                    else:
                        fields.append(f'{key_pad}"{key}": {rendered}')
                if kids:
                    fields.append(f'{key_pad}"children": [')
                lines.append(",\n".join(fields))
                if kids:
                    emit(kids, indent + 6)
                    lines.append(key_pad + "]")
            if targets:
                lines.append(pad + "}")

        emit(roots, 6)
        lines.append("   ]")
        lines.append("}")
        call.out("\n".join(lines) + "\n")
        return status

    if not roots:
        return status
    rows: list[list[str]] = []
    right = {i for i, c in enumerate(columns) if LSBLK_COLUMNS[c].right}

    def add(target: Any, prefix: str, branch: str) -> None:
        raw_values = lsblk_values(guest, target)
        cells = []
        extra_lines: list[list[str]] = []
        for i, column in enumerate(columns):
            value = shown_name(target, column) if column in ("NAME", "PKNAME") else raw_values[column]
            cell = lsblk_cell(column, value, bytes_mode=bytes_mode, parsable=pairs or raw)
            if column == "NAME" and not as_list:
                cell = prefix + branch + cell
            if "\n" in cell and not pairs and not raw:
                first, *more = cell.split("\n")
                cell = first
                for k, line in enumerate(more):
                    while len(extra_lines) <= k:
                        extra_lines.append([""] * len(columns))
                    extra_lines[k][i] = line
            elif "\n" in cell:
                cell = cell.replace("\n", "\\x0a")
            cells.append(cell)
        rows.append(cells)
        kids = children(target)
        continuation = prefix + ("│ " if branch == "├─" else "  " if branch else "")
        for line in extra_lines:
            if not as_list and "NAME" in columns:
                line[columns.index("NAME")] = continuation + ("│ " if kids else "")
            rows.append(line)
        for index, kid in enumerate(kids):
            add(kid, continuation, "└─" if index == len(kids) - 1 else "├─")

    for root in roots:
        add(root, "", "")
    if pairs:
        out = []
        for row in rows:
            out.append(" ".join(f'{c}="{v}"' for c, v in zip(columns, row, strict=True)))
        call.out("".join(line + "\n" for line in out))
        return status
    if raw:
        out = [" ".join(columns)] if heading else []
        for row in rows:
            out.append(" ".join(v.replace(" ", "\\x20") for v in row))
        call.out("".join(line + "\n" for line in out))
        return status
    minimum = {i: LSBLK_MIN_WIDTHS.get(c, 0) for i, c in enumerate(columns)}
    call.out(table(columns, rows, right, heading=heading, minimum=minimum))
    return status


# ---------------------------------------------------------------- blkid


def blkid_tags(target: Any, *, probe: bool) -> list[tuple[str, str]]:
    """The tags blkid prints for a device, in its order."""
    disk, part = target.disk, target.partition
    fs = target.filesystem
    tags: list[tuple[str, str]] = []
    if fs is not None:
        if fs.fstype == "vfat" and fs.label:
            tags.append(("LABEL_FATBOOT", fs.label))
        if fs.label:
            tags.append(("LABEL", fs.label))
        if fs.uuid:
            tags.append(("UUID", fs.uuid))
        if probe and fs.version:
            tags.append(("VERSION", fs.version))
        tags.append(("BLOCK_SIZE", str({"squashfs": 131072}.get(fs.fstype, fs.block_size))))
        tags.append(("TYPE", fs.fstype))
        if probe:
            tags.append(("USAGE", "filesystem"))
    elif part is None and disk.table is not None:
        tags.append(("PTUUID", disk.table.ptuuid.removeprefix("0x")))
        tags.append(("PTTYPE", disk.table.kind))
    if part is not None and disk.table is not None:
        if probe:
            tags.append(("PART_ENTRY_SCHEME", disk.table.kind))
            if part.name:
                tags.append(("PART_ENTRY_NAME", part.name))
            tags.append(("PART_ENTRY_UUID", part.partuuid))
            tags.append(("PART_ENTRY_TYPE", part.type_id.lower() if disk.table.kind == "gpt" else f"0x{part.type_id}"))
            tags.append(("PART_ENTRY_NUMBER", str(part.number)))
            tags.append(("PART_ENTRY_OFFSET", str(part.start)))
            tags.append(("PART_ENTRY_SIZE", str(part.sectors)))
            tags.append(("PART_ENTRY_DISK", f"{disk.major}:{disk.minor}"))
        else:
            if part.name:
                tags.append(("PARTLABEL", part.name))
            tags.append(("PARTUUID", part.partuuid))
    return tags


def blkid_line(path: str, tags: list[tuple[str, str]]) -> str:
    return f"{path}: " + " ".join(f'{k}="{v}"' for k, v in tags)


@program("blkid", where="sbin")
async def p_blkid(call: Call) -> int:
    options = parse_options(call, "c:ghlLo:ps:t:U:wik", [
        "cache-file=", "output=", "probe", "match-tag=", "match-token=", "label=", "uuid=", "list-one",
        "garbage-collect", "info", "no-encoding", "list-filesystems"])
    if isinstance(options, int):
        return options
    opts, operands = options
    values = dict(opts)
    flags = flag_set(opts)
    guest = call.guest
    output = values.get("-o", values.get("--output", "full"))
    wanted = [v for o, v in opts if o in ("-s", "--match-tag")]
    probe = bool(flags & {"-p", "--probe"})
    token = values.get("-t", values.get("--match-token"))
    if probe and not operands:
        return call.fail("blkid: The low-level probing mode requires a device", 4)
    if "-U" in values or "--uuid" in values or "-L" in values or "--label" in values:
        key = "UUID" if ("-U" in values or "--uuid" in values) else "LABEL"
        wanted_value = values.get("-U", values.get("--uuid", values.get("-L", values.get("--label", ""))))
        found = guest.target_by_tag(f"{key}={wanted_value}")
        if found is None:
            return 2
        call.out(found.path + "\n")
        return 0

    def entries_for(targets: list[Any], *, use_cache: bool) -> list[tuple[str, list[tuple[str, str]]]]:
        result = []
        for target in targets:
            if use_cache:
                cached = guest.blkid_cache.get(target.path)
                if cached is None:
                    continue
                tags = list(cached.items())
            else:
                tags = blkid_tags(target, probe=probe)
                if not probe:
                    guest.blkid_cache[target.path] = dict(tags)
            result.append((target.path, tags))
        return result

    use_cache = not call.root  # a user cannot open the devices: blkid answers from its cache file
    if operands:
        targets = []
        status = 0
        for operand in operands:
            target = guest.block_target(operand, call.shell.cwd)
            if target is None:
                status = 2
                continue
            targets.append(target)
        if use_cache and probe:
            call.err(f"blkid: error: {operands[0]}: Permission denied\n")
            return 2
        entries = entries_for(targets, use_cache=use_cache)
        entries = [(p if not operands else p, t) for p, t in entries]
    else:
        status = 0
        all_targets = [t for t in guest.targets()
                       if t.filesystem is not None or t.partition is not None]
        entries = entries_for(all_targets, use_cache=use_cache)
    if token:
        key, _, value = token.partition("=")
        entries = [(p, t) for p, t in entries if dict(t).get(key) == value.strip('"')]
    if wanted:
        entries = [(p, [(k, v) for k, v in t if k in wanted]) for p, t in entries]
    entries = [(p, t) for p, t in entries if t]
    if not entries:
        return 2
    if output == "value":
        for _path, tags in entries:
            call.out("".join(v + "\n" for _k, v in tags))
    elif output == "export":
        for index, (path, tags) in enumerate(entries):
            if index:
                call.out("\n")
            call.out(f"DEVNAME={path}\n" + "".join(f"{k}={v}\n" for k, v in tags))
    elif output == "device":
        for path, _tags in entries:
            call.out(path + "\n")
    elif output in ("list", "udev"):
        for path, tags in entries:
            call.out(blkid_line(path, tags) + "\n")
    else:
        for path, tags in entries:
            call.out(blkid_line(path, tags) + "\n")
    return status


# ---------------------------------------------------------------- df


DF_DUMMY = {"proc", "sysfs", "devpts", "devtmpfs", "cgroup", "cgroup2", "securityfs", "pstore", "bpf", "autofs",
            "mqueue", "debugfs", "tracefs", "fusectl", "configfs", "hugetlbfs", "binfmt_misc"}


@program("df")
async def p_df(call: Call) -> int:
    options = parse_options(call, "ahHiklPTt:x:B:", [
        "all", "human-readable", "si", "inodes", "local", "portability", "print-type", "type=", "exclude-type=",
        "block-size=", "output::", "total", "sync", "no-sync"])
    if isinstance(options, int):
        return options
    opts, operands = options
    flags = flag_set(opts)
    values = dict(opts)
    guest = call.guest
    human = bool(flags & {"-h", "--human-readable"})
    si = bool(flags & {"-H", "--si"})
    posix = bool(flags & {"-P", "--portability"})
    show_type = bool(flags & {"-T", "--print-type"})
    block = 1024
    block_label = "1K-blocks"
    spec = values.get("-B", values.get("--block-size"))
    if "-k" in flags:
        spec = None
    if spec is not None:
        size = parse_size(spec)
        if size is None or size <= 0:
            return call.fail(f"df: invalid -B argument '{spec}'\nTry 'df --help' for more information.")
        block = size
        block_label = f"{spec.upper() if not spec.isdigit() else spec}-blocks" if spec != "1" else "1B-blocks"
        if spec.isdigit():
            block_label = f"{spec}B-blocks" if spec != "1" else "1B-blocks"
            if posix:
                block_label = f"{spec}-blocks"
    if posix and spec is None:
        block_label = "1024-blocks"
    types = [v for o, v in opts if o in ("-t", "--type")]
    excluded = [v for o, v in opts if o in ("-x", "--exclude-type")]
    mounts = list(guest.mounts)
    chosen = []
    status = 0
    if operands:
        for operand in operands:
            try:
                canonical = guest.resolve(operand, call.shell.cwd)
                guest.lookup(canonical)
            except PathError as exc:
                call.err(f"df: {operand}: {exc.reason}\n")
                status = 1
                continue
            target = guest.block_target(canonical)
            mount = None
            if target is not None:
                mount = next((m for m in reversed(mounts) if m.device == target.name), None)
                if mount is None:
                    mount = next(m for m in mounts if m.target == "/dev")
            else:
                mount = guest._mount_for(canonical)
            if mount is not None:
                chosen.append(mount)
    else:
        seen_targets: dict[str, Any] = {}
        for m in mounts:
            if "-a" not in flags and "--all" not in flags and (m.fstype in DF_DUMMY or m.filesystem is None):
                continue
            seen_targets[m.target] = m  # a mount over a mount point hides the one below
        chosen = list(seen_targets.values())
    chosen = [m for m in chosen if (not types or m.fstype in types) and m.fstype not in excluded]
    if not chosen:
        return call.fail("df: no file systems processed") if types or not operands else status
    header = ["Filesystem"] + (["Type"] if show_type else [])
    if human or si:
        header += ["Size", "Used", "Avail", "Capacity" if posix else "Use%"]
    else:
        header += [block_label, "Used", "Available", "Capacity" if posix else "Use%"]
    header.append("Mounted on")
    rows = []
    for m in chosen:
        if m.filesystem is not None:
            total, used, avail = m.filesystem.df_figures()
        else:
            total = used = avail = 0
        if human or si:
            cells = [df_human(total, si=si) if total else "0", df_human(used, si=si) if used else "0",
                     df_human(avail, si=si) if avail else "0"]
        else:
            cells = [str(-(-total // block)), str(-(-used // block)), str(avail // block)]
        percent = "-" if used + avail == 0 else f"{-(-used * 100 // (used + avail))}%"
        rows.append([m.source] + ([m.fstype] if show_type else []) + cells + [percent, m.target])
    widths_min = {"Filesystem": 14, "Type": 4, "Use%": 4, "Capacity": 0, "Mounted on": 0}
    widths = [max([len(name), widths_min.get(name, 5)] + [len(r[i]) for r in rows]) for i, name in enumerate(header)]
    out = []
    left = {0, 1} if show_type else {0}
    for row in [header] + rows:
        cells = []
        for i, cell in enumerate(row):
            if i == len(row) - 1:
                cells.append(cell)
            elif i in left:
                cells.append(cell.ljust(widths[i]))
            else:
                cells.append(cell.rjust(widths[i]))
        out.append(" ".join(cells))
    call.out("".join(line + "\n" for line in out))
    return status


# ---------------------------------------------------------------- findmnt, mount, umount, mountpoint


FINDMNT_DEFAULT = ["TARGET", "SOURCE", "FSTYPE", "OPTIONS"]


def findmnt_values(guest: Guest, m: Any) -> dict[str, str]:
    fs = m.filesystem
    total, used, avail = fs.df_figures() if fs is not None else (0, 0, 0)
    target = guest.target_named(m.device) if m.device else None
    return {
        "TARGET": m.target, "SOURCE": m.source, "FSTYPE": m.fstype, "OPTIONS": m.options,
        "VFS-OPTIONS": ",".join(o for o in m.options.split(",") if o in ("rw", "ro", "relatime", "nosuid", "nodev",
                                                                          "noexec", "noatime")),
        "FS-OPTIONS": ",".join(o for o in m.options.split(",") if o not in ("rw", "ro", "relatime", "nosuid",
                                                                             "nodev", "noexec", "noatime")) or "rw",
        "UUID": fs.uuid if fs is not None and m.device else "", "LABEL": fs.label if fs is not None else "",
        "PARTUUID": target.partition.partuuid if target is not None and target.partition is not None else "",
        "PARTLABEL": target.partition.name if target is not None and target.partition is not None else "",
        "SIZE": lsblk_size(total) if total else "", "AVAIL": lsblk_size(avail) if total else "",
        "USED": lsblk_size(used) if total else "", "USE%": f"{round(used * 100 / total)}%" if total else "",
        "FSROOT": "/", "MAJ:MIN": "", "SOURCES": m.source, "ID": "",
    }


@program("findmnt")
async def p_findmnt(call: Call) -> int:
    options = parse_options(call, "no:rlJsmkDbt:S:T:M:ADuv", [
        "noheadings", "output=", "raw", "list", "json", "fstab", "mtab", "kernel", "df", "bytes", "types=",
        "source=", "target=", "mountpoint=", "all", "real", "pseudo", "notruncate", "nofsroot", "first-only",
        "output-all", "evaluate", "canonicalize", "uniq"])
    if isinstance(options, int):
        return options
    opts, operands = options
    flags = flag_set(opts)
    values = dict(opts)
    guest = call.guest
    columns = [c.strip().upper() for c in values.get("-o", values.get("--output", "")).split(",") if c.strip()]
    df_mode = bool(flags & {"-D", "--df"})
    if df_mode and not columns:
        columns = ["SOURCE", "FSTYPE", "SIZE", "USED", "AVAIL", "USE%", "TARGET"]
    fstab_mode = bool(flags & {"-s", "--fstab"})
    if not columns:
        columns = FINDMNT_DEFAULT if not fstab_mode else ["TARGET", "SOURCE", "FSTYPE", "OPTIONS"]
    known = set(FINDMNT_DEFAULT) | {"VFS-OPTIONS", "FS-OPTIONS", "UUID", "LABEL", "PARTUUID", "PARTLABEL", "SIZE",
                                    "AVAIL", "USED", "USE%", "FSROOT", "MAJ:MIN", "SOURCES", "ID"}
    for column in columns:
        if column not in known:
            return call.fail(f"findmnt: unknown column: {column}")
    types = {t for v in (values.get("-t"), values.get("--types")) if v for t in v.split(",")}
    source_filter = values.get("-S", values.get("--source"))
    target_filter = values.get("-T", values.get("--target")) or values.get("-M", values.get("--mountpoint"))
    if operands:
        if len(operands) == 1:
            device = guest.block_target(operands[0], call.shell.cwd) if operands[0].startswith("/dev/") else None
            if device is not None or "=" in operands[0]:
                source_filter = operands[0]
            else:
                target_filter = operands[0]
        else:
            source_filter, target_filter = operands[0], operands[1]
    if fstab_mode:
        rows = []
        for entry in guest.fstab():
            if target_filter and entry.target != target_filter:
                continue
            if source_filter and entry.spec != source_filter:
                continue
            rows.append({"TARGET": entry.target, "SOURCE": entry.spec, "FSTYPE": entry.fstype,
                         "OPTIONS": entry.options})
        if not rows:
            return 1
        cells = [[r.get(c, "") for c in columns] for r in rows]
        call.out(table(columns, cells, set(), heading=not flags & {"-n", "--noheadings"}))
        return 0
    mounts = list(guest.mounts)
    if types:
        mounts = [m for m in mounts if m.fstype in types]
    if df_mode:
        mounts = [m for m in mounts if m.filesystem is not None and m.fstype not in DF_DUMMY]
    if "-T" in values or "--target" in values:
        assert target_filter is not None
        try:
            canonical = guest.resolve(target_filter, call.shell.cwd)
        except PathError:
            return 1
        found = guest._mount_for(canonical)
        mounts = [found] if found is not None else []
    elif target_filter is not None:
        try:
            canonical = guest.resolve(target_filter, call.shell.cwd)
        except PathError:
            canonical = target_filter
        mounts = [m for m in mounts if m.target == canonical]
    if source_filter is not None:
        device = guest.target_by_tag(source_filter) if "=" in source_filter else guest.block_target(
            source_filter, call.shell.cwd)
        if device is not None:
            mounts = [m for m in mounts if m.device == device.name]
        else:
            mounts = [m for m in mounts if m.source == source_filter]
    if not mounts:
        return 1
    heading = not flags & {"-n", "--noheadings"}
    as_list = bool(flags & {"-l", "--list", "-r", "--raw", "-D", "--df"}) or len(mounts) < len(guest.mounts) \
        or bool(operands)
    if flags & {"-J", "--json"}:
        import json

        items = [{c.lower(): (findmnt_values(guest, m)[c] or None) for c in columns} for m in mounts]
        call.out(json.dumps({"filesystems": items}, indent=3) + "\n")
        return 0
    rows = []
    if as_list:
        for m in mounts:
            values_m = findmnt_values(guest, m)
            rows.append([values_m[c] for c in columns])
    else:
        def depth_parent(m: Any) -> Any:
            best = None
            for other in mounts:
                if other is m:
                    continue
                if m.target != other.target and (m.target.startswith(other.target.rstrip("/") + "/")
                                                 or other.target == "/"):
                    if best is None or len(other.target) > len(best.target):
                        best = other
            return best

        kids: dict[int, list[Any]] = {}
        roots = []
        for m in mounts:
            parent = depth_parent(m)
            if parent is None:
                roots.append(m)
            else:
                kids.setdefault(id(parent), []).append(m)

        def walk(m: Any, prefix: str, branch: str) -> None:
            values_m = findmnt_values(guest, m)
            row = []
            for c in columns:
                cell = values_m[c]
                if c == "TARGET":
                    cell = prefix + branch + cell
                row.append(cell)
            rows.append(row)
            children = kids.get(id(m), [])
            for index, child in enumerate(children):
                last = index == len(children) - 1
                walk(child, prefix + ("│ " if branch == "├─" else "  " if branch else ""),
                     "└─" if last else "├─")

        for m in roots:
            walk(m, "", "")
    if flags & {"-r", "--raw"}:
        out = [" ".join(columns)] if heading else []
        out += [" ".join(c.replace(" ", "\\x20") for c in r) for r in rows]
        call.out("".join(line + "\n" for line in out))
        return 0
    right = {i for i, c in enumerate(columns) if c in ("SIZE", "AVAIL", "USED", "USE%")}
    call.out(table(columns, rows, right, heading=heading, pad_last=False))
    return 0


MOUNT_HINT = "\n       dmesg(1) may have more information after failed mount system call."


def fstab_hint(call: Call) -> None:
    if call.guest.fstab_dirty:
        call.out("mount: (hint) your fstab has been modified, but systemd still uses\n"
                 "       the old version; use 'systemctl daemon-reload' to reload.\n")


@program("mount")
async def p_mount(call: Call) -> int:
    options = parse_options(call, "at:o:vrwnlLU:fB", ["all", "types=", "options=", "verbose", "read-only",
                                                         "rw", "fake", "no-mtab", "bind", "label=", "uuid="])
    if isinstance(options, int):
        return options
    opts, operands = options
    flags = flag_set(opts)
    values = dict(opts)
    guest = call.guest
    types = values.get("-t", values.get("--types"))
    mount_options = ",".join(v for o, v in opts if o in ("-o", "--options"))
    if flags & {"-r", "--read-only"}:
        mount_options = "ro," + mount_options if mount_options else "ro"
    if not operands and not flags & {"-a", "--all"} and "-U" not in values and "-L" not in values:
        for m in guest.mounts:
            if types and m.fstype not in types.split(","):
                continue
            call.out(f"{m.source} on {m.target} type {m.fstype} ({m.options})\n")
        return 0
    if not call.root:
        target_name = operands[-1] if operands else "/"
        return call.fail(f"mount: {target_name}: must be superuser to use mount.\n"
                         "       dmesg(1) may have more information after failed mount system call.", 32)
    if flags & {"-a", "--all"}:
        errors = guest.mount_fstab()
        for error in errors:
            call.err(error + "\n")
        if not errors:
            fstab_hint(call)
        return 32 if errors else 0
    if "-U" in values or "--uuid" in values:
        operands = [f"UUID={values.get('-U', values.get('--uuid'))}"] + operands
    if "-L" in values or "--label" in values:
        operands = [f"LABEL={values.get('-L', values.get('--label'))}"] + operands
    if len(operands) == 1:
        spec = operands[0]
        entry = None
        try:
            canonical = guest.resolve(spec, call.shell.cwd)
        except PathError:
            canonical = spec
        for e in guest.fstab():
            if e.target == canonical or e.spec == spec or (
                    guest.block_target(spec, call.shell.cwd) is not None and
                    guest.target_by_tag(e.spec) == guest.block_target(spec, call.shell.cwd)):
                entry = e
                break
        if entry is None:
            return call.fail(f"mount: {spec}: can't find in /etc/fstab.", 1)
        operands = [entry.spec, entry.target]
        mount_options = mount_options or entry.options
        types = types or (entry.fstype if entry.fstype != "auto" else None)
    source, mountpoint = operands[0], operands[1]
    if "=" in source and source.split("=", 1)[0] in ("UUID", "LABEL", "PARTUUID", "PARTLABEL"):
        target = guest.target_by_tag(source)
        if target is None:
            return call.fail(f"mount: {mountpoint}: can't find {source}.{MOUNT_HINT}", 32)
    else:
        target = guest.block_target(source, call.shell.cwd)
        if target is None:
            if not guest.exists(source, call.shell.cwd):
                return call.fail(f"mount: {guest.resolve(mountpoint, call.shell.cwd)}: special device {source} does "
                                 f"not exist.{MOUNT_HINT}", 32)
            return call.fail(f"mount: {mountpoint}: {source} is not a block device.{MOUNT_HINT}", 32)
    fs = target.filesystem
    if types and fs is not None and types not in ("auto", fs.fstype):
        return call.fail(f"mount: {guest.resolve(mountpoint, call.shell.cwd)}: wrong fs type, bad option, bad "
                         f"superblock on {target.path}, missing codepage or helper program, or other error."
                         f"{MOUNT_HINT}", 32)
    try:
        guest.mount(target, guest.resolve(mountpoint, call.shell.cwd), options=mount_options)
    except GuestError as exc:
        return call.fail(f"mount: {exc}{MOUNT_HINT}", 32)
    fstab_hint(call)
    return 0


@program("umount")
async def p_umount(call: Call) -> int:
    options = parse_options(call, "lfRrvan", ["lazy", "force", "recursive", "verbose", "all", "no-mtab"])
    if isinstance(options, int):
        return options
    opts, operands = options
    if not operands:
        return call.fail("umount: bad usage\nTry 'umount --help' for more information.", 1)
    status = 0
    for operand in operands:
        if not call.root:
            try:
                canonical = call.guest.resolve(operand, call.shell.cwd)
            except PathError:
                canonical = operand
            call.err(f"umount: {canonical}: must be superuser to unmount.\n")
            status = 32
            continue
        try:
            call.guest.umount(operand, call.shell.cwd)
        except GuestError as exc:
            call.err(f"umount: {exc}\n")
            status = 32
    return status


@program("mountpoint")
async def p_mountpoint(call: Call) -> int:
    quiet = "-q" in call.args
    operands = [a for a in call.args if not a.startswith("-")]
    if not operands:
        return call.fail("mountpoint: bad usage\nTry 'mountpoint --help' for more information.", 1)
    path = operands[0]
    try:
        canonical = call.guest.resolve(path, call.shell.cwd)
        call.guest.lookup(canonical)
    except PathError as exc:
        if not quiet:
            call.err(f"mountpoint: {path}: {exc.reason}\n")
        return 1
    if call.guest.is_mountpoint(canonical):
        if not quiet:
            call.out(f"{path} is a mountpoint\n")
        return 0
    if not quiet:
        call.out(f"{path} is not a mountpoint\n")
    return 32


# ---------------------------------------------------------------- fdisk, sfdisk, sgdisk, parted


def fdisk_device_block(guest: Guest, disk: Any) -> str:
    """What `fdisk -l` prints about one disk."""
    from .guest import DOS_TYPE_NAMES, PARTITION_TYPE_NAMES, SECTOR, BlockTarget

    physical = 512 if disk.role == "loop" else 4096
    lines = [f"Disk /dev/{disk.name}: {fdisk_size(disk.size_bytes)}, {disk.size_bytes} bytes, {disk.sectors} sectors"]
    if disk.role != "loop":
        lines.append("Disk model: Virtual Disk    ")
    lines += [f"Units: sectors of 1 * {SECTOR} = {SECTOR} bytes",
              f"Sector size (logical/physical): {SECTOR} bytes / {physical} bytes",
              f"I/O size (minimum/optimal): {physical} bytes / {physical} bytes"]
    table_ = disk.table
    if table_ is None:
        return "\n".join(lines) + "\n"
    lines.append(f"Disklabel type: {table_.kind}")
    lines.append(f"Disk identifier: {table_.ptuuid.upper() if table_.kind == 'gpt' else table_.ptuuid}")
    if not table_.partitions:
        return "\n".join(lines) + "\n"
    lines.append("")
    rows = []
    for part in sorted(table_.partitions, key=lambda p: p.number):
        name = "/dev/" + BlockTarget(disk, part).name
        if table_.kind == "gpt":
            rows.append([name, str(part.start), str(part.end), str(part.sectors), lsblk_size(part.size_bytes),
                         PARTITION_TYPE_NAMES.get(part.type_id.upper(), "Linux filesystem")])
        else:
            rows.append([name, "*" if part.bootable else "", str(part.start), str(part.end), str(part.sectors),
                         lsblk_size(part.size_bytes), part.type_id, DOS_TYPE_NAMES.get(part.type_id, "Unknown")])
    if table_.kind == "gpt":
        text = table(["Device", "Start", "End", "Sectors", "Size", "Type"], rows, {1, 2, 3, 4})
    else:
        text = table(["Device", "Boot", "Start", "End", "Sectors", "Size", "Id", "Type"], rows, {2, 3, 4, 5, 6})
    lines.append(text.rstrip("\n"))
    ordered = sorted(table_.partitions, key=lambda p: p.number)
    if [p.start for p in ordered] != sorted(p.start for p in ordered):
        lines.append("")
        lines.append("Partition table entries are not in disk order.")
    return "\n".join(lines) + "\n"


@program("fdisk", where="sbin")
async def p_fdisk(call: Call) -> int:
    args = call.args
    guest = call.guest
    if not args or args[0] not in ("-l", "--list", "-x", "--list-details"):
        if args and args[0] in ("-V", "--version"):
            call.out("fdisk from util-linux 2.37.2\n")
            return 0
        if args and not call.root:
            return call.fail(f"fdisk: cannot open {args[-1]}: Permission denied")
        return call.fail("fdisk: the simulated guest's fdisk lists only (fdisk -l); partition with parted, sfdisk "
                         "or sgdisk", 1)
    operands = [a for a in args[1:] if not a.startswith("-")]
    disks = []
    status = 0
    if operands:
        for operand in operands:
            target = guest.block_target(operand, call.shell.cwd)
            if target is None:
                call.err(f"fdisk: cannot open {operand}: No such file or directory\n")
                status = 1
                continue
            if not call.root:
                call.err(f"fdisk: cannot open {operand}: Permission denied\n")
                status = 1
                continue
            disks.append(target.disk)
    else:
        devices = [d for d in guest.block_devices()]
        if not call.root:
            for disk in devices:
                call.err(f"fdisk: cannot open /dev/{disk.name}: Permission denied\n")
            return 0
        disks = devices
    call.out("\n\n".join(fdisk_device_block(guest, d) for d in disks))
    return status


def disk_operand(call: Call, operand: str | None, tool: str) -> Any:
    """The whole disk an operand names, or an int (the status after the error is printed)."""
    guest = call.guest
    if operand is None:
        return call.fail(f"{tool}: no disk device specified")
    target = guest.block_target(operand, call.shell.cwd)
    if target is None:
        if tool == "parted":
            return call.fail(f"Error: Could not stat device {operand} - No such file or directory.")
        return call.fail(f"{tool}: cannot open {operand}: No such file or directory")
    if not call.root:
        if tool == "parted" or tool == "partprobe":
            return call.fail(f"Error: Error opening {operand}: Permission denied")
        return call.fail(f"{tool}: cannot open {operand}: Permission denied")
    return target


def busy_partitions(guest: Guest, disk: Any) -> list[int]:
    from .guest import BlockTarget

    if disk.table is None:
        return []
    return [p.number for p in disk.table.partitions if guest.mount_of(BlockTarget(disk, p))]


def parted_point(text: str, disk: Any, *, end: bool) -> tuple[int, int] | None:
    """A parted position -> (sector, fuzz in sectors): '0%', '100%', '1MiB', '2048s', '10GB', '-1s'."""
    from .guest import SECTOR

    m = re.fullmatch(r"(-?\d+(?:\.\d+)?)\s*(%|s|B|kB|MB|GB|TB|KiB|MiB|GiB|TiB|k|K|M|G|T)?", text.strip())
    if m is None:
        return None
    number = float(m.group(1))
    unit = m.group(2) or "MB"
    total = disk.sectors
    if unit == "%":
        sector = int(number / 100 * (total - 1) + 0.5) if number < 100 else total - 1
        return sector, int(total * 0.005)
    if unit == "s":
        sector = int(number)
        if sector < 0:
            sector = total + sector
        return sector, 0
    factors = {"B": 1, "kB": 10 ** 3, "k": 10 ** 3, "K": 10 ** 3, "MB": 10 ** 6, "M": 10 ** 6, "GB": 10 ** 9,
               "G": 10 ** 9, "TB": 10 ** 12, "T": 10 ** 12, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3,
               "TiB": 1024 ** 4}
    factor = factors[unit]
    byte = number * factor
    if byte < 0:
        byte = disk.size_bytes + byte
    sector = int(byte // SECTOR)
    if end and unit.endswith("iB"):
        sector -= 1  # an IEC end is exclusive
    fuzz = 0 if unit.endswith("iB") or unit == "B" else int(factor / 2 // SECTOR)
    return max(0, sector), fuzz


@program("parted", where="sbin")
async def p_parted(call: Call) -> int:
    from .guest import ALIGNMENT, GPT_FIRST_USABLE, LINUX_FS_GUID

    args = list(call.args)
    script = False
    alignment = "optimal"
    unit = "compact"
    while args and args[0].startswith("-"):
        arg = args.pop(0)
        if arg in ("-s", "--script"):
            script = True
        elif arg in ("-a", "--align"):
            alignment = args.pop(0) if args else "optimal"
        elif arg.startswith("--align="):
            alignment = arg.split("=", 1)[1]
        elif arg in ("-l", "--list"):
            args = ["__list__"] + args
            break
        elif arg in ("-m", "--machine", "-f", "--fix"):
            continue
        elif arg in ("-v", "--version"):
            call.out("parted (GNU parted) 3.4\n")
            return 0
        else:
            return call.fail(f"parted: invalid option -- '{arg.lstrip('-')[:1]}'")
    guest = call.guest
    if args and args[0] == "__list__":
        if not call.root:
            return call.fail("Error: Error opening /dev/sda: Permission denied")
        call.out("\n".join(parted_print(guest, d, "compact") for d in guest.all_disks()))
        return 0
    if not args:
        return call.fail("parted: the simulated guest's parted needs a device and commands (use -s)")
    target = disk_operand(call, args.pop(0), "parted")
    if isinstance(target, int):
        return target
    disk = target.disk
    if not args:
        if not script:
            return call.fail("parted: interactive mode is not available in this guest: give the commands, with -s")
        return 0
    while args:
        command = args.pop(0)
        if command == "unit":
            unit = args.pop(0) if args else "compact"
            continue
        if command == "print":
            if args and args[0] in ("free", "all", "devices", "list"):
                args.pop(0)
            call.out(parted_print(guest, disk, unit))
            continue
        if command == "mklabel":
            if not args:
                return call.fail("Error: Expecting a disk label type.")
            kind = args.pop(0)
            if kind not in ("gpt", "msdos"):
                return call.fail(f"parted: invalid token: {kind}\nError: Expecting a disk label type.")
            if busy_partitions(guest, disk):
                return call.fail(f"Error: Partition(s) {','.join(map(str, busy_partitions(guest, disk)))} on "
                                 f"/dev/{disk.name} have been written, but we have been unable to inform the kernel of "
                                 "the change, probably because it/they are in use.  As a result, the old partition(s) "
                                 "will remain in use.  You should reboot now before making further changes.")
            if disk.table is not None and disk.table.partitions and not script:
                return call.fail(f"Warning: The existing disk label on /dev/{disk.name} will be destroyed and all "
                                 "data on this disk will be lost.")
            guest.make_label(disk, "gpt" if kind == "gpt" else "dos")
            continue
        if command == "mkpart":
            if disk.table is None:
                return call.fail(f"Error: /dev/{disk.name}: unrecognised disk label")
            rest: list[str] = []
            while args and args[0] not in ("mklabel", "mkpart", "print", "unit", "name", "set", "quit", "rm"):
                rest.append(args.pop(0))
            kinds = {"ext2", "ext3", "ext4", "xfs", "btrfs", "fat16", "fat32", "linux-swap", "ntfs", "hfs+"}
            name = ""
            if disk.table.kind == "dos":
                if rest and rest[0] in ("primary", "logical", "extended"):
                    rest.pop(0)
            elif rest and rest[0] not in kinds and parted_point(rest[0], disk, end=False) is None:
                name = rest.pop(0)
            if rest and rest[0] in kinds:
                rest.pop(0)
            if len(rest) < 2:
                return call.fail("Error: Expecting a partition end." if rest else "Error: Expecting a partition start.")
            start_spec = parted_point(rest[0], disk, end=False)
            end_spec = parted_point(rest[1], disk, end=True)
            if start_spec is None or end_spec is None:
                return call.fail(f'Error: "{rest[0] if start_spec is None else rest[1]}" has invalid syntax for '
                                 "locations.")
            (start, start_fuzz), (end, end_fuzz) = start_spec, end_spec
            first = GPT_FIRST_USABLE if disk.table.kind == "gpt" else 1
            last = disk.last_usable if disk.table.kind == "gpt" else disk.sectors - 1
            if alignment in ("optimal", "opt", "minimal", "min"):
                aligned = -(-max(start, first) // ALIGNMENT) * ALIGNMENT
                if aligned - start <= max(start_fuzz, first if start < first else 0) or start < first:
                    start = aligned if aligned - start <= max(start_fuzz, ALIGNMENT) else start
                aligned_end = (min(end, last) + 1) // ALIGNMENT * ALIGNMENT - 1
                if end - aligned_end <= end_fuzz:
                    end = aligned_end
            start = max(start, first)
            end = min(end, last)
            occupied = [(p.start, p.end) for p in disk.table.partitions]
            if any(start <= e and end >= s for s, e in occupied):
                return call.fail("Error: Can't have overlapping partitions.")
            if end <= start:
                return call.fail("Error: Can't have a partition outside the disk!")
            try:
                guest.add_partition(disk, start, end, LINUX_FS_GUID if disk.table.kind == "gpt" else "83", name=name)
            except GuestError as exc:
                return call.fail(f"Error: {exc}")
            continue
        if command == "name":
            if len(args) < 2 or disk.table is None:
                return call.fail("Error: Expecting a partition number.")
            number, label = args.pop(0), args.pop(0)
            part = disk.table.get(int(number)) if number.isdigit() else None
            if part is None:
                return call.fail("Error: Partition doesn't exist.")
            part.name = label
            continue
        if command == "set":
            for _ in range(3):
                if args:
                    args.pop(0)
            continue
        if command == "rm":
            if not args or disk.table is None:
                return call.fail("Error: Expecting a partition number.")
            number = args.pop(0)
            part = disk.table.get(int(number)) if number.isdigit() else None
            if part is None:
                return call.fail("Error: Partition doesn't exist.")
            if number and int(number) in busy_partitions(guest, disk):
                return call.fail(f"Error: Partition /dev/{disk.partition_name(int(number))} is being used. You must "
                                 "unmount it before you modify it with Parted.")
            disk.table.partitions.remove(part)
            guest.devices_version += 1
            continue
        if command == "quit":
            break
        return call.fail(f'parted: invalid token: {command}\nError: Unknown command "{command}".' if not script else
                         f"parted: invalid token: {command}")
    return 0


def parted_size(n: int, unit: str) -> str:
    if unit == "s":
        return f"{n // 512}s"
    if unit in ("B",):
        return f"{n}B"
    if unit in ("MiB", "GiB", "KiB"):
        factor = {"KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3}[unit]
        value = n / factor
        return f"{value:.0f}{unit}" if value == int(value) else f"{value:g}{unit}"
    for suffix, factor in (("TB", 10 ** 12), ("GB", 10 ** 9), ("MB", 10 ** 6), ("kB", 10 ** 3)):
        if n >= factor * 10 or (suffix == "kB" and n >= factor):
            value = n / factor
            text = f"{value:.1f}" if value < 10 else f"{value:.0f}" if value >= 100 else f"{value:.1f}"
            text = text.rstrip("0").rstrip(".") if "." in text else text
            return f"{text}{suffix}"
    return f"{n}B"


def parted_print(guest: Guest, disk: Any, unit: str) -> str:
    from .guest import SECTOR, BlockTarget

    physical = 512 if disk.role == "loop" else 4096
    model = "Loopback device (loopback)" if disk.role == "loop" else "Msft Virtual Disk (scsi)"
    unit = "compact" if unit in ("compact", "MB") else unit
    lines = [f"Model: {model}", f"Disk /dev/{disk.name}: {parted_size(disk.size_bytes, unit)}",
             f"Sector size (logical/physical): {SECTOR}B/{physical}B"]
    table_ = disk.table
    kind = "unknown" if table_ is None else "msdos" if table_.kind == "dos" else table_.kind
    if table_ is None and disk.filesystem is not None:
        kind = "loop"
    lines += [f"Partition Table: {kind}", "Disk Flags: ", ""]
    if table_ is None and disk.filesystem is None:
        return "\n".join(lines)
    rows = []
    fs_names = {"ext4": "ext4", "xfs": "xfs", "vfat": "fat32", "swap": "linux-swap(v1)"}
    if table_ is None:
        fs = disk.filesystem
        rows.append([" 1", parted_size(0, unit), parted_size(disk.size_bytes, unit), parted_size(disk.size_bytes, unit),
                     fs_names.get(fs.fstype, fs.fstype), "", ""])
        header = ["Number", "Start", "End", "Size", "File system", "Flags"]
        rows = [[r[0], r[1], r[2], r[3], r[4], r[6]] for r in rows]
    else:
        for part in sorted(table_.partitions, key=lambda p: p.number):
            fs = BlockTarget(disk, part).filesystem
            start = parted_size(part.start * SECTOR, unit)
            end = parted_size((part.end + 1) * SECTOR - (0 if unit != "s" else SECTOR), unit)
            if unit == "s":
                end = f"{part.end}s"
            size = parted_size(part.size_bytes, unit)
            flags = {"21686148-6449-6E6F-744E-656564454649": "bios_grub",
                     "C12A7328-F81F-11D2-BA4B-00A0C93EC93B": "boot, esp"}.get(part.type_id.upper(), "")
            fs_name = fs_names.get(fs.fstype, fs.fstype) if fs is not None else ""
            if table_.kind == "gpt":
                rows.append([f"{part.number:>2}", start, end, size, fs_name, part.name, flags])
            else:
                rows.append([f"{part.number:>2}", start, end, size, "primary", fs_name, "boot" if part.bootable else ""])
        header = ["Number", "Start", "End", "Size", "File system", "Name", "Flags"] if table_.kind == "gpt" else \
            ["Number", "Start", "End", "Size", "Type", "File system", "Flags"]
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]
    out = []
    for row in [header] + rows:
        out.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(row[:-1])) + "  " + row[-1])
    return "\n".join(lines) + "\n" + "\n".join(out) + "\n\n"


SGDISK_USAGE = "Usage: sgdisk [OPTION...] <device>"


@program("sgdisk", where="sbin")
async def p_sgdisk(call: Call) -> int:
    from .guest import ALIGNMENT, LINUX_FS_GUID, SGDISK_TYPES

    args = list(call.args)
    if not args:
        return call.fail(SGDISK_USAGE, 2)
    device = args[-1]
    actions = args[:-1]
    guest = call.guest
    target = guest.block_target(device, call.shell.cwd)
    if target is None:
        return call.fail(f"Problem opening {device} for reading! Error is 2.\nThe specified file does not exist!", 2)
    if not call.root:
        return call.fail(f"Problem opening {device} for reading! Error is 13.\nYou must run this program as root or "
                         "use sudo!", 2)
    disk = target.disk
    changed = False
    messages: list[str] = []
    i = 0
    while i < len(actions):
        action = actions[i]
        value = ""
        if "=" in action and action.startswith("--"):
            action, value = action.split("=", 1)
        elif action in ("-n", "-t", "-c", "-d", "-A", "--new", "--typecode", "--change-name", "--delete"):
            i += 1
            value = actions[i] if i < len(actions) else ""
        elif len(action) > 2 and action[:2] in ("-n", "-t", "-c", "-d") and not action.startswith("--"):
            action, value = action[:2], action[2:]
        i += 1
        if action in ("-Z", "--zap-all"):
            if busy_partitions(guest, disk):
                return call.fail("Warning: The kernel is still using the old partition table.", 0)
            guest.wipe(target.__class__(disk))
            call.out("GPT data structures destroyed! You may now partition the disk using fdisk or\nother utilities.\n")
            return 0
        if action in ("-o", "--clear"):
            guest.make_label(disk, "gpt")
            changed = True
            continue
        if action in ("-p", "--print"):
            call.out(sgdisk_print(disk))
            continue
        if disk.table is None and action in ("-n", "--new"):
            messages.append("Creating new GPT entries in memory.")
            guest.make_label(disk, "gpt")
        if action in ("-n", "--new"):
            parts = (value.split(":") + ["", "", ""])[:3]
            number = int(parts[0]) if parts[0] not in ("", "0") else None
            assert disk.table is not None
            free_start = max([p.end + 1 for p in disk.table.partitions] + [ALIGNMENT])
            start_text, end_text = parts[1], parts[2]
            start = sgdisk_sector(start_text, disk, free_start, is_end=False)
            if start is None:
                return call.fail(f"Could not create partition {parts[0]} from {start_text} to {end_text}", 4)
            start = -(-start // ALIGNMENT) * ALIGNMENT
            end = sgdisk_sector(end_text, disk, start, is_end=True)
            if end is None or end <= start:
                return call.fail(f"Could not create partition {parts[0]} from {start_text} to {end_text}", 4)
            try:
                guest.add_partition(disk, start, min(end, disk.last_usable), LINUX_FS_GUID, number=number)
            except GuestError:
                return call.fail(f"Could not create partition {parts[0]} from {start} to {end}\n"
                                 "Error encountered; not saving changes.", 4)
            changed = True
        elif action in ("-t", "--typecode"):
            number, _, code = value.partition(":")
            part = disk.table.get(int(number)) if disk.table is not None and number.isdigit() else None
            if part is None:
                return call.fail(f"Could not change partition {number}'s type code to {code}!", 4)
            part.type_id = SGDISK_TYPES.get(code.upper(), code.upper() if len(code) > 8 else LINUX_FS_GUID)
            changed = True
        elif action in ("-c", "--change-name"):
            number, _, label = value.partition(":")
            part = disk.table.get(int(number)) if disk.table is not None and number.isdigit() else None
            if part is None:
                return call.fail(f"Unable to set partition {number}'s name to '{label}'!", 4)
            part.name = label
            changed = True
        elif action in ("-d", "--delete"):
            part = disk.table.get(int(value)) if disk.table is not None and value.isdigit() else None
            if part is None:
                return call.fail(f"Error {value} deleting partition!", 4)
            disk.table.partitions.remove(part)
            changed = True
        elif action in ("-g", "--mbrtogpt", "-a", "--set-alignment", "-e", "--move-second-header", "-P", "--pretend"):
            continue
        elif action not in ("-p", "--print"):
            return call.fail(f"sgdisk: unknown option {action}\n{SGDISK_USAGE}", 2)
    if changed:
        guest.devices_version += 1
        call.out("".join(m + "\n" for m in messages) + "The operation has completed successfully.\n")
    return 0


def sgdisk_sector(text: str, disk: Any, default: int, *, is_end: bool) -> int | None:
    if text in ("", "0"):
        return disk.last_usable if is_end else default
    m = re.fullmatch(r"([+-]?)(\d+)([KMGTP]?)", text)
    if m is None:
        return None
    sign, number, unit = m.groups()
    value = int(number) * {"": 1, "K": 2, "M": 2048, "G": 2048 * 1024, "T": 2048 * 1024 ** 2,
                           "P": 2048 * 1024 ** 3}[unit]
    if sign == "+":
        return default + value - 1 if is_end else default + value
    if sign == "-":
        return disk.last_usable - value
    return value


def sgdisk_print(disk: Any) -> str:
    from .guest import ALIGNMENT, SGDISK_CODES

    size = disk.size_bytes
    lines = [f"Disk /dev/{disk.name}: {disk.sectors} sectors, {human_binary(size)}",
             f"Sector size (logical/physical): 512/{512 if disk.role == 'loop' else 4096} bytes"]
    if disk.table is None:
        return "\n".join(lines) + "\n\nNumber  Start (sector)    End (sector)  Size       Code  Name\n"
    table_ = disk.table
    converted = table_.kind != "gpt"
    if converted:
        lines.insert(0, "\n***************************************************************\nFound invalid GPT and valid MBR; "
                        "converting MBR to GPT format\nin memory. \n***************************************************************\n")
    used = sum(p.sectors for p in table_.partitions)
    free = disk.last_usable - 34 + 1 - used
    lines += [f"Disk identifier (GUID): {table_.ptuuid.upper() if not converted else '00000000-0000-0000-0000-000000000000'}", "Partition table holds up to 128 entries",
              "Main partition table begins at sector 2 and ends at sector 33",
              f"First usable sector is 34, last usable sector is {disk.last_usable}",
              f"Partitions will be aligned on {ALIGNMENT}-sector boundaries",
              f"Total free space is {free} sectors ({human_binary(free * 512)})", "",
              "Number  Start (sector)    End (sector)  Size       Code  Name"]
    for part in sorted(table_.partitions, key=lambda p: p.number):
        if converted:
            code = {"83": "8300", "82": "8200", "8e": "8E00", "7": "0700", "ef": "EF00"}.get(part.type_id, "8300")
            name = {"8300": "Linux filesystem", "8200": "Linux swap", "8E00": "Linux LVM",
                    "0700": "Microsoft basic data", "EF00": "EFI system partition"}[code]
        else:
            code, name = SGDISK_CODES.get(part.type_id.upper(), "8300"), part.name
        lines.append(f"{part.number:>4}{part.start:>16}{part.end:>16}   {human_binary(part.size_bytes):<10} "
                     f"{code:<5} {name}".rstrip())
    return "\n".join(lines) + "\n"


def human_binary(n: int) -> str:
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}" if unit != "bytes" else f"{n} bytes"
        value /= 1024
    return f"{n} bytes"


@program("sfdisk", where="sbin")
async def p_sfdisk(call: Call) -> int:

    args = list(call.args)
    guest = call.guest
    flags = [a for a in args if a.startswith("-")]
    operands = [a for a in args if not a.startswith("-")]
    if flags and flags[0] in ("-l", "--list"):
        disks = []
        for operand in operands or [f"/dev/{d.name}" for d in guest.block_devices()]:
            target = disk_operand(call, operand, "sfdisk")
            if isinstance(target, int):
                return target
            disks.append(target.disk)
        call.out("\n\n".join(fdisk_device_block(guest, d) for d in disks))
        return 0
    if flags and flags[0] in ("-d", "--dump", "-J", "--json"):
        target = disk_operand(call, operands[0] if operands else None, "sfdisk")
        if isinstance(target, int):
            return target
        disk = target.disk
        if disk.table is None:
            return call.fail(f"sfdisk: {operands[0]}: does not contain a recognized partition table")
        call.out(sfdisk_dump(disk))
        return 0
    if flags and flags[0] in ("--delete",):
        return call.fail("sfdisk: --delete is not available in this guest")
    target = disk_operand(call, operands[0] if operands else None, "sfdisk")
    if isinstance(target, int):
        return target
    disk = target.disk
    if busy_partitions(guest, disk) and "--force" not in flags and "-f" not in flags:
        call.out("Checking that no-one is using this disk right now ... FAILED\n\n"
                 "This disk is currently in use - repartitioning is probably a bad idea.\n"
                 "Umount all file systems, and swapoff all swap partitions on this disk.\n"
                 "Use the --no-reread flag to suppress this check.\n\n")
        return call.fail("sfdisk: Use the --force flag to overrule all checks.")
    quiet = bool({"-q", "--quiet"} & set(flags))
    saved_out = call.io.stdout
    if quiet:
        call.io = Io(call.io.stdin, BufferOutput(), call.io.stderr)
    try:
        return await sfdisk_script(call, disk)
    finally:
        call.io = Io(call.io.stdin, saved_out, call.io.stderr)


async def sfdisk_script(call: Call, disk: Any) -> int:
    from .guest import ALIGNMENT, LINUX_FS_GUID, SGDISK_TYPES

    guest = call.guest
    script = await call.io.stdin.read()
    label = None
    specs = []
    for line in script.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"(label|label-id|unit|first-lba|last-lba|device|sector-size|table-length)\s*:\s*(.*)", line)
        if m:
            if m.group(1) == "label":
                label = m.group(2).strip()
            continue
        specs.append(line)
    call.out("Checking that no-one is using this disk right now ... OK\n\n" + fdisk_device_block(guest, disk)
             + "\n>>> Script header accepted.\n" if label else
             "Checking that no-one is using this disk right now ... OK\n\n" + fdisk_device_block(guest, disk) + "\n")
    kind = {"gpt": "gpt", "dos": "dos", "mbr": "dos", None: None}.get(label, label)
    if kind is None:
        kind = disk.table.kind if disk.table is not None else "dos"
    guest.make_label(disk, kind)
    assert disk.table is not None
    if kind == "gpt":
        disk.table.first_lba = ALIGNMENT
    created = f"Created a new {'GPT' if kind == 'gpt' else 'DOS'} disklabel ({'GUID' if kind == 'gpt' else 'disk identifier'}: " \
              f"{disk.table.ptuuid.upper() if kind == 'gpt' else disk.table.ptuuid})."
    call.out(f">>> {created}\n")
    next_start = ALIGNMENT
    last = disk.last_usable if kind == "gpt" else disk.sectors - 1
    number = 1
    for spec in specs:
        fields: dict[str, str] = {}
        if "=" in spec:
            for item in re.split(r"\s*,\s*", spec):
                key, _, value = item.partition("=")
                fields[key.strip()] = value.strip()
        else:
            positional = [p.strip() for p in spec.split(",")] + ["", "", ""]
            fields = {"start": positional[0], "size": positional[1], "type": positional[2]}
        start_text = fields.get("start", "")
        size_text = fields.get("size", "")
        type_text = fields.get("type", "") or "L"
        start = int(start_text) if start_text.isdigit() else next_start
        if size_text in ("", "+"):
            end = (last + 1) // ALIGNMENT * ALIGNMENT - 1
        else:
            m = re.fullmatch(r"\+?(\d+)([KMGT]?)", size_text)
            if m is None:
                return call.fail(f"sfdisk: failed to parse size: {size_text}")
            sectors = int(m.group(1)) * {"": 1, "K": 2, "M": 2048, "G": 2048 * 1024, "T": 2048 * 1024 ** 2}[m.group(2)]
            end = start + sectors - 1
        end = min(end, last)
        type_id: str
        if kind == "gpt":
            type_id = {"L": LINUX_FS_GUID, "S": "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F",
                       "V": "E6D6D379-F507-44C2-A23C-238F2A3DF928", "U": "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
                       "83": LINUX_FS_GUID}.get(type_text.upper() if len(type_text) < 3 else type_text,
                                                SGDISK_TYPES.get(type_text.upper(), type_text.upper()))
        else:
            type_id = {"L": "83", "S": "82", "V": "8e", "E": "5"}.get(type_text.upper(), type_text.lower())
        try:
            part = guest.add_partition(disk, start, end, type_id, number=number, name=fields.get("name", "")
                                       .strip('"'))
        except GuestError:
            return call.fail(f"sfdisk: {disk.partition_name(number)}: failed to add #{number} partition: "
                             "Numerical result out of range")
        size_name = fdisk_size(part.size_bytes)
        type_name = ("Linux filesystem" if kind == "gpt" else "Linux") if type_id in (LINUX_FS_GUID, "83") else type_id
        call.out(f"/dev/{disk.partition_name(number)}: Created a new partition {number} of type '{type_name}' "
                 f"and of size {size_name}.\n")
        next_start = end + 1
        number += 1
    call.out(f"/dev/{disk.partition_name(number)}: Done.\n\nNew situation:\n")
    block = fdisk_device_block(guest, disk)
    block = block[block.index("Disklabel type"):]
    call.out(block + "\nThe partition table has been altered.\nCalling ioctl() to re-read partition table.\n"
             "Syncing disks.\n")
    return 0


def sfdisk_dump(disk: Any) -> str:
    table_ = disk.table
    lines = [f"label: {table_.kind}", f"label-id: {table_.ptuuid.upper() if table_.kind == 'gpt' else table_.ptuuid}",
             f"device: /dev/{disk.name}", "unit: sectors"]
    if table_.kind == "gpt":
        lines += [f"first-lba: {table_.first_lba}", f"last-lba: {disk.last_usable}"]
    lines += ["sector-size: 512", ""]
    for part in sorted(table_.partitions, key=lambda p: p.number):
        name = f"/dev/{disk.partition_name(part.number)}"
        if table_.kind == "gpt":
            entry = f"{name} : start={part.start:>12}, size={part.sectors:>12}, type={part.type_id.upper()}, " \
                    f"uuid={part.partuuid.upper()}"
            if part.name:
                entry += f', name="{part.name}"'
        else:
            entry = f"{name} : start={part.start:>12}, size={part.sectors:>12}, type={part.type_id}"
        lines.append(entry)
    return "\n".join(lines) + "\n"


@program("partprobe", where="sbin")
async def p_partprobe(call: Call) -> int:
    operands = [a for a in call.args if not a.startswith("-")]
    for operand in operands:
        target = disk_operand(call, operand, "partprobe")
        if isinstance(target, int):
            return target
    if not operands and not call.root:
        return call.fail("Error: Error opening /dev/sda: Permission denied")
    return 0


@program("udevadm", where="bin")
async def p_udevadm(call: Call) -> int:
    args = call.args
    if not args:
        return call.fail("udevadm: missing or unknown command")
    verb = args[0]
    if verb in ("settle", "trigger", "control"):
        if verb in ("trigger", "control") and not call.root:
            return call.fail("Failed to scan devices: Permission denied" if verb == "trigger" else
                             "Failed to send reload request: Permission denied")
        return 0
    if verb == "info":
        name = next((args[k + 1] for k, a in enumerate(args) if a in ("-n", "--name") and k + 1 < len(args)), None)
        name = name or next((a.split("=", 1)[1] for a in args if a.startswith("--name=")), None)
        name = name or next((a for a in args[1:] if a.startswith("/dev/")), None)
        if name is None:
            return call.fail("udevadm: the simulated guest answers `udevadm info -q property -n DEVICE` only")
        target = call.guest.block_target(name if name.startswith("/") else "/dev/" + name, call.shell.cwd)
        if target is None:
            return call.fail(f"Unknown device \"{name}\": No such device")
        values = lsblk_values(call.guest, target)
        props = {"DEVNAME": target.path, "DEVTYPE": "partition" if target.partition else "disk",
                 "MAJOR": str(target.major_minor[0]), "MINOR": str(target.major_minor[1]), "SUBSYSTEM": "block",
                 "ID_VENDOR": "Msft", "ID_MODEL": "Virtual_Disk"}
        for key, column in (("ID_FS_TYPE", "FSTYPE"), ("ID_FS_UUID", "UUID"), ("ID_FS_LABEL", "LABEL"),
                            ("ID_PART_TABLE_TYPE", "PTTYPE"), ("ID_PART_ENTRY_UUID", "PARTUUID")):
            if values.get(column):
                props[key] = str(values[column])
        call.out("".join(f"{k}={v}\n" for k, v in props.items()))
        return 0
    return call.fail(f"udevadm: unknown command '{verb}'")


# ---------------------------------------------------------------- mkfs, wipefs, blockdev, dd


def ext4_layout(size_bytes: int) -> tuple[int, int, int, list[int]]:
    """(blocks, inodes, journal blocks, superblock backup blocks) of mke2fs's defaults."""
    from .guest import _ext4_journal_blocks

    blocks = size_bytes // 4096
    groups = -(-blocks // 32768)
    per_group = -(-(blocks * 4096 // 16384) // groups)
    per_group = -(-per_group // 16) * 16
    inodes = per_group * groups
    groups_with_backup = {1}  # sparse_super: groups 1 and the powers of 3, 5 and 7
    for base in (3, 5, 7):
        power = base
        while power < groups:
            groups_with_backup.add(power)
            power *= base
    backups = [group * 32768 for group in sorted(groups_with_backup) if group < groups]
    return blocks, inodes, _ext4_journal_blocks(blocks), backups


@program("mkfs", "mkfs.ext4", "mkfs.ext3", "mkfs.ext2", "mke2fs", "mkfs.xfs", "mkfs.vfat", "mkfs.fat", where="sbin")
async def p_mkfs(call: Call) -> int:
    import time as time_module

    guest = call.guest
    name = call.name
    args = list(call.args)
    fstype = {"mkfs.ext4": "ext4", "mkfs.ext3": "ext3", "mkfs.ext2": "ext2", "mke2fs": "ext2", "mkfs.xfs": "xfs",
              "mkfs.vfat": "vfat", "mkfs.fat": "vfat"}.get(name)
    force = 0
    quiet = False
    label = ""
    fs_uuid = None
    operands = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "-t" and name in ("mkfs", "mke2fs") and i + 1 < len(args):
            fstype = args[i + 1]
            i += 2
            continue
        if arg in ("-L", "-n") and i + 1 < len(args):
            label = args[i + 1]
            i += 2
            continue
        if arg == "-U" and i + 1 < len(args):
            fs_uuid = args[i + 1]
            i += 2
            continue
        if arg in ("-m", "-i", "-b", "-E", "-O", "-N", "-T", "-d", "-l", "-s", "-I", "-J", "-G", "-c", "-F") and \
                name == "mkfs.xfs" and arg in ("-m", "-i", "-b", "-d", "-l", "-s", "-n"):
            i += 2
            continue
        if arg in ("-m", "-i", "-b", "-E", "-O", "-N", "-T", "-I", "-J", "-G", "-e", "-g", "-M", "-r") and \
                name != "mkfs.xfs":
            i += 2
            continue
        if arg.startswith("-") and len(arg) > 1:
            for c in arg[1:]:
                if c in "Ff" and (c == "F" or name == "mkfs.xfs"):
                    force += 1
                elif c == "q":
                    quiet = True
                elif c in "KvV":
                    continue
            i += 1
            continue
        operands.append(arg)
        i += 1
    if fstype is None:
        fstype = "ext2"
    if fstype == "ext3":
        fstype = "ext4"
    tool = {"xfs": "mkfs.xfs", "vfat": "mkfs.fat"}.get(fstype, name if name != "mkfs" else "mkfs.ext4")
    if not operands:
        return call.fail(f"Usage: {tool} [-c|-l filename] [-b block-size] [-C cluster-size]\n\t[-i bytes-per-inode] "
                         "[-I inode-size] [-J journal-options]\n\t[-G flex-group-size] [-N number-of-inodes] [-d "
                         "root-directory]\n\t[-m reserved-blocks-percentage] [-o creator-os]\n\t[-g blocks-per-group] "
                         "[-L volume-label] [-M last-mounted-directory]\n\t[-O feature[,...]] [-r fs-revision] [-E "
                         "extended-option[,...]]\n\t[-t fs-type] [-T usage-type ] [-U UUID] [-e errors_behavior][-z "
                         "undo_file]\n\t[-jnqvDFSV] device [blocks-count]", 1)
    device = operands[0]
    target = guest.block_target(device, call.shell.cwd)
    if fstype == "xfs":
        return await mkfs_xfs(call, target, device, force=force > 0, quiet=quiet, label=label, fs_uuid=fs_uuid)
    if fstype == "vfat":
        if target is None or not call.root:
            return call.fail(f"mkfs.fat: unable to open {device}: {'No such file or directory' if target is None else 'Permission denied'}")
        guest.make_filesystem(target, "vfat", label=label.upper())
        call.out("mkfs.fat 4.2 (2021-01-31)\n")
        return 0
    banner = "mke2fs 1.46.5 (30-Dec-2021)\n"
    if target is None:
        if not quiet:
            call.out(banner)
        return call.fail(f"The file {device} does not exist and no size was specified.", 1)
    if not call.root:
        if not quiet:
            call.out(banner)
        return call.fail(f"{tool}: Permission denied while trying to determine filesystem size", 1)
    if guest.in_use(target):
        if not quiet:
            call.out(banner)
        return call.fail(f"{target.path} is mounted; will not make a filesystem here!", 1)
    existing = target.filesystem
    if force == 0 and (existing is not None or (target.partition is None and target.disk.table is not None)):
        if call.io.stdin.is_terminal:
            if not quiet:
                call.out(banner)
            if existing is not None:
                stamp = time_module.strftime("%a %b %e %H:%M:%S %Y", time_module.gmtime(existing.created))
                call.out(f"{target.path} contains a {existing.fstype} file system"
                         + (f" labelled '{existing.label}'" if existing.label else "") + f"\n\tcreated on {stamp}\n")
            else:
                call.out(f"Found a {target.disk.table.kind} partition table in {target.path}\n")
            call.out("Proceed anyway? (y,N) ")
            answer = await call.io.stdin.readline()
            if not answer.strip().lower().startswith("y"):
                return 1
            banner = ""
        # without a terminal mke2fs does not ask: it goes ahead, as the real one does
    blocks, inodes, journal, backups = ext4_layout(target.size_bytes)
    fs = guest.make_filesystem(target, "ext4", label=label, fs_uuid=fs_uuid)
    if quiet:
        return 0
    lines = [banner.rstrip("\n")] if banner else []
    lines += ["Discarding device blocks: done                            ",
              f"Creating filesystem with {blocks} 4k blocks and {inodes} inodes", f"Filesystem UUID: {fs.uuid}"]
    if backups:
        text = "Superblock backups stored on blocks: "
        column = 0
        for index, block in enumerate(backups):
            if index:
                text += ", "
            need = len(str(block)) + 2
            if need > column:
                text += "\n\t"
                column = 72
            column -= need
            text += str(block)
        lines.append(text)
        lines.append("")
    lines += ["Allocating group tables: done                            ",
              "Writing inode tables: done                            ",
              f"Creating journal ({journal} blocks): done",
              "Writing superblocks and filesystem accounting information: done", ""]
    call.out("\n".join(lines) + "\n")
    return 0


MKFS_XFS_USAGE = 'Usage: mkfs.xfs\n/* blocksize */\t\t[-b size=num]\n/* config file */\t[-c options=xxx]\n/* metadata */\t\t[-m crc=0|1,finobt=0|1,uuid=xxx,rmapbt=0|1,reflink=0|1,\n\t\t\t    inobtcount=0|1,bigtime=0|1]\n/* data subvol */\t[-d agcount=n,agsize=n,file,name=xxx,size=num,\n\t\t\t    (sunit=value,swidth=value|su=num,sw=num|noalign),\n\t\t\t    sectsize=num\n/* force overwrite */\t[-f]\n/* inode size */\t[-i perblock=n|size=num,maxpct=n,attr=0|1|2,\n\t\t\t    projid32bit=0|1,sparse=0|1,nrext64=0|1]\n/* no discard */\t[-K]\n/* log subvol */\t[-l agnum=n,internal,size=num,logdev=xxx,version=n\n\t\t\t    sunit=value|su=num,sectsize=num,lazy-count=0|1]\n/* label */\t\t[-L label (maximum 12 characters)]\n/* naming */\t\t[-n size=num,version=2|ci,ftype=0|1]\n/* no-op info only */\t[-N]\n/* prototype file */\t[-p fname]\n/* quiet */\t\t[-q]\n/* realtime subvol */\t[-r extsize=num,size=num,rtdev=xxx]\n/* sectorsize */\t[-s size=num]\n/* version */\t\t[-V]\n\t\t\tdevicename\n<devicename> is required unless -d name=xxx is given.\n<num> is xxx (bytes), xxxs (sectors), xxxb (fs blocks), xxxk (xxx KiB),\n      xxxm (xxx MiB), xxxg (xxx GiB), xxxt (xxx TiB) or xxxp (xxx PiB).\n<value> is xxx (512 byte blocks).'


async def mkfs_xfs(call: Call, target: Any, device: str, *, force: bool, quiet: bool, label: str,
                   fs_uuid: str | None) -> int:
    guest = call.guest
    if target is None:
        return call.fail(f"Error accessing specified device {device}: No such file or directory\n{MKFS_XFS_USAGE}", 1)
    if not call.root:
        return call.fail(f"mkfs.xfs: cannot open {device}: Permission denied", 1)
    if guest.in_use(target):
        return call.fail(f"mkfs.xfs: {target.path} contains a mounted filesystem\n{MKFS_XFS_USAGE}", 1)
    if not force:
        existing = target.filesystem
        if existing is not None:
            return call.fail(f"mkfs.xfs: {target.path} appears to contain an existing filesystem ({existing.fstype}).\n"
                             "mkfs.xfs: Use the -f option to force overwrite.", 1)
        if target.partition is None and target.disk.table is not None:
            return call.fail(f"mkfs.xfs: {target.path} appears to contain a partition table "
                             f"({target.disk.table.kind}).\nmkfs.xfs: Use the -f option to force overwrite.", 1)
    if len(label) > 12:
        return call.fail(f"mkfs.xfs: label ({label}) is too long, maximum is 12 characters\n{MKFS_XFS_USAGE}", 1)
    guest.make_filesystem(target, "xfs", label=label, fs_uuid=fs_uuid)
    if quiet:
        return 0
    blocks = target.size_bytes // 4096
    agcount = 4 if target.size_bytes < 4 * 1024 ** 4 else -(-target.size_bytes // 1024 ** 4)
    agsize = -(-blocks // agcount)
    log_blocks = max(64 * 1024 * 1024, target.size_bytes // 2048) // 4096
    call.out(f"meta-data={target.path:<22}isize=512    agcount={agcount}, agsize={agsize} blks\n"
             "         =                       sectsz=4096  attr=2, projid32bit=1\n"
             "         =                       crc=1        finobt=1, sparse=1, rmapbt=0\n"
             "         =                       reflink=1    bigtime=0 inobtcount=0\n"
             f"data     =                       bsize=4096   blocks={blocks}, imaxpct=25\n"
             "         =                       sunit=0      swidth=0 blks\n"
             "naming   =version 2              bsize=4096   ascii-ci=0, ftype=1\n"
             f"log      =internal log           bsize=4096   blocks={log_blocks}, version=2\n"
             "         =                       sectsz=4096  sunit=1 blks, lazy-count=1\n"
             "realtime =none                   extsz=4096   blocks=0, rtextents=0\n"
             "Discarding blocks...Done.\n")
    return 0


def wipefs_signatures(target: Any) -> list[tuple[str, str, str, str]]:
    """(offset, type, uuid, label) of the signatures on a device, as wipefs lists them."""
    disk, fs = target.disk, target.filesystem
    signatures = []
    if fs is not None:
        offset = {"ext4": "0x438", "xfs": "0x0", "vfat": "0x52", "squashfs": "0x0"}.get(fs.fstype, "0x0")
        signatures.append((offset, fs.fstype, fs.uuid, fs.label))
    if target.partition is None and disk.table is not None:
        if disk.table.kind == "gpt":
            signatures.append(("0x200", "gpt", "", ""))
            signatures.append((hex(disk.size_bytes - 512), "gpt", "", ""))
            signatures.append(("0x1fe", "PMBR", "", ""))
        else:
            signatures.append(("0x1fe", "dos", "", ""))
    return signatures


@program("wipefs", where="sbin")
async def p_wipefs(call: Call) -> int:
    options = parse_options(call, "anfqJt:O:ibp", ["all", "no-act", "force", "quiet", "json", "types=", "output=",
                                                     "noheadings", "parsable", "backup"])
    if isinstance(options, int):
        return options
    opts, operands = options
    flags = flag_set(opts)
    guest = call.guest
    if not operands:
        return call.fail("wipefs: no device specified\nTry 'wipefs --help' for more information.")
    status = 0
    for operand in operands:
        target = guest.block_target(operand, call.shell.cwd)
        if target is None:
            call.err(f"wipefs: error: {operand}: probing initialization failed: No such file or directory\n")
            status = 1
            continue
        if not call.root:
            call.err(f"wipefs: error: {operand}: probing initialization failed: Permission denied\n")
            status = 1
            continue
        signatures = wipefs_signatures(target)
        if flags & {"-a", "--all"}:
            if guest.in_use(target) and not flags & {"-f", "--force"}:
                call.err(f"wipefs: error: {operand}: probing initialization failed: Device or resource busy\n")
                status = 1
                continue
            if not flags & {"-n", "--no-act"}:
                guest.wipe(target)
            for offset, kind, _uuid, _label in signatures:
                size = {"ext4": 2, "xfs": 4, "vfat": 8, "gpt": 8, "PMBR": 2, "dos": 2}.get(kind, 8)
                magic = {"ext4": "53 ef", "xfs": "58 46 53 42", "gpt": "45 46 49 20 50 41 52 54", "PMBR": "55 aa",
                         "dos": "55 aa", "vfat": "46 41 54 33 32 20 20 20"}.get(kind, "")
                call.out(f"{target.path}: {size} bytes were erased at offset 0x{int(offset, 16):08x} ({kind}): "
                         f"{magic}\n")
            if signatures and target.partition is None:
                call.out(f"{target.path}: calling ioctl to re-read partition table: Success\n")
            continue
        if not signatures:
            continue
        if flags & {"-p", "--parsable"}:
            call.out("".join(f"{o},{u},{lab},{k}\n" for o, k, u, lab in signatures))
            continue
        rows = [[target.name, o, k, u, lab] for o, k, u, lab in signatures]
        call.out(table(["DEVICE", "OFFSET", "TYPE", "UUID", "LABEL"], rows, set(), pad_last=False,
                       heading="--noheadings" not in flags))
    return status


@program("blockdev", where="sbin")
async def p_blockdev(call: Call) -> int:
    args = call.args
    commands = [a for a in args if a.startswith("--")]
    operands = [a for a in args if not a.startswith("--")]
    if not commands or not operands:
        return call.fail("Usage:\n blockdev -V\n blockdev --report [devices]\n blockdev [-v|-q] commands devices")
    guest = call.guest
    status = 0
    for operand in operands:
        target = guest.block_target(operand, call.shell.cwd)
        if target is None:
            call.err(f"blockdev: cannot open {operand}: No such file or directory\n")
            status = 1
            continue
        if not call.root:
            call.err(f"blockdev: cannot open {operand}: Permission denied\n")
            status = 1
            continue
        physical = 512 if target.disk.role == "loop" else 4096
        for command in commands:
            answers = {"--getsize64": str(target.size_bytes), "--getsz": str(target.size_bytes // 512),
                       "--getsize": str(target.size_bytes // 512), "--getss": "512", "--getpbsz": str(physical),
                       "--getbsz": "4096", "--getro": "1" if target.disk.read_only else "0", "--getiomin": str(physical),
                       "--getioopt": "0", "--getra": "256", "--getalignoff": "0"}
            if command in ("--rereadpt", "--flushbufs", "--setrw", "--setro"):
                if command == "--rereadpt" and busy_partitions(guest, target.disk):
                    call.err("blockdev: ioctl error on BLKRRPART: Device or resource busy\n")
                    status = 1
                continue
            if command == "--report":
                call.out("RO    RA   SSZ   BSZ   StartSec            Size   Device\n"
                         f"rw   256   512  4096 {target.partition.start if target.partition else 0:>10} "
                         f"{target.size_bytes:>15}   {target.path}\n")
                continue
            if command not in answers:
                return call.fail(f"blockdev: Unknown command: {command}")
            call.out(answers[command] + "\n")
    return status


@program("dd")
async def p_dd(call: Call) -> int:
    settings = dict(a.split("=", 1) for a in call.args if "=" in a)
    source, destination = settings.get("if"), settings.get("of")
    guest = call.guest
    if destination is None:
        return call.fail("dd: the simulated guest's dd writes to a device or file only (give of=)")
    target = guest.block_target(destination, call.shell.cwd)
    count = int(settings.get("count", "1") or 1)
    block = parse_size(settings.get("bs", "512").upper()) or 512
    total = count * block
    if target is not None:
        if not call.root:
            return call.fail(f"dd: failed to open '{destination}': Permission denied")
        if source in ("/dev/zero", "/dev/urandom", "/dev/random") and total >= 1024 and (
                target.partition is not None or target.disk.table is not None or target.filesystem is not None):
            guest.wipe(target)  # the start of the device overwritten: label and superblock gone
    else:
        try:
            guest.write_file(destination, "", cwd=call.shell.cwd, who=call.creds)
        except PathError as exc:
            return call.fail(f"dd: failed to open '{destination}': {exc.reason}")
    mb = total / 1e6
    call.err(f"{count}+0 records in\n{count}+0 records out\n{total} bytes ({mb:.1f} MB, {total / 1048576:.1f} MiB) "
             f"copied, 0.00412 s, {total / 0.00412 / 1e6:.0f} MB/s\n")
    return 0


@program("partx")
async def p_partx(call: Call) -> int:
    operands = [a for a in call.args if not a.startswith("-")]
    if not operands:
        return call.fail("partx: no disk device specified\nTry 'partx --help' for more information.")
    target = disk_operand(call, operands[-1], "partx")
    if isinstance(target, int):
        return target
    if "-a" in call.args or "--add" in call.args or "-u" in call.args:
        if target.disk.table is not None and target.disk.table.partitions:
            return call.fail(f"partx: {operands[-1]}: error adding partitions 1-{len(target.disk.table.partitions)}")
        return 0
    return 0


@program("reboot", "poweroff", "shutdown", "halt", where="sbin")
async def p_reboot(call: Call) -> int:
    verb = call.name
    if verb == "shutdown":
        verb = "reboot" if "-r" in call.args else "poweroff"
        if "-c" in call.args:
            return 0
    if not call.root:
        return call.fail(f"Failed to set wall message, ignoring: Interactive authentication required.\n"
                         f"Failed to {'reboot' if verb == 'reboot' else 'power off'} system via logind: Interactive "
                         "authentication required.\nFailed to open initctl fifo: Permission denied\n"
                         "Failed to talk to init daemon.")
    if not call.guest.request_power(verb):
        return call.fail(f"{verb}: this simulated guest cannot be powered off from inside; stop the instance "
                         "through Azure instead")
    if call.shell.session is not None:
        call.shell.session.disconnect_after_command = True
    raise ExitShell(0)


# ---------------------------------------------------------------- awk (the common subset)


class AwkError(Exception):
    pass


class AwkNext(Exception):
    pass


class AwkExit(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


AWK_TOKEN = re.compile(r"""
    (?P<space>[ \t]+|\\\n)
  | (?P<newline>\n|;)
  | (?P<number>\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)
  | (?P<string>"(?:\\.|[^"\\])*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\+\+|--|\+=|-=|\*=|/=|%=|\^=|==|!=|<=|>=|&&|\|\||!~|[-+*/%^<>!~?:=(){}\[\],$|])
""", re.X)
AWK_KEYWORDS = {"BEGIN", "END", "if", "else", "for", "in", "while", "do", "next", "exit", "print", "printf",
                "getline", "delete", "return", "function", "break", "continue"}


def awk_tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos] == "#":
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end
            continue
        if text[pos] == "/" and _awk_regex_allowed(tokens):
            end = pos + 1
            while end < len(text) and text[end] != "/":
                end += 2 if text[end] == "\\" else 1
            tokens.append(("regex", text[pos + 1:end]))
            pos = end + 1
            continue
        m = AWK_TOKEN.match(text, pos)
        if m is None:
            raise AwkError(f"syntax error at source line 1: unexpected character '{text[pos]}'")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind == "space":
            continue
        value = m.group(0)
        if kind == "newline":
            value = ";"
        if kind == "name" and value in AWK_KEYWORDS:
            kind = "keyword"
        tokens.append((kind, value))
    tokens.append(("eof", ""))
    return tokens


def _awk_regex_allowed(tokens: list[tuple[str, str]]) -> bool:
    if not tokens:
        return True
    kind, value = tokens[-1]
    return kind in ("newline", "keyword") or (kind == "op" and value not in (")", "]", "$", "++", "--"))


class AwkParser:
    def __init__(self, text: str) -> None:
        self.tokens = awk_tokens(text)
        self.pos = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def accept(self, value: str) -> bool:
        if self.peek()[1] == value and self.peek()[0] != "string":
            self.pos += 1
            return True
        return False

    def expect(self, value: str) -> None:
        if not self.accept(value):
            raise AwkError(f"syntax error at source line 1: expected '{value}' near '{self.peek()[1]}'")

    def skip_terminators(self) -> None:
        while self.peek()[0] == "newline":
            self.pos += 1

    def program(self) -> list[tuple[Any, Any]]:
        items = []
        self.skip_terminators()
        while self.peek()[0] != "eof":
            if self.accept("BEGIN"):
                items.append(("BEGIN", self.block()))
            elif self.accept("END"):
                items.append(("END", self.block()))
            elif self.peek()[1] == "{":
                items.append((None, self.block()))
            else:
                pattern = self.expression()
                items.append((pattern, self.block() if self.peek()[1] == "{" else None))
            self.skip_terminators()
        return items

    def block(self) -> list[Any]:
        self.expect("{")
        statements = []
        while True:
            self.skip_terminators()
            if self.accept("}"):
                return statements
            statements.append(self.statement())

    def simple_or_block(self) -> list[Any]:
        self.skip_terminators()
        if self.peek()[1] == "{":
            return self.block()
        return [self.statement()]

    def statement(self) -> Any:
        kind, value = self.peek()
        if value == "{" and kind == "op":
            return ("block", self.block())
        if kind == "keyword":
            if value in ("print", "printf"):
                self.take()
                args = []
                if self.peek()[1] not in (";", "}", ">", ">>", "|") and self.peek()[0] not in ("newline", "eof"):
                    args = self.expression_list()
                destination = None
                if self.peek()[1] in (">", ">>"):
                    mode = self.take()[1]
                    destination = (mode, self.primary())
                return (value, args, destination)
            if value == "if":
                self.take()
                self.expect("(")
                condition = self.expression()
                self.expect(")")
                then = self.simple_or_block()
                save = self.pos
                self.skip_terminators()
                otherwise = None
                if self.accept("else"):
                    otherwise = self.simple_or_block()
                else:
                    self.pos = save
                return ("if", condition, then, otherwise)
            if value == "while":
                self.take()
                self.expect("(")
                condition = self.expression()
                self.expect(")")
                return ("while", condition, self.simple_or_block())
            if value == "for":
                self.take()
                self.expect("(")
                if self.peek()[0] == "name" and self.peek(1)[1] == "in":
                    name = self.take()[1]
                    self.take()
                    array = self.take()[1]
                    self.expect(")")
                    return ("forin", name, array, self.simple_or_block())
                init = None if self.peek()[1] == ";" else self.expression()
                self.expect(";")
                condition = None if self.peek()[1] == ";" else self.expression()
                self.expect(";")
                step = None if self.peek()[1] == ")" else self.expression()
                self.expect(")")
                return ("for", init, condition, step, self.simple_or_block())
            if value in ("next", "break", "continue"):
                self.take()
                return (value,)
            if value == "exit":
                self.take()
                code = None if self.peek()[1] in (";", "}") or self.peek()[0] == "newline" else self.expression()
                return ("exit", code)
            if value == "delete":
                self.take()
                return ("delete", self.primary())
        return ("expr", self.expression())

    def expression_list(self) -> list[Any]:
        grouped = self.peek()[1] == "("
        items = [self.expression(no_gt=True)]
        while self.accept(","):
            items.append(self.expression(no_gt=True))
        if grouped and len(items) == 1 and isinstance(items[0], tuple) and items[0][0] == "group":
            return items[0][1]
        return items

    def expression(self, no_gt: bool = False) -> Any:
        return self.ternary(no_gt)

    def ternary(self, no_gt: bool) -> Any:
        condition = self.logical_or(no_gt)
        if self.accept("?"):
            yes = self.ternary(no_gt)
            self.expect(":")
            return ("?:", condition, yes, self.ternary(no_gt))
        if self.peek()[1] in ("=", "+=", "-=", "*=", "/=", "%=", "^=") and condition[0] in ("var", "field", "index"):
            op = self.take()[1]
            return ("assign", op, condition, self.ternary(no_gt))
        return condition

    def logical_or(self, no_gt: bool) -> Any:
        left = self.logical_and(no_gt)
        while self.accept("||"):
            left = ("||", left, self.logical_and(no_gt))
        return left

    def logical_and(self, no_gt: bool) -> Any:
        left = self.membership(no_gt)
        while self.accept("&&"):
            left = ("&&", left, self.membership(no_gt))
        return left

    def membership(self, no_gt: bool) -> Any:
        left = self.matching(no_gt)
        while self.peek()[1] == "in" and self.peek()[0] == "keyword":
            self.take()
            left = ("in", left, self.take()[1])
        return left

    def matching(self, no_gt: bool) -> Any:
        left = self.comparison(no_gt)
        while self.peek()[1] in ("~", "!~"):
            op = self.take()[1]
            left = (op, left, self.comparison(no_gt))
        return left

    def comparison(self, no_gt: bool) -> Any:
        left = self.concatenation()
        ops = ("<", "<=", "!=", "==", ">=") if no_gt else ("<", "<=", "!=", "==", ">", ">=")
        if self.peek()[1] in ops and self.peek()[0] == "op":
            op = self.take()[1]
            return ("cmp", op, left, self.concatenation())
        return left

    def concatenation(self) -> Any:
        left = self.additive()
        while True:
            kind, value = self.peek()
            starts = kind in ("number", "string", "name", "regex") or (kind == "op" and value in ("$", "(", "!", "-",
                                                                                                 "+", "++", "--")) \
                or (kind == "keyword" and value == "getline")
            if not starts or (kind == "op" and value in ("-", "+")):
                return left
            if kind == "keyword":
                return left
            left = ("concat", left, self.additive())

    def additive(self) -> Any:
        left = self.multiplicative()
        while self.peek()[1] in ("+", "-") and self.peek()[0] == "op":
            op = self.take()[1]
            left = ("arith", op, left, self.multiplicative())
        return left

    def multiplicative(self) -> Any:
        left = self.unary()
        while self.peek()[1] in ("*", "/", "%") and self.peek()[0] == "op":
            op = self.take()[1]
            left = ("arith", op, left, self.unary())
        return left

    def unary(self) -> Any:
        if self.peek()[0] == "op" and self.peek()[1] in ("!", "-", "+"):
            op = self.take()[1]
            return ("unary", op, self.unary())
        return self.power()

    def power(self) -> Any:
        base = self.postfix()
        if self.accept("^"):
            return ("arith", "^", base, self.unary())
        return base

    def postfix(self) -> Any:
        if self.peek()[1] in ("++", "--") and self.peek()[0] == "op":
            op = self.take()[1]
            return ("preinc", op, self.postfix())
        node = self.primary()
        if self.peek()[1] in ("++", "--") and self.peek()[0] == "op" and node[0] in ("var", "field", "index"):
            return ("postinc", self.take()[1], node)
        return node

    def primary(self) -> Any:
        kind, value = self.take()
        if kind == "number":
            return ("num", float(value))
        if kind == "string":
            text, _ = echo_escapes(value[1:-1].replace('\\"', '"').replace("\\/", "/"))
            return ("str", text)
        if kind == "regex":
            return ("regex", value)
        if kind == "op" and value == "$":
            return ("field", self.primary() if self.peek()[1] != "(" else self.primary())
        if kind == "op" and value == "(":
            items = [self.expression()]
            while self.accept(","):
                items.append(self.expression())
            self.expect(")")
            return items[0] if len(items) == 1 else ("group", items)
        if kind == "name":
            if self.peek()[1] == "(" and self.peek()[0] == "op":
                self.take()
                args = []
                if not self.accept(")"):
                    args = [self.expression()]
                    while self.accept(","):
                        args.append(self.expression())
                    self.expect(")")
                return ("call", value, args)
            if self.accept("["):
                key = self.expression()
                while self.accept(","):
                    key = ("concat", ("concat", key, ("var", "SUBSEP")), self.expression())
                self.expect("]")
                return ("index", value, key)
            if value in ("length",) :
                return ("call", value, [])
            return ("var", value)
        raise AwkError(f"syntax error at source line 1: unexpected '{value or 'end of program'}'")


def awk_number(value: Any) -> float:
    if isinstance(value, float | int):
        return float(value)
    m = re.match(r"\s*[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+)", str(value))
    return float(m.group(0)) if m else 0.0


def awk_string(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value == int(value) and abs(value) < 1e16 else f"{value:.6g}"
    return str(value)


def awk_looks_numeric(value: Any) -> bool:
    return isinstance(value, float) or bool(re.fullmatch(r"\s*[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+)\s*", str(value)))


class AwkMachine:
    def __init__(self, call: Call, program: list[tuple[Any, Any]], variables: dict[str, Any]) -> None:
        self.call = call
        self.program = program
        self.vars: dict[str, Any] = {"FS": " ", "OFS": " ", "ORS": "\n", "NR": 0.0, "NF": 0.0, "SUBSEP": "\x1c",
                                     "RSTART": 0.0, "RLENGTH": -1.0, "FILENAME": ""}
        self.vars.update(variables)
        self.arrays: dict[str, dict[str, Any]] = {}
        self.fields: list[str] = [""]
        self.output: list[str] = []
        self.files: dict[str, list[str]] = {}

    def set_record(self, line: str) -> None:
        fs = awk_string(self.vars["FS"])
        if fs == " ":
            parts = line.split()
        elif len(fs) == 1 and fs != "\\":
            parts = line.split(fs) if line else []
        else:
            parts = re.split(posix_regex(fs, extended=True), line) if line else []
        self.fields = [line, *parts]
        self.vars["NF"] = float(len(parts))

    def get_field(self, index: int) -> str:
        if index < 0:
            raise AwkError(f"trying to access out of range field {index}")
        return self.fields[index] if index < len(self.fields) else ""

    def set_field(self, index: int, value: str) -> None:
        if index == 0:
            self.set_record(value)
            return
        while len(self.fields) <= index:
            self.fields.append("")
        self.fields[index] = value
        self.vars["NF"] = float(len(self.fields) - 1)
        self.fields[0] = awk_string(self.vars["OFS"]).join(self.fields[1:])

    def regex(self, node: Any) -> re.Pattern[str]:
        text = node[1] if node[0] == "regex" else awk_string(self.eval(node))
        return re.compile(posix_regex(text, extended=True))

    def run(self, inputs: list[str]) -> int:
        try:
            for pattern, action in self.program:
                if pattern == "BEGIN":
                    self.execute(action)
            if any(p not in ("BEGIN",) for p, _ in self.program):
                for text in inputs:
                    for line in text.splitlines():
                        self.vars["NR"] = awk_number(self.vars["NR"]) + 1
                        self.set_record(line)
                        try:
                            for pattern, action in self.program:
                                if pattern in ("BEGIN", "END"):
                                    continue
                                if pattern is None or self.truth(self.eval(pattern) if pattern[0] != "regex" else
                                                                 bool(self.regex(pattern).search(self.fields[0]))):
                                    if action is None:
                                        self.emit(self.fields[0] + awk_string(self.vars["ORS"]), None)
                                    else:
                                        self.execute(action)
                        except AwkNext:
                            continue
            for pattern, action in self.program:
                if pattern == "END":
                    self.execute(action)
            return 0
        except AwkExit as done:
            try:
                for pattern, action in self.program:
                    if pattern == "END" and done.status is None:
                        self.execute(action)
            except AwkExit:
                pass
            return done.status or 0

    def emit(self, text: str, destination: Any) -> None:
        if destination is None:
            self.call.out(text)
            return
        mode, target = destination
        path = awk_string(self.eval(target))
        append = mode == ">>" or path in self.files
        self.files.setdefault(path, [])
        self.call.guest.write_file(path, text, append=append, cwd=self.call.shell.cwd, who=self.call.creds)

    @staticmethod
    def truth(value: Any) -> bool:
        if isinstance(value, float):
            return value != 0
        if isinstance(value, bool):
            return value
        return value != ""

    def execute(self, statements: list[Any]) -> None:
        for statement in statements:
            self.statement(statement)

    def statement(self, node: Any) -> None:
        kind = node[0]
        if kind == "expr":
            self.eval(node[1])
        elif kind == "block":
            self.execute(node[1])
        elif kind == "print":
            values = [awk_string(self.eval(a)) for a in node[1]] if node[1] else [self.fields[0]]
            self.emit(awk_string(self.vars["OFS"]).join(values) + awk_string(self.vars["ORS"]), node[2])
        elif kind == "printf":
            if not node[1]:
                raise AwkError("printf: no format")
            fmt = awk_string(self.eval(node[1][0]))
            args = [self.eval(a) for a in node[1][1:]]
            self.emit(self.sprintf(fmt, args), node[2])
        elif kind == "if":
            if self.truth(self.eval(node[1])):
                self.execute(node[2])
            elif node[3] is not None:
                self.execute(node[3])
        elif kind == "while":
            rounds = 0
            while self.truth(self.eval(node[1])):
                rounds += 1
                if rounds > MAX_ROUNDS:
                    raise AwkError(f"loop stopped after {MAX_ROUNDS} rounds (the simulated guest's limit)")
                try:
                    self.execute(node[2])
                except LoopControl as control:
                    if control.kind == "break":
                        break
        elif kind == "for":
            if node[1] is not None:
                self.eval(node[1])
            rounds = 0
            while node[2] is None or self.truth(self.eval(node[2])):
                rounds += 1
                if rounds > MAX_ROUNDS:
                    raise AwkError(f"loop stopped after {MAX_ROUNDS} rounds (the simulated guest's limit)")
                try:
                    self.execute(node[4])
                except LoopControl as control:
                    if control.kind == "break":
                        break
                if node[3] is not None:
                    self.eval(node[3])
        elif kind == "forin":
            for key in list(self.arrays.get(node[2], {})):
                self.vars[node[1]] = key
                try:
                    self.execute(node[3])
                except LoopControl as control:
                    if control.kind == "break":
                        break
        elif kind == "next":
            raise AwkNext()
        elif kind in ("break", "continue"):
            raise LoopControl(kind, 1)
        elif kind == "exit":
            raise AwkExit(int(awk_number(self.eval(node[1]))) if node[1] is not None else 0)
        elif kind == "delete":
            target = node[1]
            if target[0] == "index":
                self.arrays.get(target[1], {}).pop(awk_string(self.eval(target[2])), None)
            elif target[0] == "var":
                self.arrays.pop(target[1], None)

    def sprintf(self, fmt: str, args: list[Any]) -> str:
        out = []
        index = 0
        pos = 0
        for m in re.finditer(r"%([-+ #0]*)(\d+|\*)?(?:\.(\d+))?([diouxXeEfgGcs%])", fmt):
            out.append(fmt[pos:m.start()])
            pos = m.end()
            flags, width, precision, conv = m.groups()
            if conv == "%":
                out.append("%")
                continue
            if width == "*":
                width = str(int(awk_number(args[index]))) if index < len(args) else ""
                index += 1
            value = args[index] if index < len(args) else ""
            index += 1
            spec = "%" + flags + (width or "") + ("." + precision if precision is not None else "")
            if conv in "diouxX":
                out.append((spec + ("d" if conv in "iu" else conv)) % int(awk_number(value)))
            elif conv in "eEfgG":
                out.append((spec + conv) % awk_number(value))
            elif conv == "c":
                text = chr(int(value)) if isinstance(value, float) else awk_string(value)[:1]
                out.append((spec + "s") % text)
            else:
                out.append((spec + "s") % awk_string(value))
        out.append(fmt[pos:])
        return "".join(out)

    def lvalue_get(self, node: Any) -> Any:
        if node[0] == "var":
            return self.vars.get(node[1], "")
        if node[0] == "field":
            return self.get_field(int(awk_number(self.eval(node[1]))))
        return self.arrays.setdefault(node[1], {}).get(awk_string(self.eval(node[2])), "")

    def lvalue_set(self, node: Any, value: Any) -> None:
        if node[0] == "var":
            self.vars[node[1]] = value
        elif node[0] == "field":
            self.set_field(int(awk_number(self.eval(node[1]))), awk_string(value))
        else:
            self.arrays.setdefault(node[1], {})[awk_string(self.eval(node[2]))] = value

    def eval(self, node: Any) -> Any:
        kind = node[0]
        if kind == "num":
            return node[1]
        if kind == "str":
            return node[1]
        if kind == "regex":
            return float(bool(self.regex(node).search(self.fields[0])))
        if kind == "var":
            return self.vars.get(node[1], "")
        if kind == "field":
            return self.get_field(int(awk_number(self.eval(node[1]))))
        if kind == "index":
            return self.arrays.setdefault(node[1], {}).get(awk_string(self.eval(node[2])), "")
        if kind == "group":
            return awk_string(self.vars["SUBSEP"]).join(awk_string(self.eval(n)) for n in node[1])
        if kind == "concat":
            return awk_string(self.eval(node[1])) + awk_string(self.eval(node[2]))
        if kind == "arith":
            a, b = awk_number(self.eval(node[2])), awk_number(self.eval(node[3]))
            op = node[1]
            if op in ("/", "%") and b == 0:
                raise AwkError("division by zero" + (" in %" if op == "%" else ""))
            return {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else 0.0, "%": float(int(a) % int(b))
                    if b and a == int(a) and b == int(b) else (a % b if b else 0.0), "^": a ** b}[op]
        if kind == "unary":
            value = self.eval(node[2])
            if node[1] == "!":
                return float(not self.truth(value))
            return -awk_number(value) if node[1] == "-" else awk_number(value)
        if kind == "cmp":
            a, b = self.eval(node[2]), self.eval(node[3])
            if awk_looks_numeric(a) and awk_looks_numeric(b):
                x: Any = awk_number(a)
                y: Any = awk_number(b)
            else:
                x, y = awk_string(a), awk_string(b)
            return float({"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y, "==": x == y, "!=": x != y}[node[1]])
        if kind in ("~", "!~"):
            matched = bool(self.regex(node[2]).search(awk_string(self.eval(node[1]))))
            return float(matched if kind == "~" else not matched)
        if kind == "&&":
            return float(self.truth(self.eval(node[1])) and self.truth(self.eval(node[2])))
        if kind == "||":
            return float(self.truth(self.eval(node[1])) or self.truth(self.eval(node[2])))
        if kind == "in":
            return float(awk_string(self.eval(node[1])) in self.arrays.get(node[2], {}))
        if kind == "?:":
            return self.eval(node[2]) if self.truth(self.eval(node[1])) else self.eval(node[3])
        if kind == "assign":
            op, target, value_node = node[1], node[2], node[3]
            value = self.eval(value_node)
            if op != "=":
                value = self.eval(("arith", op[0], ("num", awk_number(self.lvalue_get(target))),
                                   ("num", awk_number(value))))
            self.lvalue_set(target, value)
            return value
        if kind in ("preinc", "postinc"):
            old = awk_number(self.lvalue_get(node[2]))
            new = old + (1 if node[1] == "++" else -1)
            self.lvalue_set(node[2], new)
            return new if kind == "preinc" else old
        if kind == "call":
            return self.function(node[1], node[2])
        raise AwkError(f"cannot evaluate {kind}")

    def function(self, name: str, args: list[Any]) -> Any:
        values = lambda: [self.eval(a) for a in args]  # noqa: E731 (evaluated only where needed)
        if name == "length":
            if args and args[0][0] == "var" and args[0][1] in self.arrays:
                return float(len(self.arrays[args[0][1]]))
            return float(len(awk_string(self.eval(args[0])) if args else self.fields[0]))
        if name == "substr":
            v = values()
            text = awk_string(v[0])
            start = int(round(awk_number(v[1]))) if len(v) > 1 else 1
            length = int(round(awk_number(v[2]))) if len(v) > 2 else len(text)
            begin = max(start, 1)
            end = start + length
            return text[begin - 1:max(begin - 1, end - 1)]
        if name == "index":
            v = values()
            return float(awk_string(v[0]).find(awk_string(v[1])) + 1)
        if name in ("tolower", "toupper"):
            text = awk_string(self.eval(args[0]))
            return text.lower() if name == "tolower" else text.upper()
        if name == "int":
            return float(int(awk_number(self.eval(args[0]))))
        if name == "sprintf":
            v = values()
            return self.sprintf(awk_string(v[0]), v[1:])
        if name == "split":
            text = awk_string(self.eval(args[0]))
            target = args[1][1]
            separator = awk_string(self.eval(args[2])) if len(args) > 2 else awk_string(self.vars["FS"])
            parts = text.split() if separator == " " else re.split(posix_regex(separator, extended=True), text) \
                if len(separator) > 1 else text.split(separator)
            self.arrays[target] = {str(i): p for i, p in enumerate(parts, 1)}
            return float(len(parts))
        if name in ("sub", "gsub"):
            regex = self.regex(args[0])
            replacement = awk_string(self.eval(args[1]))
            target = args[2] if len(args) > 2 else ("field", ("num", 0.0))
            text = awk_string(self.lvalue_get(target))
            python_replacement = replacement.replace("\\\\", "\x00").replace("\\&", "\x01").replace("&", "\\g<0>")
            python_replacement = python_replacement.replace("\x00", "\\\\").replace("\x01", "&")
            new, count = regex.subn(python_replacement, text, count=0 if name == "gsub" else 1)
            if count:
                self.lvalue_set(target, new)
            return float(count)
        if name == "match":
            v = values()
            m = self.regex(("str", awk_string(v[1])) if args[1][0] != "regex" else args[1]).search(awk_string(v[0]))
            self.vars["RSTART"] = float(m.start() + 1) if m else 0.0
            self.vars["RLENGTH"] = float(m.end() - m.start()) if m else -1.0
            return self.vars["RSTART"]
        raise AwkError(f"function {name} never defined")


@program("awk", "mawk", "gawk")
async def p_awk(call: Call) -> int:
    args = list(call.args)
    variables: dict[str, Any] = {}
    source: str | None = None
    while args and args[0].startswith("-") and args[0] != "-":
        arg = args.pop(0)
        if arg == "--":
            break
        if arg.startswith("-F"):
            separator = arg[2:] or (args.pop(0) if args else " ")
            variables["FS"] = "\t" if separator == "t" else echo_escapes(separator)[0]
        elif arg.startswith("-v"):
            assignment = arg[2:] or (args.pop(0) if args else "")
            name, _, value = assignment.partition("=")
            variables[name] = echo_escapes(value)[0]
        elif arg == "-f" and args:
            path = args.pop(0)
            try:
                source = call.guest.read_file(path, call.shell.cwd, call.creds)
            except PathError as exc:
                return call.fail(f"{call.name}: couldn't open file {path}: {exc.reason}", 2)
        else:
            return call.fail(f"{call.name}: not an option: {arg}", 2)
    if source is None:
        if not args:
            return call.fail(f"usage: {call.name} [-F value] [-v var=value] [--] 'program text' [file ...]", 2)
        source = args.pop(0)
    try:
        parsed = AwkParser(source).program()
    except AwkError as exc:
        return call.fail(f"{call.name}: {exc}", 2)
    operands = []
    for operand in args:
        if ASSIGN_RE.fullmatch(operand):
            name, _, value = operand.partition("=")
            variables[name] = value
        else:
            operands.append(operand)
    texts, status = await read_inputs(call, operands)
    machine = AwkMachine(call, parsed, variables)
    try:
        code = machine.run(texts)
    except AwkError as exc:
        return call.fail(f"{call.name}: run time error: {exc}", 2)
    return code or (2 if status else 0)
