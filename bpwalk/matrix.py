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
        if lay.activation == "softmax":
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
