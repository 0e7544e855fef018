"""A small, safe parser for the expressions of a ``graph:`` scenario's nodes.

    q * z        1 / (1 + exp(-dot))        x1*w1 + x2*w2 + b        max(a, b) ** 2

A tokenizer and precedence climbing, nothing else: user text is never given to eval, exec or
ast. Grammar (lowest binding first; ``**`` binds right, and tighter than a unary minus on its
left, as in Python: ``-x ** 2`` is ``-(x ** 2)``)::

    expr    := term (('+' | '-') term)*
    term    := unary (('*' | '/') unary)*
    unary   := '-' unary | power
    power   := atom ('**' exponent)?         exponent: a number, or '-' a number
    atom    := NUMBER | NAME | NAME '(' expr (',' expr)* ')' | '(' expr ')'

Every node of the tree keeps `at`, the 0-based offset of its first character in the text, so
an error points at its column (ExprError.at), and the scenario reader adds the YAML position.
A minus applied to a number literal is folded into the number (``-1`` is the number −1).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from bpwalk.graph.ops import FUNCTION_OPS, OPS

FUNCTIONS = {name: OPS[op].arity for name, op in FUNCTION_OPS.items()}  # name -> arguments
MAX_LENGTH = 10_000  # characters of one expression: far above a node anyone writes
MAX_DEPTH = 100  # nesting: a hostile '((((...' is refused, not a RecursionError


class ExprError(ValueError):
    """What is wrong and how to fix it, at offset `at` of the expression."""

    def __init__(self, message: str, at: int) -> None:
        super().__init__(message)
        self.at = at


class Num(NamedTuple):
    value: float
    at: int


class Name(NamedTuple):
    name: str
    at: int


class Unary(NamedTuple):  # only '-'
    arg: Expr
    at: int


class Binary(NamedTuple):
    op: str  # + - * / **
    left: Expr
    right: Expr
    at: int


class Call(NamedTuple):
    fn: str
    args: tuple[Expr, ...]
    at: int


Expr = Num | Name | Unary | Binary | Call

_TOKEN = re.compile(r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>\*\*|[-+*/(),^]))")


class _Tok(NamedTuple):
    kind: str  # num, name, op, end
    text: str
    at: int


def tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            at = len(text) - len(text[pos:].lstrip())
            ch = text[at]
            raise ExprError(f"unexpected character {ch!r}; an expression holds names, numbers, "
                            "+ - * / ** ( ) and the functions " + ", ".join(FUNCTIONS), at)
        kind = m.lastgroup or "op"
        out.append(_Tok(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    out.append(_Tok("end", "", len(text.rstrip())))
    return out


def parse(text: str) -> Expr:
    """The tree of `text`; ExprError (with the offset) when it is not an expression."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"the expression is {len(text):,} characters long, more than "
                        f"{MAX_LENGTH:,}; split it into several nodes", 0)
    if not text.strip():
        raise ExprError("the expression is empty; write one like 'x + y'", 0)
    p = _Parser(tokens(text))
    tree = p.expr(0)
    if p.peek.kind != "end":
        t = p.peek
        raise ExprError(f"unexpected {t.text!r} after a complete expression; an operator "
                        "(+ - * / **) is missing before it, or a ')' is one too many", t.at)
    return tree


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.i = 0

    @property
    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, text: str, why: str) -> _Tok:
        t = self.peek
        if t.text != text or t.kind != "op":
            shown = "the end" if t.kind == "end" else repr(t.text)
            raise ExprError(f"expected {text!r} {why}, found {shown}; add it", t.at)
        return self.take()

    def expr(self, depth: int) -> Expr:
        if depth > MAX_DEPTH:
            raise ExprError(f"the expression nests more than {MAX_DEPTH} levels deep; split it "
                            "into several nodes", self.peek.at)
        left = self.term(depth)
        while self.peek.kind == "op" and self.peek.text in ("+", "-"):
            op = self.take()
            left = Binary(op.text, left, self.term(depth), op.at)
        return left

    def term(self, depth: int) -> Expr:
        left = self.unary(depth)
        while self.peek.kind == "op" and self.peek.text in ("*", "/"):
            op = self.take()
            left = Binary(op.text, left, self.unary(depth), op.at)
        return left

    def unary(self, depth: int) -> Expr:
        t = self.peek
        if t.kind == "op" and t.text == "-":
            self.take()
            arg = self.unary(depth + 1)
            if isinstance(arg, Num):
                return Num(-arg.value, t.at)
            return Unary(arg, t.at)
        if t.kind == "op" and t.text == "+":
            raise ExprError("a leading '+' is not needed; remove it", t.at)
        return self.power(depth)

    def power(self, depth: int) -> Expr:
        base = self.atom(depth)
        t = self.peek
        if t.kind == "op" and t.text == "^":
            raise ExprError("'^' is not a power here; write x ** 2", t.at)
        if t.kind == "op" and t.text == "**":
            self.take()
            sign, e = 1.0, self.peek
            if e.kind == "op" and e.text == "-":
                self.take()
                sign, e = -1.0, self.peek
            if e.kind != "num":
                raise ExprError("the exponent of ** must be a number, like x ** 2 or x ** 0.5; "
                                "for e to a power write exp(x)", e.at)
            self.take()
            if self.peek.kind == "op" and self.peek.text == "**":
                raise ExprError("a chain of ** is ambiguous to read; write it with parentheses",
                                self.peek.at)
            return Binary("**", base, Num(sign * float(e.text), e.at), t.at)
        return base

    def atom(self, depth: int) -> Expr:
        t = self.take()
        if t.kind == "num":
            return Num(float(t.text), t.at)
        if t.kind == "name":
            if self.peek.kind == "op" and self.peek.text == "(":
                return self.call(t, depth)
            if t.text in FUNCTIONS:
                raise ExprError(f"{t.text} is a function; write it with its argument"
                                f"{'s' * (FUNCTIONS[t.text] > 1)}, like {_example(t.text)}",
                                t.at)
            return Name(t.text, t.at)
        if t.kind == "op" and t.text == "(":
            inner = self.expr(depth + 1)
            self.expect(")", "to close the '(' here")
            return inner
        if t.kind == "end":
            raise ExprError("the expression ends too soon; an operand is missing at the end",
                            t.at)
        raise ExprError(f"unexpected {t.text!r}; an operand (a name, a number or '(') is "
                        "missing before it", t.at)

    def call(self, name: _Tok, depth: int) -> Call:
        if name.text not in FUNCTIONS:
            from bpwalk.scenario.errors import did_you_mean

            close = did_you_mean(name.text, FUNCTIONS)
            raise ExprError(f"unknown function '{name.text}'{close or ''}; the functions are "
                            + ", ".join(FUNCTIONS), name.at)
        self.take()  # (
        args = [self.expr(depth + 1)]
        while self.peek.kind == "op" and self.peek.text == ",":
            self.take()
            args.append(self.expr(depth + 1))
        self.expect(")", f"to close {name.text}(")
        want = FUNCTIONS[name.text]
        if len(args) != want:
            raise ExprError(f"{name.text} takes {want} argument{'s' * (want > 1)}, not "
                            f"{len(args)}; write it like {_example(name.text)}", name.at)
        return Call(name.text, tuple(args), name.at)


def _example(fn: str) -> str:
    return f"{fn}(a, b)" if FUNCTIONS[fn] == 2 else f"{fn}(x)"


def names(tree: Expr) -> list[Name]:
    """Every name the expression reads, in the order written (repeats kept)."""
    if isinstance(tree, Name):
        return [tree]
    if isinstance(tree, Unary):
        return names(tree.arg)
    if isinstance(tree, Binary):
        return names(tree.left) + names(tree.right)
    if isinstance(tree, Call):
        return [n for a in tree.args for n in names(a)]
    return []
