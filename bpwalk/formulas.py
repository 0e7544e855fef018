"""A small expression tree, and one printer per output: Unicode, ASCII, LaTeX and MathML.

Every formula bpwalk shows (an activation and its derivative, a loss term, the chain rule at
each kind of step, the update) is built once as a tree of the nodes below. A leaf that stands
for a quantity of the trace is a ``Val``: its symbol and its value. Printing the same tree
with ``numeric=False`` gives the formula in symbols, with ``numeric=True`` the numbers
substituted, so the two lines of a step can never disagree.

Nothing here computes a value of the walkthrough: numbers are only formatted.
"""

from __future__ import annotations

import math
import re

GREEK = dict(zip(
    ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
     "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega"),
    "αβγδεζηθικλμνξπρστφχψω",
))
GREEK["Phi"] = "Φ"  # the normal distribution's CDF (GELU)
GREEK["Delta"] = "Δ"  # a change: Han & Kamber's and Mitchell's Δw
_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
_SUP_LAYER = str.maketrans("0123456789+-lL", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻ˡᴸ")  # Nielsen's general wˡ⁺¹, δᴸ
MINUS = "−"  # U+2212, the minus sign of typeset mathematics (Unicode output)


def number(value: float, decimals: int = 9, fixed: bool = False, keep_zeros: bool = False) -> str:
    """A number as a person writes it: at most `decimals` decimals, trailing zeros trimmed
    (kept with `keep_zeros`: 0.0310, as a hand calculation at 4 decimals writes it).

    Scientific notation only when fixed notation would hide the number (it would round to 0,
    or it is 1e15 or more); then with 4 significant digits, like 3.51e-10. With `fixed`, a
    number too small for `decimals` is written 0: for differences such as rounding drift,
    where anything below the last shown digit is float noise, not news.
    """
    if not math.isfinite(value):
        return str(value)
    text = f"{value:.{decimals}f}"
    trimmed = text.rstrip("0").rstrip(".") if "." in text else text
    if trimmed in ("0", "-0"):
        if value == 0 or fixed:
            return text.lstrip("-") if keep_zeros else "0"
        return f"{value:.4g}"
    if abs(value) >= 1e15:
        return f"{value:.4g}"
    return text if keep_zeros else trimmed


# ----------------------------------------------------------------------------- nodes


class Node:
    """Base of every node; `prec` says how tightly it binds (parentheses go by it).

    A node's fields are its annotated attributes (with their defaults), as in a dataclass;
    this base writes __init__, == and repr for them once. Not dataclasses: creating sixteen
    of them cost a few milliseconds of every `bpwalk run`. Nodes are treated as immutable.
    """

    prec = 9
    _fields: tuple[str, ...] = ()

    def __init_subclass__(cls) -> None:
        own = tuple(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063 (only its own)
        cls._fields = cls._fields + tuple(f for f in own if f not in cls._fields)
        if own:
            cls.__init__ = _init(cls)  # type: ignore[method-assign]

    def _key(self) -> tuple:
        return (type(self), *(getattr(self, f) for f in self._fields))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(repr(getattr(self, f)) for f in self._fields)})"


def _init(cls: type[Node]) -> object:
    """`cls`'s __init__, one assignment per field, its defaults the class's own, as a
    dataclass writes it: a generic one (zip, **kwargs) took a quarter of the time of a
    formula, `check` writes 50,000 of them."""
    defaults = {f"_{f}": getattr(cls, f) for f in cls._fields if hasattr(cls, f)}
    params = ", ".join(f"{f}=_{f}" if f"_{f}" in defaults else f for f in cls._fields)
    body = "".join(f"\n    self.{f} = {f}" for f in cls._fields)
    made: dict[str, object] = {}
    exec(f"def __init__(self, {params}):{body}", defaults, made)  # noqa: S102 (our own names)
    return made["__init__"]


class Sym(Node):
    """A symbol: base (a word, a letter or a Greek letter's name), subscript, superscript.

    `literal` marks a user's own name (kept as typed, upright in LaTeX); `sample` the
    1-based sample of a batch it belongs to, printed as a marker that cannot be read as a
    power or a layer: ``net_h1[#2]`` (ASCII ``net_h1@2``, the id's own spelling; LaTeX
    ``\\mathrm{net}_{h1}\\,[\\text{sample 2}]``). `layer` is a layer index written as a
    superscript before the subscript: Nielsen's z³₁ (``z^3_1``), Ng's z^[2]₁ (``z^[2]_1``).
    """

    base: str
    sub: str = ""
    sup: str = ""
    literal: bool = False
    sample: int | None = None
    layer: str = ""

    def but(self, **changes: object) -> Sym:
        """This symbol with some fields changed."""
        return Sym(**{**{f: getattr(self, f) for f in self._fields}, **changes})


class Num(Node):
    value: float


class _Quantity(Num):
    """A number that is a value of the trace (printed at the decimals shown)."""


class Word(Node):
    """Upright text inside a formula ('if', 'otherwise')."""

    text: str


class Val(Node):
    """A quantity of the trace: printed as its symbol, or as its number when substituted."""

    symbol: Node
    value: float


class Add(Node):
    """A sum; a term that is a Neg is written with a minus: a − b."""

    terms: tuple[Node, ...]
    prec = 1


class Neg(Node):
    arg: Node
    prec = 2


class Mul(Node):
    """A product; `dot=False` writes the factors side by side, out(1 − out)."""

    factors: tuple[Node, ...]
    dot: bool = True
    prec = 3


class Div(Node):
    num: Node
    den: Node
    prec = 3


class Pow(Node):
    base: Node
    exp: Node
    prec = 5


class Call(Node):
    """A named function applied to arguments: tanh(x), max(0, x), ln(x), exp."""

    name: str
    args: tuple[Node, ...]
    prec = 6


class Hat(Node):
    """A symbol with a hat, m̂ (Adam's bias-corrected moments): the hat on its base only."""

    sym: Sym


class Root(Node):
    """√arg (a square root)."""

    arg: Node
    prec = 6


class Abs(Node):
    """|arg|."""

    arg: Node
    prec = 9


class Partial(Node):
    """∂top/∂bottom."""

    top: Node
    bottom: Node
    prec = 4


class BigSum(Node):
    """Σ over an index: Σ_k body."""

    index: str
    body: Node
    prec = 1


class Rel(Node):
    """A relation used as a condition: net > 0."""

    left: Node
    op: str  # ">", "<=", "=", "<-" (assignment)
    right: Node
    prec = 0


class Cases(Node):
    """A piecewise definition: ((value, condition), ...)."""

    rows: tuple[tuple[Node, Node], ...]
    prec = 0


class Seq(Node):
    """Several formulas side by side, separated by a word or a comma: 'a = b, then c'."""

    parts: tuple[Node, ...]
    sep: str = ", "
    prec = 0


class Substituted(Node):
    """A formula with its numbers put in, inside a caption: out_j(1 − out_k) as 0.3(1 − 0.5)."""

    tree: Node
    prec = 0


class FnCall(Node):
    """A function written as a symbol, applied to arguments: σ(Z²), σ′(Z²)."""

    fn: Node
    args: tuple[Node, ...]
    prec = 6


class Postfix(Node):
    """A mark after its argument: ``T`` (transpose, (A¹)ᵀ) or ``prime`` (σ′)."""

    arg: Node
    mark: str
    prec = 7


class Hadamard(Node):
    """The entry-by-entry product of matrices: δ = ∂E/∂A ⊙ f′(Z)."""

    factors: tuple[Node, ...]
    prec = 3


E_CONST = Sym("e")  # Euler's number


def n(x: float | Node) -> Node:
    """A plain number as a node (formulas read better with 1 than with Num(1))."""
    return x if isinstance(x, Node) else Num(float(x))


def sub(a: Node | float, b: Node | float) -> Add:
    return Add((n(a), Neg(n(b))))


def mul(*factors: Node | float, dot: bool = True) -> Mul:
    return Mul(tuple(n(f) for f in factors), dot)


def add(*terms: Node | float) -> Add:
    return Add(tuple(n(t) for t in terms))


def exp(x: Node) -> Pow:
    return Pow(E_CONST, x)


HALF = Div(Num(1.0), Num(2.0))

# ----------------------------------------------------------------------------- printers

_REL = {
    "unicode": {">": " > ", "<=": " ≤ ", "=": " = ", "<-": " ← "},
    "ascii": {">": " > ", "<=": " <= ", "=": " = ", "<-": " <- "},
    "latex": {">": " > ", "<=": " \\le ", "=": " = ", "<-": " \\leftarrow "},
    "mathml": {">": "&gt;", "<=": "≤", "=": "=", "<-": "←"},
}
_LATEX_FUNCS = {"tanh", "max", "ln", "exp", "log", "min"}


_METHODS: dict[tuple[type, type], object] = {}


class Printer:
    """Shared walk over the tree; each style overrides how the pieces are written."""

    style = ""

    def __init__(self, decimals: int = 9, numeric: bool = False, keep_zeros: bool = False):
        self.decimals = decimals
        self.numeric = numeric
        self.keep_zeros = keep_zeros

    # the walk: one method per node class, looked up once per (printer, node) class
    def __call__(self, node: Node) -> str:
        key = (type(self), type(node))
        method = _METHODS.get(key)
        if method is None:
            method = _METHODS[key] = getattr(type(self), "p_" + type(node).__name__)
        return method(self, node)

    def wrap(self, node: Node, prec: int) -> str:
        """node printed, in parentheses when it binds less tightly than `prec` needs."""
        text = self(node)
        return self.paren(text) if _prec(node, self.numeric) < prec else text

    def p_Val(self, node: Val) -> str:
        if self.numeric and not isinstance(node.symbol, Num):  # (Num: a bias's input 1)
            return self.num(node.value, True)  # as a _Quantity prints (not made: 50,000 a check)
        return self.symbol(node.symbol)

    def symbol(self, symbol: Node) -> str:
        """A quantity's symbol, printed once per printer class and kept on its node: a
        symbol holds no number of the trace, so its text depends on the style alone, and
        notation.node gives every step that reads a ref the same node (each gradient of a
        wide layer's weights reads its neuron's δ)."""
        printed = symbol.__dict__.setdefault("_printed", {})
        text = printed.get(type(self))
        if text is None:
            text = printed[type(self)] = self(symbol)
        return text

    def p_Word(self, node: Word) -> str:
        return node.text

    def p_Substituted(self, node: Substituted) -> str:
        numeric, self.numeric = self.numeric, True
        try:
            return self(node.tree)
        finally:
            self.numeric = numeric

    def num_text(self, value: float, quantity: bool = False) -> str:
        """A constant of a formula (1, 2) as written; a quantity at the decimals shown,
        with trailing zeros when asked (0.0310)."""
        if not quantity:
            return number(value)
        return number(value, self.decimals, keep_zeros=self.keep_zeros)

    def num(self, value: float, quantity: bool = False) -> str:
        """A number as the style writes it (a quantity of the trace: see num_text)."""
        raise NotImplementedError

    def p_Num(self, node: Num) -> str:
        return self.num(node.value, isinstance(node, _Quantity))

    def p__Quantity(self, node: _Quantity) -> str:
        return self.num(node.value, True)

    def p_Seq(self, node: Seq) -> str:
        return node.sep.join(self(p) for p in node.parts)

    def p_Rel(self, node: Rel) -> str:
        return self(node.left) + _REL[self.style][node.op] + self(node.right)

    def add_terms(self, node: Add) -> list[tuple[bool, str]]:
        """(negative?, text) for each term of a sum; a negative number after the first
        term keeps its parentheses, a Neg term is written as subtraction."""
        out = []
        for i, t in enumerate(node.terms):
            if isinstance(t, Neg) and i:  # a − (b + c), a − (−b)
                out.append((True, self.wrap(t.arg, 3)))
            else:
                out.append((False, self.wrap(t, 2) if i else self(t)))
        return out


def _has_sup(node: Node) -> bool:
    """A symbol with a superscript (W²): transposed, it needs parentheses, (W²)ᵀ."""
    return isinstance(node, Sym) and bool(node.sup or node.layer)


def _prec(node: Node, numeric: bool) -> int:
    if isinstance(node, Val):
        if numeric:  # its number
            return 2 if node.value < 0 else Num.prec
        node = node.symbol
    if isinstance(node, Num) and node.value < 0:
        return 2  # a negative number reads like a Neg
    return node.prec


class TextPrinter(Printer):
    """Unicode and ASCII: linear text."""

    minus = "−"
    times = "·"
    partial = "∂"
    sigma = "Σ"

    def paren(self, text: str) -> str:
        return f"({text})"

    def num(self, value: float, quantity: bool = False) -> str:
        text = self.num_text(value, quantity)
        return self.minus + text[1:] if text.startswith("-") else text

    def p_Sym(self, node: Sym) -> str:
        base = node.base
        if self.style == "unicode" and not node.literal:
            base = GREEK.get(base, base)
        if node.layer:  # z³₁, z^[2]₁; ASCII z^3_1: the subscript always marked
            digits = self.style == "unicode" and set(node.layer) <= set("0123456789+-lL")
            text = base + (node.layer.translate(_SUP_LAYER) if digits else "^" + node.layer)
            text += self.subscript(node.sub) if self.style == "unicode" else \
                "_" * bool(node.sub) + node.sub
        else:
            text = base + self.subscript(node.sub)
        text += self.superscript(node.sup)
        if node.sample is not None:
            text += self.sample(node.sample)
        return text

    def subscript(self, s: str) -> str:
        if not s:
            return ""
        if s.isdigit():
            return s.translate(_SUB) if self.style == "unicode" else s
        return "_" + s

    def superscript(self, s: str) -> str:
        if not s:
            return ""
        if s == "+" and self.style == "unicode":
            return "⁺"
        if s.isdigit() and self.style == "unicode":  # a layer: W², as the courses print it
            return s.translate(_SUP)
        return s if len(s) == 1 or s.startswith("[") else "^" + s

    def sample(self, k: int) -> str:
        return f"[#{k}]"  # one word: the marker never wraps apart from its symbol

    def p_Add(self, node: Add) -> str:
        parts = self.add_terms(node)
        text = parts[0][1]
        for negative, t in parts[1:]:
            text += f" {self.minus} {t}" if negative else f" + {t}"
        return text

    def p_Neg(self, node: Neg) -> str:
        return self.minus + self.wrap(node.arg, 3)

    def p_Mul(self, node: Mul) -> str:
        if node.dot or self.style == "ascii":
            return self.times.join(self.wrap(f, 3) for f in node.factors)
        return "".join(self.wrap(f, 3) for f in node.factors)

    def p_Div(self, node: Div) -> str:
        if node == HALF and self.style == "unicode":
            return "½"
        # one spacing for every division, in symbols and in numbers alike: a/b, (a + b)/3
        return f"{self.wrap(node.num, 3)}/{self.wrap(node.den, 4)}"

    def p_Pow(self, node: Pow) -> str:
        base = self.wrap(node.base, 6)
        if node.exp == Num(2.0) and self.style == "unicode":
            return base + "²"
        return base + "^" + self.wrap(node.exp, 9)

    def p_FnCall(self, node: FnCall) -> str:
        return f"{self.wrap(node.fn, 7)}({', '.join(self(a) for a in node.args)})"

    def p_Postfix(self, node: Postfix) -> str:
        mark = {"T": "ᵀ", "prime": "′"} if self.style == "unicode" else {"T": "^T", "prime": "'"}
        return self.wrap(node.arg, 10 if node.mark == "T" and _has_sup(node.arg) else 7) + \
            mark[node.mark]

    def p_Hadamard(self, node: Hadamard) -> str:
        sep = " ⊙ " if self.style == "unicode" else " (.) "
        return sep.join(self.wrap(f, 4) for f in node.factors)

    def p_Call(self, node: Call) -> str:
        name = GREEK.get(node.name, node.name) if self.style == "unicode" else node.name
        return f"{name}({', '.join(self(a) for a in node.args)})"

    def p_Hat(self, node: Hat) -> str:
        s = node.sym
        mark = "hat" if self.style == "ascii" else "\u0302"
        return self(Sym(s.base + mark, s.sub, s.sup, True, s.sample))

    def p_Root(self, node: Root) -> str:
        if self.style == "ascii":
            return f"sqrt({self(node.arg)})"
        return "√" + self.wrap(node.arg, 7)

    def p_Abs(self, node: Abs) -> str:
        return f"|{self(node.arg)}|"

    def p_Partial(self, node: Partial) -> str:
        d = self.partial
        return f"{d}{self(node.top)}/{d}{self(node.bottom)}"

    def p_BigSum(self, node: BigSum) -> str:
        if self.style == "unicode":
            head = self.sigma + _UNI_SUB_LETTERS.get(node.index, "_" + node.index)
        else:
            head = f"{self.sigma}_{node.index}"
        return f"{head} {self.wrap(node.body, 2)}"

    def p_Cases(self, node: Cases) -> str:
        *first, (last, _) = node.rows
        text = " else ".join(f"{self(v)} if {self(c)}" for v, c in first)
        return f"{text} else {self(last)}"


_UNI_SUB_LETTERS = {"j": "ⱼ", "k": "ₖ", "i": "ᵢ"}


class UnicodePrinter(TextPrinter):
    style = "unicode"


class AsciiPrinter(TextPrinter):
    style = "ascii"
    minus = "-"
    times = "*"
    partial = "d"
    sigma = "sum"

    def sample(self, k: int) -> str:
        return f"@{k}"


class LatexPrinter(Printer):
    style = "latex"

    def paren(self, text: str) -> str:
        return f"\\left({text}\\right)"

    def num(self, value: float, quantity: bool = False) -> str:
        text = self.num_text(value, quantity)
        if "e" in text and "inf" not in text:
            mant, _, e = text.partition("e")
            text = f"{mant} \\times 10^{{{int(e)}}}"
        return text

    def p_Sym(self, node: Sym) -> str:
        base = node.base
        if node.literal:
            base = _mathrm(base)
        elif base in GREEK:
            base = "\\" + base
        elif len(base) > 1:
            base = _mathrm(base)
        if node.sub:
            base += f"_{{{node.sub.replace('_', chr(92) + '_')}}}"
        if node.layer or node.sup:
            base += f"^{{{node.layer}{node.sup}}}"
        if node.sample is not None:
            base += f"\\,[\\text{{sample {node.sample}}}]"
        return base

    def p_Add(self, node: Add) -> str:
        parts = self.add_terms(node)
        text = parts[0][1]
        for negative, t in parts[1:]:
            text += f" - {t}" if negative else f" + {t}"
        return text

    def p_Neg(self, node: Neg) -> str:
        return "-" + self.wrap(node.arg, 3)

    def p_Mul(self, node: Mul) -> str:
        if node.dot:
            return " \\cdot ".join(self.wrap(f, 3) for f in node.factors)
        text = ""
        for f in node.factors:  # \Delta w, not \Deltaw: a command's name ends at a space
            part = self.wrap(f, 3)
            text += " " + part if text[-1:].isalpha() and _COMMAND.search(text) else part
        return text

    def p_Div(self, node: Div) -> str:
        cmd = "\\tfrac" if node == HALF else "\\frac"
        return f"{cmd}{{{self(node.num)}}}{{{self(node.den)}}}"

    def p_Pow(self, node: Pow) -> str:
        return f"{{{self.wrap(node.base, 6)}}}^{{{self(node.exp)}}}"

    def p_Hat(self, node: Hat) -> str:
        base = self(Sym(node.sym.base))
        return f"\\hat{{{base}}}" + self(node.sym)[len(base):]

    def p_Root(self, node: Root) -> str:
        return f"\\sqrt{{{self(node.arg)}}}"

    def p_Abs(self, node: Abs) -> str:
        return f"\\left|{self(node.arg)}\\right|"
    def p_FnCall(self, node: FnCall) -> str:
        return self.wrap(node.fn, 7) + self.paren(", ".join(self(a) for a in node.args))

    def p_Postfix(self, node: Postfix) -> str:
        arg = self.wrap(node.arg, 10 if _has_sup(node.arg) else 7)
        return f"{{{arg}}}^{{\\top}}" if node.mark == "T" else f"{arg}'"

    def p_Hadamard(self, node: Hadamard) -> str:
        return " \\odot ".join(self.wrap(f, 4) for f in node.factors)

    def p_Call(self, node: Call) -> str:
        name = "\\" + node.name if node.name in _LATEX_FUNCS or node.name in GREEK \
            else f"\\operatorname{{{node.name}}}"
        return f"{name}{self.paren(', '.join(self(a) for a in node.args))}"

    def p_Partial(self, node: Partial) -> str:
        return f"\\frac{{\\partial {self(node.top)}}}{{\\partial {self(node.bottom)}}}"

    def p_BigSum(self, node: BigSum) -> str:
        return f"\\sum_{{{node.index}}} {self.wrap(node.body, 2)}"

    def p_Cases(self, node: Cases) -> str:
        rows = " \\\\ ".join(f"{self(v)} & {self(c)}" for v, c in node.rows)
        return f"\\begin{{cases}} {rows} \\end{{cases}}"

    def p_Word(self, node: Word) -> str:
        return f"\\text{{{node.text}}}"

    def p_Seq(self, node: Seq) -> str:
        sep = node.sep if node.sep.strip() == "=" else f"\\text{{{node.sep}}}"
        return sep.join(self(p) for p in node.parts)


_COMMAND = re.compile(r"\\[A-Za-z]+$")  # text ending in a LaTeX command's name


def _mathrm(name: str) -> str:
    return "\\mathrm{" + name.replace("_", "\\_") + "}"


class _Row(str):
    """MathML that is several elements side by side: an <mrow> is written around it only
    where one element must stand (a fraction's part, a script's base), not in a row or a
    <math> (MathML's inferred row), which keeps a page of 100,000 steps a third smaller."""


def _one(text: str) -> str:
    """`text` as one element."""
    return f"<mrow>{text}</mrow>" if isinstance(text, _Row) else text


class MathMLPrinter(Printer):
    """Presentation MathML: the inside of a <math> element (see `mathml`)."""

    style = "mathml"

    def paren(self, text: str) -> str:
        if "<mfrac>" in text or "<msqrt>" in text:  # tall: the parentheses grow with it
            return f"<mrow><mo>(</mo>{text}<mo>)</mo></mrow>"
        # one line: the plain glyphs (a math font's stretchy ones sit apart from the text)
        return f'<mrow><mo stretchy="false">(</mo>{text}<mo stretchy="false">)</mo></mrow>'

    def num(self, value: float, quantity: bool = False) -> str:
        text = self.num_text(value, quantity)
        # a negative number as one token: −0.5 reads the same and needs no row of its own
        return f"<mn>−{text[1:]}</mn>" if text.startswith("-") else f"<mn>{text}</mn>"

    def p_Sym(self, node: Sym) -> str:
        base = node.base if node.literal else GREEK.get(node.base, node.base)
        text = f"<mi>{escape(base)}</mi>"  # a name of several letters is upright (MathML Core)
        sup = node.layer + node.sup
        if node.sub and sup:
            text = f"<msubsup>{text}{_mi(node.sub)}{_mi(sup)}</msubsup>"
        elif node.sub:
            text = f"<msub>{text}{_mi(node.sub)}</msub>"
        elif sup:
            text = f"<msup>{text}{_mi(sup)}</msup>"
        if node.sample is not None:  # the Unicode view's marker: one short word per symbol
            return _Row(f"{text}<mi>[#{node.sample}]</mi>")  # upright, as <mtext>, but shorter
        return text

    def p_Word(self, node: Word) -> str:
        return _mtext(node.text)

    def p_Seq(self, node: Seq) -> str:
        return _Row(_mtext(node.sep).join(self(p) for p in node.parts))

    def p_Rel(self, node: Rel) -> str:
        return _Row(f"{self(node.left)}<mo>{_REL['mathml'][node.op]}</mo>{self(node.right)}")

    def p_Add(self, node: Add) -> str:
        parts = self.add_terms(node)
        text = parts[0][1]
        for negative, t in parts[1:]:
            text += f"<mo>{'−' if negative else '+'}</mo>{t}"
        return _Row(text)

    def p_Neg(self, node: Neg) -> str:
        # its own row: the minus is a prefix operator only as the first of a row
        return f"<mrow><mo>−</mo>{self.wrap(node.arg, 3)}</mrow>"

    def p_Mul(self, node: Mul) -> str:
        sep = "<mo>·</mo>" if node.dot else "<mo>\u2062</mo>"  # invisible times
        return _Row(sep.join(self.wrap(f, 3) for f in node.factors))

    def p_Div(self, node: Div) -> str:
        return f"<mfrac>{_one(self(node.num))}{_one(self(node.den))}</mfrac>"

    def p_Pow(self, node: Pow) -> str:
        base = node.base
        if isinstance(base, Sym) and base.sub and not (base.layer or base.sup or base.sample):
            # β₁ᵗ: the power beside the subscript, over it, not after it as (β₁)ᵗ would be
            letter = self(base.but(sub=""))
            return f"<msubsup>{letter}{_mi(base.sub)}{_one(self(node.exp))}</msubsup>"
        return f"<msup>{_one(self.wrap(base, 6))}{_one(self(node.exp))}</msup>"

    def p_FnCall(self, node: FnCall) -> str:
        args = "<mo>,</mo>".join(self(a) for a in node.args)
        return _Row(f"{self.wrap(node.fn, 7)}{self.paren(args)}")

    def p_Postfix(self, node: Postfix) -> str:
        mark = "<mi>T</mi>" if node.mark == "T" else "<mo>′</mo>"
        arg = self.wrap(node.arg, 10 if _has_sup(node.arg) else 7)
        return f"<msup>{_one(arg)}{mark}</msup>"

    def p_Hadamard(self, node: Hadamard) -> str:
        return _Row("<mo>⊙</mo>".join(self.wrap(f, 4) for f in node.factors))

    def p_Call(self, node: Call) -> str:
        args = "<mo>,</mo>".join(self(a) for a in node.args)
        return _Row(f"<mi>{GREEK.get(node.name, node.name)}</mi>{self.paren(args)}")

    def p_Hat(self, node: Hat) -> str:
        base = self(Sym(node.sym.base))
        return self(node.sym).replace(base, f'<mover accent="true">{base}<mo>^</mo></mover>', 1)

    def p_Root(self, node: Root) -> str:
        return f"<msqrt>{self(node.arg)}</msqrt>"

    def p_Abs(self, node: Abs) -> str:
        return f"<mrow><mo>|</mo>{self(node.arg)}<mo>|</mo></mrow>"

    def p_Partial(self, node: Partial) -> str:
        return (f"<mfrac><mrow><mo>∂</mo>{self(node.top)}</mrow>"
                f"<mrow><mo>∂</mo>{self(node.bottom)}</mrow></mfrac>")

    def p_BigSum(self, node: BigSum) -> str:
        return _Row(f"<munder><mo>∑</mo><mi>{node.index}</mi></munder>"
                    f"{self.wrap(node.body, 2)}")

    def p_Cases(self, node: Cases) -> str:
        rows = "".join(f"<mtr><mtd>{self(v)}</mtd><mtd>{self(c)}</mtd></mtr>"
                       for v, c in node.rows)
        return _Row(f"<mo>{{</mo><mtable>{rows}</mtable>")


def escape(text: str) -> str:
    """Text made safe inside MathML (the html module would cost start-up time)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mtext(text: str) -> str:
    """Words in MathML. A token's spaces at either end are dropped when it is laid out
    (", then " would join "then" to the next symbol): they are written as no-break spaces."""
    inner = escape(text)
    lead, trail = len(inner) - len(inner.lstrip(" ")), len(inner) - len(inner.rstrip(" "))
    return f"<mtext>{_NBSP * lead}{inner.strip(' ')}{_NBSP * trail}</mtext>"


_NBSP = "\u00a0"


def _mi(text: str) -> str:
    return f"<mi>{escape(text)}</mi>" if not text.isdigit() else f"<mn>{text}</mn>"


PRINTERS: dict[str, type[Printer]] = {
    "unicode": UnicodePrinter, "ascii": AsciiPrinter, "latex": LatexPrinter,
    "mathml": MathMLPrinter,
}
STYLES = tuple(PRINTERS)


def render(node: Node, style: str, decimals: int = 9, numeric: bool = False,
           keep_zeros: bool = False) -> str:
    """`node` written in `style`; with `numeric`, every Val as its number."""
    return PRINTERS[style](decimals, numeric, keep_zeros)(node)


def quantity(value: float) -> Num:
    """A value of the trace as a node of its own (a step's result)."""
    return _Quantity(value)


def mathml(inner: str, display: bool = False) -> str:
    """A <math> element around printed MathML."""
    block = ' display="block"' if display else ""
    return f'<math xmlns="http://www.w3.org/1998/Math/MathML"{block}>{inner}</math>'
