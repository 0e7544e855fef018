"""Backpropagation in matrix form, assembled from the scalar trace.

Courses that vectorise (Ng, CS231n, Nielsen) write one update as a few matrix equations per
layer l, with the batch's m samples as columns:

    forward    Z^l = W^l · A^(l-1) + b^l          A^l = f(Z^l)          (A^0 = X)
    backward   δ^l = ∂E/∂A^l ⊙ f′(Z^l)           ∂E/∂W^l = 1/m · δ^l · (A^(l-1))ᵀ
               ∂E/∂b^l = 1/m · δ^l · 𝟏            ∂E/∂A^(l-1) = (W^l)ᵀ · δ^l
    update     W^l ← W^l − η · ∂E/∂W^l            b^l ← b^l − η · ∂E/∂b^l

(1/m only when the scenario's reduction is the mean over m > 1 samples: the per-sample deltas
carry no 1/m, so it is applied once, at the gradient.) Nothing here is computed again: every
entry of every matrix is the value of one scalar step of the Trace (or one of its operands:
a parameter, an input, a target), and the matrix keeps that id beside the number, so that
``grad:w5`` is row 1, column 1 of ∂E/∂W². The rows of W^l are its neurons, the columns the
inputs they read, in the scenario's order; the columns of Z, A, δ are the batch's samples.

A shared bias is one number added to every entry (a 1×1 matrix); its gradient sums every
entry of δ (𝟏ᵀ · δ · 𝟏). A layer without a bias has no b term, and biases that do not
update (``update_biases: false``) have no gradient and no update equation.

`mistaken` computes the matrices of the classic matrix mistakes (a transposed result,
a·δᵀ for δ·aᵀ, W·δ for Wᵀ·δ, ⊙ done as a matrix product, 1/m twice or not at all) from the
right operands, for ``bpwalk check`` to recognise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from bpwalk.formulas import (
    Add,
    Div,
    FnCall,
    Hadamard,
    Mul,
    Node,
    Num,
    Partial,
    Postfix,
    Rel,
    Sym,
    render,
)
from bpwalk.notation import MAZUR, Profile, update_rule
from bpwalk.trace import Iteration, Trace

# The role of each matrix: what it is, whatever the notation profile calls it.
ROLES = ("W", "b", "A", "Z", "Y", "dA", "fprime", "delta", "dW", "db", "newW", "newb", "ones",
         "J")


@dataclass(frozen=True)
class Matrix:
    """A matrix of the update: its role and layer, and per entry the trace id and value.

    `transposed` marks an operand written transposed (Aᵀ, Wᵀ): ids and values are already
    laid out as the transposed matrix reads.
    """

    role: str
    layer: int
    ids: tuple[tuple[str, ...], ...]
    values: tuple[tuple[float, ...], ...]
    transposed: bool = False
    fn: str = ""  # the activation (fprime, A) or loss (dA of the output layer) involved

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.ids), len(self.ids[0]) if self.ids else 0

    @property
    def key(self) -> str:
        """The name an answers file uses: W2, dW2, delta1, A0 (the inputs), newW2, ..."""
        return f"{self.role}{self.layer}" + ("T" if self.transposed else "")

    def array(self) -> np.ndarray:
        return np.array(self.values, dtype=np.float64).reshape(self.shape)

    def T(self) -> Matrix:
        return Matrix(self.role, self.layer, tuple(zip(*self.ids)), tuple(zip(*self.values)),
                      not self.transposed, self.fn)

    def entries(self) -> Iterator[tuple[int, int, str, float]]:
        """(row, column, id, value), 1-based, row by row."""
        for r, (ids, vals) in enumerate(zip(self.ids, self.values), 1):
            for c, (i, v) in enumerate(zip(ids, vals), 1):
                yield r, c, i, v


@dataclass(frozen=True)
class Scalar:
    """A number in an equation: η, or 1/m (kept as a fraction: 1/4 reads better than 0.25)."""

    role: str  # "lr" or "inv_m"
    value: float
    fraction: Fraction | None = None


@dataclass(frozen=True)
class Op:
    """An operator between operands: matmul (·), hadamard (⊙), add (+), sub (−)."""

    kind: str


@dataclass(frozen=True)
class Apply:
    """A function applied entry by entry (f(Z), f′(Z), the loss' derivative) or, for a
    softmax layer, per column through its Jacobian."""

    fn: str  # activation or loss name
    kind: str  # "value", "derivative", "loss_derivative", "softmax_delta"
    args: tuple[Matrix, ...]


Item = Matrix | Scalar | Op | Apply

# One definition per matrix formula: the equation kinds, in the order a course writes them.
KINDS = {
    "Z": "forward", "A": "forward",
    "dA_out": "backward", "fprime": "backward", "delta": "backward", "dW": "backward",
    "db": "backward", "dA_prev": "backward",
    "newW": "update", "newb": "update",
}


@dataclass(frozen=True)
class Equation:
    kind: str  # a key of KINDS
    layer: int
    result: Matrix
    rhs: tuple[Item, ...]

    @property
    def phase(self) -> str:
        return KINDS[self.kind]

    def operands(self) -> list[Matrix]:
        """The matrices on the right-hand side, in order (inside f(...) too)."""
        out: list[Matrix] = []
        for item in self.rhs:
            if isinstance(item, Matrix):
                out.append(item)
            elif isinstance(item, Apply):
                out.extend(item.args)
        return out


@dataclass(frozen=True)
class MatrixForm:
    """One update in matrix form: its equations in order, layer by layer in each phase."""

    number: int  # the update's number
    samples: tuple[int, ...]  # 1-based samples of the batch: the columns
    equations: tuple[Equation, ...]

    @property
    def m(self) -> int:
        return len(self.samples)

    def matrices(self) -> dict[str, Matrix]:
        """Every distinct matrix by key (results and operands), first seen first."""
        out: dict[str, Matrix] = {}
        for eq in self.equations:
            for mat in (eq.result, *eq.operands()):
                if mat.role != "ones" and not mat.transposed:
                    out.setdefault(mat.key, mat)
        return out

    def id_map(self) -> dict[str, list[list[str]]]:
        """Matrix key -> the trace ids of its entries, row by row."""
        return {k: [list(r) for r in m.ids] for k, m in self.matrices().items()}


# ----------------------------------------------------------------------------- assembly


def ref_values(it: Iteration) -> dict[str, float]:
    """The value of every step id and every operand ref of an update (param:w5, in:i1@2)."""
    values: dict[str, float] = {}
    for s in it.steps:
        for term in s.terms:
            for op in term:
                values.setdefault(op.ref, op.value)
        for op in s.aux:
            values.setdefault(op.ref, op.value)
    values.update(it.values)
    return values


def matrix_form(trace: Trace, it: Iteration) -> MatrixForm:
    """The update `it` of `trace` as matrix equations (see the module's docstring)."""
    sc = trace.scenario
    values = ref_values(it)
    m = len(it.samples)
    sfx = [f"@{s}" for s in it.samples] if m > 1 else [""]
    mean = sc.reduction == "mean" and m > 1
    inv_m = Scalar("inv_m", 1.0 / m, Fraction(1, m)) if mean else None
    lr = Scalar("lr", values["lr"])  # every update step carries it
    last = len(sc.layers)

    def mat(role: str, layer: int, grid: list[list[str]], fn: str = "") -> Matrix:
        ids = tuple(tuple(row) for row in grid)
        return Matrix(role, layer, ids, tuple(tuple(values[i] for i in row) for row in ids),
                      fn=fn)

    def per_sample(role: str, layer: int, kind: str, names, fn: str = "") -> Matrix:
        return mat(role, layer, [[f"{kind}:{n}{s}" for s in sfx] for n in names], fn)

    def ones(rows: int, cols: int) -> Matrix:
        return Matrix("ones", 0, (("1",) * cols,) * rows, ((1.0,) * cols,) * rows)

    def scaled(*items: Item) -> tuple[Item, ...]:
        return (inv_m, *items) if inv_m else items

    fwd: list[Equation] = []
    back: list[Equation] = []
    upd: list[Equation] = []
    acts = [per_sample("A", 0, "in", sc.inputs)]
    Ws: list[Matrix] = []
    bs: list[Matrix | None] = []
    Zs: list[Matrix] = []
    for li, lay in enumerate(sc.layers):
        n = li + 1
        W = mat("W", n, [[f"param:{w}" for w in row] for row in lay.weight_names])
        b = mat("b", n, [[f"param:{x}"] for x in lay.bias_names]) if lay.bias != "none" else None
        Z = per_sample("Z", n, "net", lay.neurons)
        Ws.append(W)
        bs.append(b)
        Zs.append(Z)
        rhs: tuple[Item, ...] = (W, Op("matmul"), acts[li])
        fwd.append(Equation("Z", n, Z, rhs + ((Op("add"), b) if b else ())))
        A = per_sample("A", n, "out", lay.neurons, lay.activation)
        fwd.append(Equation("A", n, A, (Apply(lay.activation, "value", (Z,)),)))
        acts.append(A)

    for li in range(last - 1, -1, -1):
        lay, n = sc.layers[li], li + 1
        dA = per_sample("dA", n, "dout", lay.neurons, sc.loss if n == last else "")
        if n == last:
            Y = per_sample("Y", n, "target", lay.neurons)
            back.append(Equation("dA_out", n, dA,
                                 (Apply(sc.loss, "loss_derivative", (acts[n], Y)),)))
        delta = per_sample("delta", n, "dnet", lay.neurons)
        if lay.activation == "softmax" and m == 1:  # δ = Jᵀ ∂E/∂A, J[j, k] = ∂out_j/∂net_k
            J = mat("J", n, [[f"jac:{j}/{k}" for k in lay.neurons] for j in lay.neurons])
            back.append(Equation("delta", n, delta, (J.T(), Op("matmul"), dA)))
        elif lay.activation == "softmax":  # one Jacobian per sample: column by column
            back.append(Equation("delta", n, delta, (Apply("softmax", "softmax_delta", (dA,)),)))
        else:
            fp = per_sample("fprime", n, "dact", lay.neurons, lay.activation)
            back.append(Equation("fprime", n, fp, (Apply(lay.activation, "derivative", (Zs[li],)),)))
            back.append(Equation("delta", n, delta, (dA, Op("hadamard"), fp)))
        dW = mat("dW", n, [[f"grad:{w}" for w in row] for row in lay.weight_names])
        back.append(Equation("dW", n, dW, scaled(delta, Op("matmul"), acts[li].T())))
        grads_b = lay.bias != "none" and sc.update_biases
        if grads_b:
            db = mat("db", n, [[f"grad:{b}"] for b in lay.bias_names])
            if lay.bias == "per_neuron":
                rhs = (delta, Op("matmul"), ones(m, 1)) if m > 1 else (delta,)
            else:  # shared: every entry of delta, summed
                rhs = (ones(1, len(lay.neurons)), Op("matmul"), delta)
                rhs += (Op("matmul"), ones(m, 1)) if m > 1 else ()
            back.append(Equation("db", n, db, scaled(*rhs)))
        if li:
            prev = per_sample("dA", li, "dout", sc.layers[li - 1].neurons)
            back.append(Equation("dA_prev", n, prev, (Ws[li].T(), Op("matmul"), delta)))
        upd.append(Equation("newW", n, mat("newW", n, [[f"new:{w}" for w in row]
                                                      for row in lay.weight_names]),
                            (Ws[li], Op("sub"), lr, dW)))
        b = bs[li]
        if grads_b and b is not None:
            upd.append(Equation("newb", n, mat("newb", n, [[f"new:{x}"] for x in lay.bias_names]),
                                (b, Op("sub"), lr, db)))
    return MatrixForm(it.number, tuple(it.samples), (*fwd, *back, *upd))


def matrix_forms(trace: Trace) -> list[MatrixForm]:
    return [matrix_form(trace, it) for it in trace.iterations]


# ----------------------------------------------------------------------------- mistakes

MATRIX_MISTAKES = {  # name -> what a student did
    "transposed": "a transposed result: rows and columns swapped",
    "a_delta_T": "a·δᵀ written for δ·aᵀ: the gradient comes out transposed",
    "W_not_transposed": "W·δ where Wᵀ·δ is needed",
    "hadamard_as_matmul": "the ⊙ (entry by entry) done as a matrix product",
    "inv_m_missing": "1/m not applied: the batch's sum, not its mean",
    "inv_m_twice": "1/m applied twice",
}


def _product(mats: list[np.ndarray]) -> np.ndarray:
    out = mats[0]
    for x in mats[1:]:
        out = out @ x
    return out


def mistaken(eq: Equation) -> list[tuple[str, np.ndarray]]:
    """The matrices the classic matrix mistakes give for `eq`'s result, from its operands.

    Several may apply; each is computed from the same operands the right result is
    assembled from, so a student's wrong matrix can be recognised entry by entry.
    """
    right = eq.result.array()
    mats = [x.array() for x in eq.rhs if isinstance(x, Matrix)]
    inv_m = next((x.value for x in eq.rhs if isinstance(x, Scalar) and x.role == "inv_m"), None)
    out: list[tuple[str, np.ndarray]] = []
    if eq.kind == "dW":  # a δᵀ: (δ aᵀ)ᵀ, found from the operands
        delta, a_t = mats
        out.append(("a_delta_T", (inv_m or 1.0) * (a_t.T @ delta.T)))
    elif right.size > 1:
        out.append(("transposed", right.T))
    if eq.kind == "dA_prev":
        w = mats[0].T  # the operand is Wᵀ
        if w.shape[1] == mats[1].shape[0]:
            out.append(("W_not_transposed", w @ mats[1]))
    if eq.kind == "delta" and Op("hadamard") in eq.rhs:
        da, fp = mats
        for a, b in ((da, fp), (da, fp.T), (da.T, fp)):
            if a.shape[1] == b.shape[0]:
                out.append(("hadamard_as_matmul", a @ b))
    if inv_m is not None:  # dW, db of a mean over m > 1 samples
        total = _product(mats)
        out += [("inv_m_missing", total), ("inv_m_twice", inv_m * inv_m * total)]
    return out


def equation_for(form: MatrixForm, key: str) -> Equation | None:
    """The equation whose result is the matrix called `key` (None for a given matrix)."""
    return next((e for e in form.equations if e.result.key == key), None)


# ----------------------------------------------------------------------------- symbols
#
# Each equation is written once as a formula tree (bpwalk.formulas) in the symbols of a
# notation profile, and printed in any style. The letters are the profile's own one-letter
# names for net, out and target (Ng's and Nielsen's z, a, y), capitalised as the vectorised
# courses write a whole batch (Ng: Z^[2]); Nielsen keeps his lower-case z^l, a^l, w^l.

_LOWER_CASE = {"nielsen"}  # w^l, a^l, z^l (Nielsen, ch. 2)
_BRACKETED = {"ng"}  # W^[2], A^[1] (Ng's course)
_FN_SYMBOL = {"sigmoid": "sigma", "tanh": "tanh", "relu": "ReLU", "leaky_relu": "LReLU",
              "linear": "id", "softmax": "softmax"}
_OPS = {"matmul": (" · ", " * ", r" \, "), "hadamard": (" ⊙ ", " (.) ", r" \odot "),
        "add": (" + ", " + ", " + "), "sub": (" − ", " - ", " - ")}
_STYLE = {"unicode": 0, "ascii": 1, "latex": 2}


def _letter(p: Profile, name: str, default: str) -> str:
    letter = name if len(name) == 1 else default
    return letter.lower() if p.name in _LOWER_CASE else letter.upper()


def fn_node(fn: str, prime: bool = False) -> Node:
    """An activation as a function symbol: σ, tanh, ReLU (σ′ with `prime`)."""
    f = Sym(_FN_SYMBOL.get(fn, fn))
    return Postfix(f, "prime") if prime else f


def role_node(role: str, n: int, p: Profile = MAZUR, fn: str = "") -> Node:
    """The symbol of the matrix `role` of layer `n` in profile `p`: W², ∂E/∂W², dW^[2]."""
    sup = f"[{n}]" if p.name in _BRACKETED else str(n)
    letters = {"W": _letter(p, "w", "w"), "b": "b",  # b stays lower case (Ng: b^[l])
               "A": _letter(p, p.out, "a"), "Z": _letter(p, p.net, "z"), "J": "J"}
    if role == "ones":
        return Num(1.0)
    if role == "Y":
        return Sym(_letter(p, p.target, "y"))
    if role in ("newW", "newb"):
        role = role[3:]
    if role in letters:
        return Sym(letters[role], sup=sup)
    z = Sym(letters["Z"], sup=sup)
    if role == "fprime":
        return FnCall(fn_node(fn, prime=True), (z,))
    if role == "delta":
        if p.grad_prefix:
            return Sym(p.grad_prefix + z.base, sup=sup)  # Ng's dZ^[2]
        if p.sign == 1:
            return Sym(p.delta or "delta", sup=sup)  # δ^l, as Nielsen writes it
        return Partial(Sym(p.loss), z)  # not the profile's error term, which is −∂E/∂net
    of = Sym(letters[role[1:]], sup=sup)  # dA, dW, db
    return Sym(p.grad_prefix + of.base, sup=sup) if p.grad_prefix else Partial(Sym(p.loss), of)


def matrix_node(mat: Matrix, p: Profile = MAZUR) -> Node:
    node = role_node(mat.role, mat.layer, p, mat.fn)
    return Postfix(node, "T") if mat.transposed else node


def scalar_node(s: Scalar, p: Profile = MAZUR) -> Node:
    return Sym(p.lr) if s.role == "lr" else Div(Num(1.0), Sym("m"))


def scalar_value_node(s: Scalar) -> Node:
    """The scalar's number: 1/3 as a fraction (the 1/m of a mean), η as its value."""
    if s.fraction is not None:
        return Div(Num(float(s.fraction.numerator)), Num(float(s.fraction.denominator)))
    return Num(s.value)


def apply_node(ap: Apply, p: Profile = MAZUR) -> Node:
    """f(Z), f′(Z), E′(A, Y) or Jᵀ·∂E/∂A (a softmax layer, sample by sample)."""
    args = tuple(matrix_node(a, p) for a in ap.args)
    if ap.kind == "softmax_delta":
        return Mul((apply_head(ap, p), *args))
    return FnCall(apply_head(ap, p), args)


def apply_head(ap: Apply, p: Profile = MAZUR) -> Node:
    """The function's symbol: σ, σ′, E′, or Jᵀ for a softmax layer's delta."""
    if ap.kind == "softmax_delta":
        return Postfix(Sym("J"), "T")
    if ap.kind == "loss_derivative":
        return Postfix(Sym(p.loss), "prime")
    return fn_node(ap.fn, prime=ap.kind == "derivative")


def _rhs_node(items: tuple[Item, ...], p: Profile) -> Node:
    """A sum of products (matrix or entry by entry), scalars multiplying what follows."""
    terms: list[list[Node]] = [[]]
    hadamard = False
    for item in items:
        if isinstance(item, Op):
            if item.kind == "add":
                terms.append([])
            hadamard = hadamard or item.kind == "hadamard"
        elif isinstance(item, Matrix):
            terms[-1].append(matrix_node(item, p))
        elif isinstance(item, Scalar):
            terms[-1].append(scalar_node(item, p))
        else:
            terms[-1].append(apply_node(item, p))
    nodes = [t[0] if len(t) == 1 else Hadamard(tuple(t)) if hadamard else Mul(tuple(t))
             for t in terms]
    return nodes[0] if len(nodes) == 1 else Add(tuple(nodes))


def equation_node(eq: Equation, p: Profile = MAZUR) -> Node:
    """The equation in symbols: Z² = W²·A¹ + b², W² ← W² − η·∂E/∂W², or f′(Z) alone."""
    lhs = matrix_node(eq.result, p)
    if eq.kind == "fprime":
        return lhs
    if eq.phase == "update":
        old, _, _, grad = eq.rhs
        assert isinstance(old, Matrix) and isinstance(grad, Matrix)
        return Rel(lhs, "<-", update_rule(matrix_node(old, p), Sym(p.lr),
                                          matrix_node(grad, p), p))
    return Rel(lhs, "=", _rhs_node(eq.rhs, p))


def symbol(mat: Matrix, style: str, p: Profile = MAZUR) -> str:
    return render(matrix_node(mat, p), style)


def op_symbol(op: Op, style: str) -> str:
    """How an operator is spaced between laid-out matrices (the formula tree has its own)."""
    return _OPS[op.kind][_STYLE[style]]
