"""One self-attention head over a sample's tokens (the rows of its `sequence:`), as a node of
the network graph: the same methods as the nodes of bpwalk.graph.layers and recurrent.py,
for the same sweeps (engine/explain.py).

Forward, per sample (X its tokens, T × d_model; shapes in the comments):

    Q = X·W_Q, K = X·W_K, V = X·W_V        (T, d_k) each
    S = Q·Kᵀ                               (T, T): S_ij, query token i against key token j
    A = c·S                                c = 1/√d_k (scale: true), 1 (false) or a number;
                                           causal: A_ij = −∞ for j > i (a later key)
    P = softmax(A), row by row             (T, T): the attention weights
    H = P·V                                (T, d_k): the output, or with W_O
    out = H·W_O                            (T, d_out)

Backward, from dE/dout (what the layer after it, or the loss, sends back):

    dH = dout·W_Oᵀ (dout itself without W_O);  dE/dW_O = Hᵀ·dout
    dP = dH·Vᵀ;  dV = Pᵀ·dH
    dA_ij = P_ij·(dP_ij − Σ_k P_ik·dP_ik)  the softmax Jacobian, row by row
    dS = c·dA
    dQ = dS·K;  dK = dSᵀ·Q
    dE/dW_Q = Xᵀ·dQ, dE/dW_K = Xᵀ·dK, dE/dW_V = Xᵀ·dV

Ids: an entry of a matrix is ``att:M{col}@t{row}`` (``datt:`` for its gradient), the row
being the token as a recurrent layer's time step is (``att:Q1@t2`` is Q's row 2, column 1;
``att:P3@t2`` is P_23, query token 2's weight on key token 3), then the sample's marker in a
batch (``att:P3@t2@2``). The output's entries are the layer's cells ``out:z1@t2``. A
parameter's gradient is ``grad:att1.W_Q[2,1]`` (``@3`` per sample of a batch): the sum over
the tokens.

The wrong formulas of `bpwalk check` sit beside the right ones: the scale left out or
applied twice (at A and at dS), only the softmax Jacobian's diagonal (at dA), and Kᵀ
written as K (S = Q·K, at S; only when d_k equals the number of tokens, else Q·K has no
meaning and the mistake cannot be made).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bpwalk.graph.layers import Add, Context, Value, combine, scaled, sum_of_products
from bpwalk.graph.recurrent import _per_sample, rows, time_sfx
from bpwalk.trace import Operand, Step

# the matrices of a head, by their letter in ids (att:Q1@t2) and what each one is
MATRICES = {"Q": "queries X·W_Q", "K": "keys X·W_K", "V": "values X·W_V",
            "S": "scores Q·Kᵀ", "A": "scaled scores", "P": "attention weights softmax(A)",
            "H": "P·V"}


def _ids(kind: str, letter: str, cols: int, sfx: list[str], tokens: int) -> np.ndarray:
    """Ids of a per-sample matrix: (samples, tokens, cols), att:Q1@t2 ..."""
    return np.array([[[f"{kind}:{letter}{c + 1}{time_sfx(t + 1, s)}" for c in range(cols)]
                      for t in range(tokens)] for s in sfx], dtype=object)


def _grid(kind: str, names: list[str], rows_: int, cols: int, sfx: list[str]) -> np.ndarray:
    """Ids of per-sample parameter gradients: (samples, rows, cols)."""
    return np.array([[[f"{kind}:{names[r * cols + c]}{s}" for c in range(cols)]
                      for r in range(rows_)] for s in sfx], dtype=object)


class AttentionArrays:
    """A head's arrays in an explained update: (samples, tokens, ·) unless said otherwise."""

    __slots__ = ("a", "at", "dat", "dh", "dk", "dout", "dp", "dq", "ds", "dv", "grad_b",
                 "grad_w", "h", "k", "mask", "o", "out", "p", "per_w", "q", "s", "upd", "v",
                 "w")

    def __init__(self, **arrays: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, arrays.get(name))


class Attention:
    """One self-attention head (see the module's docstring)."""

    KINDS = ("att", "datt")
    reshape = False

    __slots__ = ("index", "inputs", "lay", "src")

    def __init__(self, index: int, lay: Any, inputs: tuple[str, ...]) -> None:
        self.index, self.lay, self.inputs, self.src = index, lay, inputs, "in"

    @property
    def names(self) -> tuple[str, ...]:
        return self.lay.neurons

    def _names(self) -> dict[str, list[str]]:
        """Each projection's parameter names, row by row."""
        flat, lay = self.lay.weight_names[0], self.lay
        size = lay.n_in * lay.d_k
        out = {w: list(flat[i * size:(i + 1) * size]) for i, w in enumerate(("W_Q", "W_K", "W_V"))}
        out["W_O"] = list(flat[3 * size:])
        return out

    # ---- forward

    def forward(self, ctx: Context, w: np.ndarray, b: np.ndarray, a: np.ndarray
                ) -> AttentionArrays:
        r, inj, lay, sfx = ctx.r, ctx.inj, self.lay, ctx.sfx
        wq, wk, wv, wo = lay.matrices(w)
        B, T, _ = a.shape  # (B, T, d_model)
        d = lay.d_k
        c = lay.scale
        q = r(inj(lambda: _ids("att", "Q", d, sfx, T), a @ wq, {}))  # (B, T, d_k)
        k = r(inj(lambda: _ids("att", "K", d, sfx, T), a @ wk, {}))
        v = r(inj(lambda: _ids("att", "V", d, sfx, T), a @ wv, {}))
        s_right = q @ k.transpose(0, 2, 1)  # (B, T, T)
        # Kᵀ written as K: Q·K is (T, d_k)·(T, d_k), defined only when d_k = T
        wrong = {"kt_as_k": lambda: q @ k} if d == T else {}
        s = r(inj(lambda: _ids("att", "S", T, sfx, T), s_right, wrong))
        mask = np.triu(np.ones((T, T), dtype=bool), 1) if lay.causal else np.zeros((T, T), bool)
        scaling = {"scale_left_out": lambda: s, "scale_twice": lambda: s * c * c} \
            if lay.scaling == "root" else {}
        # not scaled: the softmax reads S itself (no A of its own)
        at = r(inj(lambda: _ids("att", "A", T, sfx, T), s * c, scaling)) \
            if lay.scaling != "none" else s
        at = np.where(mask, -np.inf, at)  # (B, T, T): −∞ where a key comes after its query
        e = np.exp(at - at.max(axis=2, keepdims=True))
        p = r(inj(lambda: _ids("att", "P", T, sfx, T), e / e.sum(axis=2, keepdims=True), {}))
        h = p @ v  # (B, T, d_k)
        if wo is None:
            h = r(inj(lambda: _ids("out", "z", d, sfx, T), h, {}))
            o = h
        else:
            h = r(inj(lambda: _ids("att", "H", d, sfx, T), h, {}))
            o = h @ wo  # (B, T, d_out)
            o = r(inj(lambda: _ids("out", "z", lay.d_out, sfx, T), o, {}))
        return AttentionArrays(a=a, q=q, k=k, v=v, s=s, at=at, mask=mask, p=p, h=h, o=o,
                               out=o.reshape(B * T, -1), w=w)

    # ---- backward

    def backward(self, ctx: Context, arr: AttentionArrays) -> None:
        """dH, dP, dV, the softmax Jacobian (dA), the scale (dS), dQ, dK and the
        projections' gradients (arr.dout: dE/dout from the layer after it, rows)."""
        r, inj, lay, sfx = ctx.r, ctx.inj, self.lay, ctx.sfx
        _, _, _, wo = lay.matrices(arr.w)
        B, T, _ = arr.a.shape
        d, c = lay.d_k, lay.scale
        dout = arr.dout.reshape(B, T, -1)  # (B, T, n)
        if wo is None:
            dh = dout
        else:
            dh = r(inj(lambda: _ids("datt", "H", d, sfx, T), dout @ wo.T, {}))
        arr.dh = dh
        arr.dp = r(inj(lambda: _ids("datt", "P", T, sfx, T), dh @ arr.v.transpose(0, 2, 1), {}))
        arr.dv = r(inj(lambda: _ids("datt", "V", d, sfx, T), arr.p.transpose(0, 2, 1) @ dh, {}))
        p, dp = arr.p, arr.dp
        dat = p * (dp - (p * dp).sum(axis=2, keepdims=True))  # (B, T, T), 0 where masked
        letter = "A" if lay.scaling != "none" else "S"  # the softmax's input
        arr.dat = r(inj(lambda: _ids("datt", letter, T, sfx, T), dat,
                        {"jacobian_diagonal": lambda: p * (1.0 - p) * dp}))
        scaling = {"scale_left_out": lambda: arr.dat, "scale_twice": lambda: arr.dat * c * c} \
            if lay.scaling == "root" else {}
        arr.ds = r(inj(lambda: _ids("datt", "S", T, sfx, T), arr.dat * c, scaling)) \
            if lay.scaling != "none" else arr.dat
        arr.dq = r(inj(lambda: _ids("datt", "Q", d, sfx, T), arr.ds @ arr.k, {}))
        arr.dk = r(inj(lambda: _ids("datt", "K", d, sfx, T), arr.ds.transpose(0, 2, 1) @ arr.q,
                       {}))
        xt = arr.a.transpose(0, 2, 1)  # (B, d_model, T)
        names = self._names()
        per = []
        for what, g in (("W_Q", xt @ arr.dq), ("W_K", xt @ arr.dk), ("W_V", xt @ arr.dv),
                        ("W_O", None if wo is None else arr.h.transpose(0, 2, 1) @ dout)):
            if g is None:
                continue
            rows_, cols = g.shape[1:]
            ids = lambda n=names[what], rr=rows_, cc=cols: _grid("grad", n, rr, cc, ctx.gsfx)
            per.append(r(inj(ids, g, scaled(g))).reshape(B, -1))
        arr.per_w = np.concatenate(per, axis=1)  # (B, parameters), in the weights' order
        arr.grad_w = combine(arr.per_w, ctx.mean, r, inj, lambda: np.array(
            [f"grad:{n}" for n in lay.weight_names[0]], dtype=object))
        arr.grad_b = np.zeros(0)

    def input_gradient(self, ctx: Context, arr: AttentionArrays, w, upstream, up) -> np.ndarray:
        raise NotImplementedError("dE/d(input) through an attention layer")  # refused

    # ---- steps

    def forward_steps(self, add: Add, ctx: Context, arr: AttentionArrays, w: np.ndarray,
                      bias: np.ndarray, b: int) -> None:
        """Sample b's Q, K, V, S, A, P and output, matrix by matrix, row by row."""
        lay, li = self.lay, self.index
        s, smp = ctx.sfx[b], ctx.samples[b]
        T, d = arr.a.shape[1], lay.d_k
        x = arr.a[b].tolist()
        names = self._names()
        wl = {k: w_.tolist() for k, w_ in zip(("W_Q", "W_K", "W_V", "W_O"), lay.matrices(w))
              if w_ is not None}
        xin = [[Operand(f"in:{n}{time_sfx(t + 1, s)}", x[t][m])
                for m, n in enumerate(self.inputs)] for t in range(T)]

        def step(kind: str, letter: str, col: int, t: int, value: float, terms, fn: str = "",
                 note: str = "", aux: tuple = ()) -> None:
            # (an output entry, out:z1@t2, is a sum of products as the head's others are:
            # its step is of kind att, whose formulas this node owns)
            add(Step(f"{kind}:{letter}{col + 1}{time_sfx(t + 1, s)}", "forward", "att",
                     f"{letter}{col + 1}", li + 1, smp, value, terms, fn=fn, note=note,
                     aux=aux))

        def ref(letter: str, col: int, t: int, value: float, kind: str = "att") -> Operand:
            return Operand(f"{kind}:{letter}{col + 1}{time_sfx(t + 1, s)}", value)

        mats = {"Q": arr.q[b].tolist(), "K": arr.k[b].tolist(), "V": arr.v[b].tolist()}
        for letter, what in (("Q", "W_Q"), ("K", "W_K"), ("V", "W_V")):
            m = mats[letter]
            for t in range(T):
                for i in range(d):
                    step("att", letter, i, t, m[t][i], tuple(
                        (xin[t][j], Operand("param:" + names[what][j * d + i], wl[what][j][i]))
                        for j in range(lay.n_in)))
        q, k = mats["Q"], mats["K"]
        sm, at, p = arr.s[b].tolist(), arr.at[b].tolist(), arr.p[b].tolist()
        mask = arr.mask.tolist()
        for i in range(T):
            for j in range(T):
                step("att", "S", j, i, sm[i][j], tuple(
                    (ref("Q", c, i, q[i][c]), ref("K", c, j, k[j][c])) for c in range(d)),
                     note="" if i or j else "query token i against key token j: row i "
                                            "of Q times row j of K")
        if lay.scaling != "none":
            scale = self._scale_aux()
            for i in range(T):
                for j in range(T):
                    if mask[i][j]:
                        continue
                    step("att", "A", j, i, at[i][j], ((ref("S", j, i, sm[i][j]),),),
                         fn="scale", aux=scale)
        letter = "A" if lay.scaling != "none" else "S"
        for i in range(T):
            row = tuple((ref(letter, j, i, at[i][j]),) for j in range(T) if not mask[i][j])
            later = [j for j in range(T) if mask[i][j]]
            for j in range(T):
                if mask[i][j]:
                    step("att", "P", j, i, 0.0, ((Operand("0", 0.0),),), fn="masked",
                         note=f"causal: key token {j + 1} comes after query token {i + 1}, "
                              f"so {letter}{i + 1}{j + 1} = -inf, whose exponential is 0")
                    continue
                note = (f"causal: the keys after token {i + 1} are masked "
                        f"({', '.join(f'{letter}{i + 1}{k_ + 1}' for k_ in later)} = -inf, "
                        "whose exponential is 0)" if later else "")
                step("att", "P", j, i, p[i][j], row, fn="softmax", note=note,
                     aux=(ref(letter, j, i, at[i][j]),))
        v = mats["V"]
        h = arr.h[b].tolist()
        hk = "att" if lay.d_out else "out"
        hl = "H" if lay.d_out else "z"
        for i in range(T):
            for c in range(d):
                step(hk, hl, c, i, h[i][c], tuple(
                    (ref("P", j, i, p[i][j]), ref("V", c, j, v[j][c])) for j in range(T)
                    if not mask[i][j]), note="" if c or i else "the output: row i of P "
                                                              "times column c of V")
        if lay.d_out:
            o = arr.o[b].tolist()
            for i in range(T):
                for c in range(lay.d_out):
                    step("out", "z", c, i, o[i][c], tuple(
                        (ref("H", e, i, h[i][e]),
                         Operand("param:" + names["W_O"][e * lay.d_out + c], wl["W_O"][e][c]))
                        for e in range(d)))

    def _scale_aux(self) -> tuple[Operand, ...]:
        lay = self.lay
        return (Operand("scale", lay.scale), Operand("d_k", float(lay.d_k))) \
            if lay.scaling == "root" else (Operand("scale", lay.scale),)

    def backward_steps(self, add: Add, ctx: Context, arr: AttentionArrays, b: int,
                       downstream: Any, down: Any, w_down: np.ndarray | None) -> None:
        """Sample b's dE/dout (written by the layer after it, or the loss), then back
        through W_O, P·V, the softmax, the scale, Q·Kᵀ and into each projection."""
        from bpwalk.graph.recurrent import SeqLoss

        lay, li = self.lay, self.index
        s, smp = ctx.sfx[b], ctx.samples[b]
        T, d = arr.a.shape[1], lay.d_k
        rc = rows(ctx)
        for k_ in _per_sample(rc, b):  # each token's dE/dout
            for st in downstream.dout_steps(rc if isinstance(downstream, SeqLoss) else ctx,
                                            k_, self, arr, down, w_down):
                add(st)
        names = self._names()
        wl = {k: w_.tolist() for k, w_ in zip(("W_Q", "W_K", "W_V", "W_O"),
                                               lay.matrices(arr.w)) if w_ is not None}

        def ref(kind: str, letter: str, col: int, t: int, value: float) -> Operand:
            return Operand(f"{kind}:{letter}{col + 1}{time_sfx(t + 1, s)}", value)

        def step(letter: str, col: int, t: int, value: float, terms, fn: str = "",
                 note: str = "", aux: tuple = ()) -> None:
            add(Step(f"datt:{letter}{col + 1}{time_sfx(t + 1, s)}", "backward", "datt",
                     f"{letter}{col + 1}", li + 1, smp, value, terms, fn=fn, note=note,
                     aux=aux))

        B = arr.a.shape[0]
        dout = arr.dout.reshape(B, T, -1)[b].tolist()
        if lay.d_out:
            dh = arr.dh[b].tolist()
            for i in range(T):
                for c in range(d):
                    step("H", c, i, dh[i][c], tuple(
                        (ref("dout", "z", e, i, dout[i][e]),
                         Operand("param:" + names["W_O"][c * lay.d_out + e], wl["W_O"][c][e]))
                        for e in range(lay.d_out)))
            dh_ref = lambda c, i: ref("datt", "H", c, i, dh[i][c])
        else:
            dh = dout
            dh_ref = lambda c, i: ref("dout", "z", c, i, dh[i][c])
        v, p, dp = arr.v[b].tolist(), arr.p[b].tolist(), arr.dp[b].tolist()
        mask = arr.mask.tolist()
        for i in range(T):
            for j in range(T):
                step("P", j, i, dp[i][j], tuple((dh_ref(c, i), ref("att", "V", c, j, v[j][c]))
                                                for c in range(d)))
        dv = arr.dv[b].tolist()
        for j in range(T):
            for c in range(d):
                step("V", c, j, dv[j][c], _nonempty(tuple(
                    (ref("att", "P", j, i, p[i][j]), dh_ref(c, i)) for i in range(T)
                    if not mask[i][j])))
        dat, ds = arr.dat[b].tolist(), arr.ds[b].tolist()
        for i in range(T):
            row = [j for j in range(T) if not mask[i][j]]
            for j in row:
                terms = ((ref("att", "P", j, i, p[i][j]), ref("datt", "P", j, i, dp[i][j])),
                         *((ref("att", "P", k_, i, p[i][k_]), ref("datt", "P", k_, i, dp[i][k_]))
                           for k_ in row))
                step("A" if lay.scaling != "none" else "S", j, i, dat[i][j], terms,
                     fn="softmax_row", note="" if i or j else
                     "the softmax Jacobian of row i: P_ij times (dP_ij minus the sum over k "
                     "of P_ik dP_ik)")
        if lay.scaling != "none":
            scale = self._scale_aux()
            for i in range(T):
                for j in range(T):
                    if not mask[i][j]:
                        step("S", j, i, ds[i][j], ((ref("datt", "A", j, i, dat[i][j]),),),
                             fn="scale", aux=scale)
        q, k = arr.q[b].tolist(), arr.k[b].tolist()
        dq, dk = arr.dq[b].tolist(), arr.dk[b].tolist()
        for i in range(T):
            for c in range(d):
                step("Q", c, i, dq[i][c], _nonempty(tuple(
                    (ref("datt", "S", j, i, ds[i][j]), ref("att", "K", c, j, k[j][c]))
                    for j in range(T) if not mask[i][j])))
        for j in range(T):
            for c in range(d):
                step("K", c, j, dk[j][c], _nonempty(tuple(
                    (ref("datt", "S", j, i, ds[i][j]), ref("att", "Q", c, i, q[i][c]))
                    for i in range(T) if not mask[i][j])))
        self._grad_steps(add, ctx, arr, b)

    def _grad_steps(self, add: Add, ctx: Context, arr: AttentionArrays, b: int) -> None:
        """Each projection's gradient for sample b: the sum over the tokens."""
        lay, li = self.lay, self.index
        s, smp = ctx.sfx[b], ctx.samples[b]
        gsfx = "" if len(ctx.sfx) == 1 else s
        T, d = arr.a.shape[1], lay.d_k
        x = arr.a[b].tolist()
        names = self._names()
        per = arr.per_w[b].tolist()
        at = 0
        srcs = {"W_Q": ("Q", arr.dq), "W_K": ("K", arr.dk), "W_V": ("V", arr.dv)}
        for what in ("W_Q", "W_K", "W_V", "W_O"):
            if what == "W_O" and not lay.d_out:
                break
            rows_ = lay.n_in if what != "W_O" else d
            cols = d if what != "W_O" else lay.d_out
            if what == "W_O":
                left = [[Operand(f"att:H{e + 1}{time_sfx(t + 1, s)}", arr.h[b, t, e].item())
                         for e in range(d)] for t in range(T)]
                dright = arr.dout.reshape(arr.a.shape[0], T, -1)[b].tolist()
                right = [[Operand(f"dout:z{c + 1}{time_sfx(t + 1, s)}", dright[t][c])
                          for c in range(cols)] for t in range(T)]
            else:
                letter, g = srcs[what]
                gl = g[b].tolist()
                left = [[Operand(f"in:{n}{time_sfx(t + 1, s)}", x[t][m])
                         for m, n in enumerate(self.inputs)] for t in range(T)]
                right = [[Operand(f"datt:{letter}{c + 1}{time_sfx(t + 1, s)}", gl[t][c])
                          for c in range(cols)] for t in range(T)]
            for r_ in range(rows_):
                for c in range(cols):
                    name = names[what][r_ * cols + c]
                    add(Step(f"grad:{name}{gsfx}", "backward", "grad", name, li + 1, smp,
                             per[at], tuple((left[t][r_], right[t][c]) for t in range(T)),
                             fn="sum", note="" if r_ or c else "the sum over the tokens"))
                    at += 1

    def batch_steps(self, add: Add, ctx: Context, arr: AttentionArrays) -> None:
        """The batch's gradient of each parameter: the mean or sum of the samples'."""
        sfx, li = ctx.sfx, self.index
        g = arr.grad_w.tolist()
        for k, name in enumerate(self.lay.weight_names[0]):
            ops = tuple((Operand(f"grad:{name}{sfx[b]}", float(arr.per_w[b, k])),)
                        for b in range(len(sfx)))
            add(Step(f"grad:{name}", "backward", "grad", name, li + 1, None, g[k], ops,
                     fn=ctx.scenario.reduction, batch=True))

    # ---- a step again, on other numbers

    @staticmethod
    def evaluate(step: Step, v: Value) -> float:
        fn, terms = step.fn, step.terms
        if fn == "masked":
            return 0.0
        if fn == "scale":
            return v(terms[0][0]) * next(o.value for o in step.aux if o.ref == "scale")
        if fn == "softmax":
            own = step.aux[0].ref
            values = [v(t[0]) for t in terms]
            top = max(values)
            total = math.fsum(math.exp(x - top) for x in values)
            mine = next(v(t[0]) for t in terms if t[0].ref == own)
            return math.exp(mine - top) / total
        if fn == "softmax_row":  # P_ij·(dP_ij − Σ_k P_ik·dP_ik)
            (pij, dpij), *row = terms
            return v(pij) * (v(dpij) - math.fsum(v(a) * v(b) for a, b in row))
        return sum_of_products(step, v)


def _nonempty(terms: tuple) -> tuple:
    """A sum no term reaches (every query before a key is masked) written as 0."""
    return terms or ((Operand("0", 0.0),),)
