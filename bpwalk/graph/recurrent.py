"""Recurrence: an Elman layer unrolled in time (Rnn), the dense layers after it applied at
each time step (TimeDense), and the loss summed over the output steps (SeqLoss).

The same five methods as the nodes of bpwalk.graph.layers, for the same sweeps
(engine/explain.py). The rows a dense layer after the recurrent one sees are the
recurrent layer's outputs at each output step of each sample, (sample, time) flattened
to one row each, so Dense computes them as it computes samples: TimeDense hands it a
context whose rows are those (`rows`), and sums its per-step gradients over time.

Ids: a quantity at time step t carries ``@t2`` after its id, then the sample's marker
when the batch has several (``dnet:h1@t2@3``); h_0 is ``out:h1@t0``. A parameter's
gradient at one time step is ``grad:rnn1.W_h[1,1]@t2``; its sum over time is
``grad:rnn1.W_h[1,1]`` (``grad:rnn1.W_h[1,1]@3`` for sample 3 of a batch, whose mean or
sum is then ``grad:rnn1.W_h[1,1]``).

Backward through time (BPTT), from the last step to the first:

    dE/dh_t = dE/dy_t·W_y  (from the output at t)
              + Σ_j dE/dh_j(t+1) · act′(net_j(t+1)) · W_h[j,k]  (from the future)
    δ_t = dE/dnet_t = dE/dh_t · act′(net_t)
    dE/dW_x = Σ_t δ_t·x_tᵀ,  dE/dW_h = Σ_t δ_t·h_(t-1)ᵀ,  dE/db = Σ_t δ_t
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from bpwalk.functions import ACTIVATIONS, LOSSES
from bpwalk.graph.layers import Add, Context, Dense, Loss, LossArrays, combine, scaled
from bpwalk.trace import Operand, Step


def time_sfx(t: int, sample_sfx: str) -> str:
    """The id suffix of time step t (1-based) of a sample: @t2, @t2@3."""
    return f"@t{t}{sample_sfx}"


def _time_ids(kind: str, names, sfx: list[str], steps: int) -> np.ndarray:
    """Ids of a per-sample, per-time quantity: (samples, time, names)."""
    return np.array([[[f"{kind}:{n}{time_sfx(t, s)}" for n in names]
                      for t in range(1, steps + 1)] for s in sfx], dtype=object)


class Rows(NamedTuple):
    """A Context whose rows are (sample, output step) pairs: what the layers after a
    recurrent one see. Dense reads it as it reads a Context."""

    r: Any
    inj: Any
    idx: list[int]  # each row's sample index
    sfx: list[str]  # each row's suffix: @t2, or @t2@3 in a batch
    gsfx: list[str]  # the same: a per-row gradient is one time step's term
    samples: list[int | None]
    mean: bool
    scenario: Any
    targets: np.ndarray  # (rows, outputs)
    batch: int  # samples
    times: list[int]  # each row's time step (1-based)


def rows(ctx: Context) -> Rows:
    """The row context of the layers after the recurrent layer, from the update's."""
    sc = ctx.scenario
    steps = sc.x.shape[1]
    out_times = list(range(1, steps + 1)) if sc.layers[0].every else [steps]
    sfx, idx, samples, times = [], [], [], []
    for b, i in enumerate(ctx.idx):
        for t in out_times:
            sfx.append(time_sfx(t, ctx.sfx[b]))
            idx.append(i)
            samples.append(ctx.samples[b])
            times.append(t)
    targets = sc.targets[ctx.idx].reshape(len(sfx), -1)
    return Rows(ctx.r, ctx.inj, idx, sfx, sfx, samples, False, sc, targets, len(ctx.idx),
                times)


def _per_sample(rc: Rows, b: int) -> list[int]:
    """The rows of sample b."""
    n = len(rc.sfx) // rc.batch
    return list(range(b * n, (b + 1) * n))


def _time_sums(add: Add, ctx: Context, li: int, names: list[str], per_time: np.ndarray,
               per_sample: np.ndarray, b: int, times: list[int]) -> None:
    """Sample b's gradient of each parameter as the sum over time of its steps' terms:
    grad:w = Σ_t grad:w@t (grad:w@3 for sample 3 of a batch). `per_time` is (samples,
    time, params), `per_sample` (samples, params)."""
    s, smp = ctx.sfx[b], ctx.samples[b]
    pt, ps = per_time[b].tolist(), per_sample[b].tolist()
    for k, name in enumerate(names):
        ops = tuple((Operand(f"grad:{name}{time_sfx(t, s)}", pt[ti][k]),)
                    for ti, t in enumerate(times))
        add(Step(f"grad:{name}{s}", "backward", "grad", name, li + 1, smp, ps[k], ops,
                 fn="sum", note="the sum over the time steps"))


def _batch_of(add: Add, ctx: Context, li: int, names: list[str], per_sample: np.ndarray,
              grad: np.ndarray) -> None:
    """The batch's gradient of each parameter: the mean or sum of the samples'."""
    sfx, g = ctx.sfx, grad.tolist()
    for k, name in enumerate(names):
        ops = tuple((Operand(f"grad:{name}{sfx[b]}", float(per_sample[b, k])),)
                    for b in range(len(sfx)))
        add(Step(f"grad:{name}", "backward", "grad", name, li + 1, None, g[k], ops,
                 fn=ctx.scenario.reduction, batch=True))


# ----------------------------------------------------------------------------- Rnn


class RnnArrays:
    """A recurrent layer's arrays in an explained update: (samples, time, hidden) unless
    said otherwise."""

    __slots__ = ("a", "dact", "dnet", "dout", "from_out", "grad_b", "grad_w", "h", "net",
                 "out", "per_b", "per_w", "prev", "seq_b", "seq_w", "upd", "w")

    def __init__(self, a: np.ndarray, net: np.ndarray, h: np.ndarray, prev: np.ndarray,
                 out: np.ndarray, w: np.ndarray) -> None:
        self.a = a  # (samples, time, inputs): the sequence
        self.net = net
        self.h = h
        self.prev = prev  # h_(t-1): h0 at t = 1
        self.out = out  # (rows, hidden): h at each output step, what the next layer reads
        self.w = w  # W_x and W_h side by side, from before the update
        # the sweep sets dout to dE/dh from the output layer (rows, hidden); backward moves
        # it to from_out and sets dout to the whole dE/dh_t (samples, time, hidden)
        self.dout: np.ndarray | None = None
        self.from_out: np.ndarray | None = None
        self.dact: np.ndarray | None = None
        self.dnet: np.ndarray | None = None
        self.upd: np.ndarray | None = None  # the mistake "updated weights" (unused here)
        self.per_w: np.ndarray | None = None  # (samples, time, hidden, inputs + hidden)
        self.per_b: np.ndarray | None = None  # (samples, time, hidden) or (..., 0)
        self.seq_w: np.ndarray | None = None  # (samples, hidden, inputs + hidden): Σ_t
        self.seq_b: np.ndarray | None = None
        self.grad_w: np.ndarray | None = None
        self.grad_b: np.ndarray | None = None


class Rnn:
    """An Elman layer unrolled in time: net_t = W_x·x_t + W_h·h_(t-1) + b, h_t = act(net_t).

    Backward from the last step to the first: dE/dh_t from the output at t and from the
    future through W_h (the recurrent path), δ_t = dE/dh_t·act′(net_t), and each
    parameter's gradient the sum over time of δ_t times what it carries at t."""

    KINDS = ("net", "out", "dact", "dnet", "grad", "dout")
    reshape = False

    __slots__ = ("index", "inputs", "lay", "src")

    def __init__(self, index: int, lay: Any, inputs: tuple[str, ...]) -> None:
        self.index, self.lay, self.inputs, self.src = index, lay, inputs, "in"

    @property
    def names(self) -> tuple[str, ...]:
        return self.lay.neurons

    def _wx_wh(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return w[:, :self.lay.n_in], w[:, self.lay.n_in:]

    # ---- forward

    def forward(self, ctx: Context, w: np.ndarray, b: np.ndarray, a: np.ndarray) -> RnnArrays:
        """h_t for t = 1..T, each from x_t and h_(t-1)."""
        r, inj, lay = ctx.r, ctx.inj, self.lay
        wx, wh = self._wx_wh(w)
        act = ACTIVATIONS[lay.activation]
        B, T = a.shape[0], a.shape[1]
        names = lay.neurons
        h_prev = np.broadcast_to(lay.h0, (B, len(names)))
        nets, hs, prevs = [], [], []
        for t in range(T):
            net = a[:, t] @ wx.T + h_prev @ wh.T
            if b.size:
                net = net + b
            sfx_t = [time_sfx(t + 1, s) for s in ctx.sfx]
            net = r(inj(lambda s=sfx_t: _row_ids("net", names, s), net, scaled(net)))
            h = act.value(net, lay.slope)
            h = r(inj(lambda s=sfx_t: _row_ids("out", names, s), h, {
                "sign": lambda h=h: -h, "activation_left_out": lambda n=net: n}))
            prevs.append(h_prev)
            nets.append(net)
            hs.append(h)
            h_prev = h
        net_a, h_a, prev_a = np.stack(nets, 1), np.stack(hs, 1), np.stack(prevs, 1)
        sel = h_a if lay.every else h_a[:, -1:]
        return RnnArrays(a, net_a, h_a, prev_a, sel.reshape(-1, len(names)), w)

    # ---- backward

    def backward(self, ctx: Context, arr: RnnArrays) -> None:
        """BPTT, from the last time step to the first (arr.dout: dE/dh from the output)."""
        r, inj, lay = ctx.r, ctx.inj, self.lay
        act = ACTIVATIONS[lay.activation]
        wh = self._wx_wh(arr.w)[1]
        arr.from_out = arr.dout
        h = arr.h
        B, T, H = h.shape
        g_out = np.zeros_like(h)
        if lay.every:
            g_out[:] = arr.from_out.reshape(B, T, H)
        else:
            g_out[:, -1] = arr.from_out.reshape(B, H)
        dact_all = act.derivative(arr.net, h, lay.slope)
        douts, dacts, dnets = [None] * T, [None] * T, [None] * T
        for t in range(T - 1, -1, -1):
            sfx_t = [time_sfx(t + 1, s) for s in ctx.sfx]
            if t + 1 < T:
                fut = (douts[t + 1] * dacts[t + 1]) @ wh
                d = g_out[:, t] + fut
                variants = {**scaled(d), "bptt_truncated": lambda t=t: g_out[:, t],
                            "dact_wrong_time": lambda t=t: g_out[:, t] + (
                                douts[t + 1] * r(dact_all[:, t])) @ wh}
            else:
                d = g_out[:, t]
                variants = scaled(d)
            douts[t] = r(inj(lambda s=sfx_t: _row_ids("dout", lay.neurons, s), d, variants))
            da = dact_all[:, t]
            dacts[t] = r(inj(lambda s=sfx_t: _row_ids("dact", lay.neurons, s), da,
                             {"sign": lambda da=da: -da}))
            p = douts[t] * dacts[t]
            dnets[t] = r(inj(lambda s=sfx_t: _row_ids("dnet", lay.neurons, s), p, scaled(p)))
        arr.dout, arr.dact, arr.dnet = (np.stack(douts, 1), np.stack(dacts, 1),
                                        np.stack(dnets, 1))
        self._gradients(ctx, arr)

    def _gradients(self, ctx: Context, arr: RnnArrays) -> None:
        r, inj, lay, mean = ctx.r, ctx.inj, self.lay, ctx.mean
        B, T = arr.dnet.shape[:2]
        carried = np.concatenate([arr.a, arr.prev], axis=2)  # (B, T, inputs + hidden)
        names = [n for row in lay.weight_names for n in row]
        gw = arr.dnet[:, :, :, None] * carried[:, :, None, :]  # (B, T, H, I + H)
        arr.per_w = r(inj(lambda: _time_ids("grad", names, ctx.sfx, T).reshape(gw.shape), gw,
                          scaled(gw)))
        total = arr.per_w.sum(axis=1)
        gsfx = ctx.sfx
        arr.seq_w = r(inj(lambda: np.array([[[f"grad:{n}{s}" for n in row]
                                             for row in lay.weight_names] for s in gsfx],
                                           dtype=object), total,
                          {**scaled(total), "wh_last_step_only": lambda: arr.per_w[:, -1]}))
        arr.grad_w = combine(arr.seq_w, mean, r, inj, lambda: np.array(
            [[f"grad:{n}" for n in row] for row in lay.weight_names], dtype=object))
        if lay.bias == "none" or not ctx.scenario.update_biases:
            arr.per_b = np.zeros((B, T, 0))
            arr.seq_b = np.zeros((B, 0))
            arr.grad_b = np.zeros(0)
            return
        gb = arr.dnet * 1.0
        arr.per_b = r(inj(lambda: _time_ids("grad", lay.bias_names, ctx.sfx, T), gb, scaled(gb)))
        tb = arr.per_b.sum(axis=1)
        arr.seq_b = r(inj(lambda: np.array([[f"grad:{n}{s}" for n in lay.bias_names]
                                            for s in gsfx], dtype=object), tb,
                          {**scaled(tb), "wh_last_step_only": lambda: arr.per_b[:, -1]}))
        arr.grad_b = combine(arr.seq_b, mean, r, inj, lambda: np.array(
            [f"grad:{n}" for n in lay.bias_names], dtype=object))

    def input_gradient(self, ctx: Context, arr: RnnArrays, w, upstream, up) -> np.ndarray:
        raise NotImplementedError("dE/d(input) through an rnn layer")  # refused by validate

    # ---- steps

    def forward_steps(self, add: Add, ctx: Context, arr: RnnArrays, w: np.ndarray,
                      bias: np.ndarray, b: int) -> None:
        """Sample b's net and h of each hidden unit at each time step, in time order."""
        lay, li = self.lay, self.index
        s, smp = ctx.sfx[b], ctx.samples[b]
        wl, bl = w.tolist(), bias.tolist()
        x, prev = arr.a[b].tolist(), arr.prev[b].tolist()
        net, h = arr.net[b].tolist(), arr.h[b].tolist()
        n_in = lay.n_in
        for t in range(len(net)):
            st = time_sfx(t + 1, s)
            sp = time_sfx(t, s)
            for j, name in enumerate(lay.neurons):
                ops = tuple((Operand("param:" + lay.weight_names[j][i], wl[j][i]),
                             Operand(f"in:{self.inputs[i]}{st}", x[t][i])) for i in range(n_in))
                ops += tuple((Operand("param:" + lay.weight_names[j][n_in + k], wl[j][n_in + k]),
                              Operand(f"out:{hk}{sp}", prev[t][k]))
                             for k, hk in enumerate(lay.neurons))
                if lay.bias != "none":
                    ops += ((Operand("param:" + lay.bias_names[j], bl[j]), Operand("1", 1.0)),)
                add(Step(f"net:{name}{st}", "forward", "net", name, li + 1, smp, net[t][j], ops,
                         note=("h at t0 is h0" if t == 0 else "")))
                add(Step(f"out:{name}{st}", "forward", "out", name, li + 1, smp, h[t][j],
                         ((Operand(f"net:{name}{st}", net[t][j]),),), fn=lay.activation))

    def backward_steps(self, add: Add, ctx: Context, arr: RnnArrays, b: int,
                       downstream: Any, down: Any, w_down: np.ndarray | None) -> None:
        """Sample b's backward through time, from the last step to the first: at each
        step dE/dh (from the output and from the future), act′, δ and the step's
        gradient terms; then each parameter's gradient, the sum over time."""
        lay, li = self.lay, self.index
        s, smp = ctx.sfx[b], ctx.samples[b]
        dout, dact, dnet = arr.dout[b].tolist(), arr.dact[b].tolist(), arr.dnet[b].tolist()
        net, h = arr.net[b].tolist(), arr.h[b].tolist()
        T = len(net)
        n_in = lay.n_in
        wl = arr.w.tolist()
        rc = rows(ctx)
        mine = _per_sample(rc, b)
        row_at = {rc.times[k]: k for k in mine}
        dn_down = down.dnet.tolist()
        wd = w_down.tolist()
        out_names = downstream.lay.neurons
        a = arr.a[b].tolist()
        prev = arr.prev[b].tolist()
        pw = arr.per_w[b].tolist()
        pb = arr.per_b[b].tolist()
        for t in range(T - 1, -1, -1):
            st, sn = time_sfx(t + 1, s), time_sfx(t + 2, s)
            for k, name in enumerate(lay.neurons):
                ops: tuple = ()
                if t + 1 in row_at:  # from the output at t: Σ_j δ_j(t)·w_jk
                    rw = row_at[t + 1]
                    ops += tuple((Operand(f"dnet:{o}{rc.sfx[rw]}", dn_down[rw][j]),
                                  Operand("param:" + downstream.lay.weight_names[j][k],
                                          wd[j][k])) for j, o in enumerate(out_names))
                if t + 1 < T:  # from the future: Σ_j dE/dh_j(t+1)·act′_j(t+1)·W_h[j,k]
                    ops += tuple((Operand(f"dout:{hj}{sn}", dout[t + 1][j]),
                                  Operand(f"dact:{hj}{sn}", dact[t + 1][j]),
                                  Operand("param:" + lay.weight_names[j][n_in + k],
                                          wl[j][n_in + k]))
                                 for j, hj in enumerate(lay.neurons))
                note = ("from the output at this step and from the next step through W_h"
                        if t + 1 in row_at and t + 1 < T else
                        "from the next step through W_h" if t + 1 < T else
                        "from the output at this step")
                add(Step(f"dout:{name}{st}", "backward", "dout", name, li + 1, smp,
                         dout[t][k], ops, fn="sum", note=note))
                add(Step(f"dact:{name}{st}", "backward", "dact", name, li + 1, smp,
                         dact[t][k], ((Operand(f"net:{name}{st}", net[t][k]),),
                                      (Operand(f"out:{name}{st}", h[t][k]),)),
                         fn=lay.activation))
                add(Step(f"dnet:{name}{st}", "backward", "dnet", name, li + 1, smp,
                         dnet[t][k], ((Operand(f"dout:{name}{st}", dout[t][k]),
                                       Operand(f"dact:{name}{st}", dact[t][k])),),
                         fn=lay.activation))
            carried = [Operand(f"in:{self.inputs[i]}{st}", a[t][i]) for i in range(n_in)] + \
                      [Operand(f"out:{hk}{time_sfx(t, s)}", prev[t][k])
                       for k, hk in enumerate(lay.neurons)]
            for j, row in enumerate(lay.weight_names):
                d = Operand(f"dnet:{lay.neurons[j]}{st}", dnet[t][j])
                for i, wn in enumerate(row):
                    add(Step(f"grad:{wn}{st}", "backward", "grad", wn, li + 1, smp,
                             pw[t][j][i], ((d, Operand(f"wrt:{lay.neurons[j]}/{wn}{st}",
                                                       carried[i].value)),),
                             aux=(carried[i], d)))
            for j, bn in enumerate(lay.bias_names if arr.per_b.shape[-1] else ()):
                d = Operand(f"dnet:{lay.neurons[j]}{st}", dnet[t][j])
                add(Step(f"grad:{bn}{st}", "backward", "grad", bn, li + 1, smp, pb[t][j],
                         ((d, Operand(f"wrt:{lay.neurons[j]}/{bn}{st}", 1.0)),),
                         aux=(Operand("1", 1.0), d)))
        self._parameter_sums(add, ctx, arr, b, T)

    def _parameter_sums(self, add: Add, ctx: Context, arr: Any, b: int, T: int) -> None:
        """Sample b's gradient of each weight and bias: the sum over its T time steps."""
        lay, li, times = self.lay, self.index, list(range(1, T + 1))
        names = [n for row in lay.weight_names for n in row]
        _time_sums(add, ctx, li, names, arr.per_w.reshape(*arr.per_w.shape[:2], -1),
                   arr.seq_w.reshape(len(ctx.sfx), -1), b, times)
        if arr.per_b.shape[-1]:
            _time_sums(add, ctx, li, list(lay.bias_names), arr.per_b, arr.seq_b, b, times)

    def batch_steps(self, add: Add, ctx: Context, arr: RnnArrays) -> None:
        lay = self.lay
        names = [n for row in lay.weight_names for n in row]
        _batch_of(add, ctx, self.index, names, arr.seq_w.reshape(len(ctx.sfx), -1),
                  arr.grad_w.ravel())
        if arr.seq_b.shape[-1]:
            _batch_of(add, ctx, self.index, list(lay.bias_names), arr.seq_b, arr.grad_b)

    evaluate = staticmethod(Dense.evaluate)


def _row_ids(kind: str, names, sfx: list[str]) -> np.ndarray:
    return np.array([[f"{kind}:{n}{s}" for n in names] for s in sfx], dtype=object)



class _NoInject:
    """No mistakes: the part of dE/dh that comes from the output layer is one term of the
    recurrent layer's dout, which takes the mistakes aimed at it (not twice)."""

    mistakes = ()

    def __call__(self, ids, right: np.ndarray, variants: dict) -> np.ndarray:
        return right


# ----------------------------------------------------------------------------- TimeDense


class TimeDense(Dense):
    """A dense layer after a recurrent one, applied at each output step: Dense on the rows
    of (sample, time step), its gradient the sum over time of the steps' terms."""

    __slots__ = ("seq_b", "seq_w")

    def forward(self, ctx: Context, w: np.ndarray, b: np.ndarray, a: np.ndarray):
        return Dense.forward(self, rows(ctx), w, b, a)

    def backward(self, ctx: Context, arr) -> None:
        Dense.backward(self, rows(ctx), arr)

    def _gradients(self, rc: Rows, arr, wrong: dict) -> None:
        """Each row's terms (Dense's), then each sample's sum over time and the batch's."""
        Dense._gradients(self, rc, arr, wrong)
        r, inj, lay, B = rc.r, rc.inj, self.lay, rc.batch
        ssfx = _sample_sfx(rc)
        mean = rc.scenario.reduction == "mean"
        n = len(rc.sfx) // B
        pw = arr.per_w.reshape(B, n, *arr.per_w.shape[1:])
        total = pw.sum(axis=1)
        self.seq_w = r(inj(lambda: np.array([[[f"grad:{w}{s}" for w in row]
                                              for row in lay.weight_names] for s in ssfx],
                                            dtype=object), total,
                           {**scaled(total), "wh_last_step_only": lambda: pw[:, -1]}))
        arr.grad_w = combine(self.seq_w, mean, r, inj, lambda: np.array(
            [[f"grad:{w}" for w in row] for row in lay.weight_names], dtype=object))
        if not arr.per_b.size:
            self.seq_b = np.zeros((B, 0))
            return
        pb = arr.per_b.reshape(B, n, -1)
        tb = pb.sum(axis=1)
        self.seq_b = r(inj(lambda: np.array([[f"grad:{x}{s}" for x in lay.bias_names]
                                             for s in ssfx], dtype=object), tb,
                           {**scaled(tb), "wh_last_step_only": lambda: pb[:, -1]}))
        arr.grad_b = combine(self.seq_b, mean, r, inj, lambda: np.array(
            [f"grad:{x}" for x in lay.bias_names], dtype=object))

    def input_gradient(self, ctx: Context, arr, w: np.ndarray, upstream, up) -> np.ndarray:
        rc = rows(ctx)
        if isinstance(upstream, Rnn):  # one term of the recurrent layer's dout
            rc = rc._replace(inj=_NoInject())
        return Dense.input_gradient(self, rc, arr, w, upstream, up)

    def forward_steps(self, add: Add, ctx: Context, arr, w: np.ndarray, bias: np.ndarray,
                      b: int) -> None:
        rc = rows(ctx)
        for k in _per_sample(rc, b):
            Dense.forward_steps(self, add, rc, arr, w, bias, k)

    def backward_steps(self, add: Add, ctx: Context, arr, b: int, downstream: Any, down: Any,
                       w_down: np.ndarray | None) -> None:
        """Sample b's rows from the last time step to the first, then each parameter's
        gradient as the sum over time."""
        rc = rows(ctx)
        mine = _per_sample(rc, b)
        for k in reversed(mine):
            Dense.backward_steps(self, add, rc, arr, k, downstream, down, w_down)
        if len(mine) == 1 and rc.batch == 1:
            return  # one output step of one sample: its term is the gradient
        lay = self.lay
        times = [rc.times[k] for k in mine]
        B, n = rc.batch, len(mine)
        names = [x for row in lay.weight_names for x in row]
        _time_sums(add, ctx, self.index, names, arr.per_w.reshape(B, n, -1),
                   self.seq_w.reshape(B, -1), b, times)
        if arr.per_b.size:
            _time_sums(add, ctx, self.index, list(lay.bias_names),
                       arr.per_b.reshape(B, n, -1), self.seq_b, b, times)

    def dout_steps(self, ctx: Context, b: int, up: Any, up_arr: Any, arr, w: np.ndarray):
        return Dense.dout_steps(self, rows(ctx), b, up, up_arr, arr, w)

    def batch_steps(self, add: Add, ctx: Context, arr) -> None:
        lay = self.lay
        names = [x for row in lay.weight_names for x in row]
        _batch_of(add, ctx, self.index, names, self.seq_w.reshape(len(ctx.sfx), -1),
                  arr.grad_w.ravel())
        if arr.per_b.size:
            _batch_of(add, ctx, self.index, list(lay.bias_names), self.seq_b, arr.grad_b)


def _sample_sfx(rc: Rows) -> list[str]:
    """Each sample's own suffix (@3), or "" when the batch has one sample."""
    return [f"@{rc.idx[b * (len(rc.sfx) // rc.batch)] + 1}" if rc.batch > 1 else ""
            for b in range(rc.batch)]


# ----------------------------------------------------------------------------- SeqLoss


class SeqLoss(Loss):
    """The loss of a sequence: a term per output per output step, each sample's loss their
    sum over time and outputs, the batch's the mean or sum of the samples'. `direct`: the
    recurrent layer's h is the output (no dense layer after it); the loss's derivative is
    then one term of its dE/dh, a step of its own (``dloss:h@t2``)."""

    __slots__ = ("direct",)

    def __init__(self, name: str, outputs: tuple[str, ...], direct: bool = False) -> None:
        super().__init__(name, outputs)
        self.direct = direct

    def forward(self, ctx: Context, out: np.ndarray) -> LossArrays:
        rc = rows(ctx)
        r, inj, t = rc.r, rc.inj, rc.targets
        terms = LOSSES[self.name].term(out, t, t.shape[1])
        terms = r(inj(lambda: _row_ids("loss", self.outputs, rc.sfx), terms, scaled(terms)))
        per_sample = terms.reshape(rc.batch, -1).sum(axis=1)
        ssfx = _sample_sfx(rc)
        per_sample = r(inj(lambda: np.array([f"loss{s}" for s in ssfx], dtype=object),
                           per_sample, scaled(per_sample)))
        batch = float(per_sample[0])
        if rc.batch > 1:
            mean = ctx.scenario.reduction == "mean"
            combined = np.array(per_sample.mean() if mean else per_sample.sum())
            other = np.array(per_sample.sum() if mean else per_sample.mean())
            batch = float(r(inj(lambda: np.array("loss", dtype=object), combined,
                                {**scaled(combined), "reduction": lambda: other})))
        return LossArrays(terms, per_sample, batch)

    def input_gradient(self, ctx: Context, out: np.ndarray) -> np.ndarray:
        rc = rows(ctx)
        t = rc.targets
        dout = LOSSES[self.name].derivative(out, t, t.shape[1])
        kind = "dloss" if self.direct else "dout"
        return rc.r(rc.inj(lambda: _row_ids(kind, self.outputs, rc.sfx), dout, scaled(dout)))

    def steps(self, add: Add, ctx: Context, loss: LossArrays, out: np.ndarray,
              layer: int) -> None:
        """Each output step's loss terms, each sample's sum over time and outputs, then
        the batch's."""
        rc = rows(ctx)
        ssfx = _sample_sfx(rc)
        for b in range(rc.batch):
            ops = []
            for k in _per_sample(rc, b):
                s, smp = rc.sfx[k], rc.samples[k]
                o, tt, term = out[k].tolist(), rc.targets[k].tolist(), loss.terms[k].tolist()
                for j, name in enumerate(self.outputs):
                    add(Step(f"loss:{name}{s}", "loss", "loss", name, layer, smp, term[j],
                             ((Operand(f"target:{name}{s}", tt[j]),),
                              (Operand(f"out:{name}{s}", o[j]),)), fn=self.name,
                             aux=self.k_aux))
                    ops.append((Operand(f"loss:{name}{s}", term[j]),))
            add(Step(f"loss{ssfx[b]}", "loss", "loss", "", None, ctx.samples[b],
                     float(loss.per_sample[b]), tuple(ops), fn="sum",
                     note="summed over the time steps and outputs"))
        if rc.batch > 1:
            add(Step("loss", "loss", "loss", "", None, None, loss.batch,
                     tuple((Operand(f"loss{ssfx[b]}", float(loss.per_sample[b])),)
                           for b in range(rc.batch)),
                     fn=ctx.scenario.reduction, batch=True))

    def dout_steps(self, ctx: Any, b: int, up: Any, up_arr: Any, arr: Any = None,
                   w: Any = None) -> list[Step]:
        """Row b's dE/dout of each output (ctx: the rows of TimeDense)."""
        s, smp, li = ctx.sfx[b], ctx.samples[b], up.index
        tt = ctx.targets[b].tolist()
        out, dout = up_arr.out[b].tolist(), up_arr.dout[b].tolist()
        return [Step(f"dout:{name}{s}", "backward", "dout", name, li + 1, smp, dout[j],
                     ((Operand(f"target:{name}{s}", tt[j]),), (Operand(f"out:{name}{s}", out[j]),)),
                     fn=self.name, aux=self.k_aux, output=True)
                for j, name in enumerate(up.names)]


# ----------------------------------------------------------------------------- Lstm


class LstmArrays:
    """An LSTM layer's arrays in an explained update: (samples, time, 4·hidden) for the
    gates (columns i's, f's, g's, o's, as torch's rows), (samples, time, hidden) for the
    rest, unless said otherwise."""

    __slots__ = ("a", "c", "c_prev", "dact", "dact_c", "dc", "dgate", "dnet", "dout", "dtc",
                 "from_out", "gate", "grad_b", "grad_w", "h", "net", "out", "per_b", "per_w", "prev",
                 "seq_b", "seq_w", "tc", "upd", "w")

    def __init__(self, a, net, gate, c, c_prev, tc, h, prev, out, w) -> None:
        self.a = a  # (samples, time, inputs): the sequence
        self.net = net  # the gates' nets
        self.gate = gate  # their outs: σ(net) for i, f, o and tanh(net) for g
        self.c = c  # the cell state c_t (the cell's net)
        self.c_prev = c_prev  # c_(t-1): c0 at t = 1
        self.tc = tc  # tanh(c_t) (the cell's out)
        self.h = h  # h_t = o⊙tanh(c_t)
        self.prev = prev  # h_(t-1): h0 at t = 1
        self.out = out  # (rows, hidden): h at each output step, what the next layer reads
        self.w = w  # W_x and W_h side by side, from before the update
        # the sweep sets dout to dE/dh from the output (rows, hidden); backward moves it to
        # from_out and sets dout to the whole dE/dh_t
        self.dout = None
        self.from_out = None
        self.dact = None  # the gates' dout/dnet
        self.dnet = None  # the gates' deltas, (samples, time, 4·hidden)
        self.dc = None  # dE/dc_t (the cell's delta): through h_t and through c_(t+1)
        self.dact_c = None  # tanh′(c_t) = 1 − tanh²(c_t)
        self.dgate = None  # the gates' dE/dout: dE/di, dE/df, dE/dg, dE/do
        self.dtc = None  # dE/d tanh(c_t) (the cell's dout)
        self.upd = None
        self.per_w = self.per_b = self.seq_w = self.seq_b = None
        self.grad_w = self.grad_b = None


def _gate_fns(n: int) -> tuple[list[str], np.ndarray]:
    """Each of the 4·n gate columns' activation, and a mask of the tanh ones (g's)."""
    fns = [fn for fn in ("sigmoid", "sigmoid", "tanh", "sigmoid") for _ in range(n)]
    return fns, np.array([f == "tanh" for f in fns])


class Lstm(Rnn):
    """An LSTM cell unrolled in time (torch's nn.LSTM, one layer, batch_first): for each
    gate q, net_q = W_x[q]·x_t + W_h[q]·h_(t-1) + b[q]; i, f, o = σ(net), g = tanh(net);
    c_t = f⊙c_(t-1) + i⊙g; h_t = o⊙tanh(c_t).

    Backward from the last step to the first:
        dE/dh_t = from the output at t + Σ_q Σ_j δ_qj(t+1)·W_h[qj, k]  (from the future)
        dE/do = dE/dh·tanh(c),  dE/dtanh(c) = dE/dh·o,  tanh′(c) = 1 − tanh²(c)
        dE/dc_t = dE/dtanh(c_t)·tanh′(c_t) + dE/dc_(t+1)·f_(t+1)  (c's two paths: through
                  h_t and, by the forget gate, through c_(t+1))
        dE/df = dE/dc·c_(t-1),  dE/di = dE/dc·g,  dE/dg = dE/dc·i
        δ_q = dE/dq·q′(net_q);  dE/dW = Σ_t δ_t·[x_t; h_(t-1)]ᵀ,  dE/db = Σ_t δ_t
    The cell's steps: net:c (c_t), out:c (tanh c_t), dout:c, dact:c, dnet:c (dE/dc_t)."""

    KINDS = ("net", "out", "dact", "dnet", "grad", "dout", "dloss")

    __slots__ = ()

    # ---- forward

    def forward(self, ctx: Context, w: np.ndarray, b: np.ndarray, a: np.ndarray) -> LstmArrays:
        r, inj, lay = ctx.r, ctx.inj, self.lay
        wx, wh = self._wx_wh(w)
        n = len(lay.neurons)
        B, T = a.shape[0], a.shape[1]
        is_g = _gate_fns(n)[1]
        rows_ = lay.rows
        h_prev = np.broadcast_to(lay.h0, (B, n))
        c_prev = np.broadcast_to(lay.c0, (B, n))
        nets, gates, cs, cps, tcs, hs, prevs = [], [], [], [], [], [], []
        for t in range(T):
            sfx_t = [time_sfx(t + 1, s) for s in ctx.sfx]
            net = a[:, t] @ wx.T + h_prev @ wh.T  # (B, 4n)
            if b.size:
                net = net + b
            net = r(inj(lambda s=sfx_t: _row_ids("net", rows_, s), net, scaled(net)))
            q = np.where(is_g, np.tanh(net), ACTIVATIONS["sigmoid"].value(net, 0.0))
            q = r(inj(lambda s=sfx_t: _row_ids("out", rows_, s), q, {
                "sign": lambda q=q: -q, "activation_left_out": lambda n_=net: n_}))
            i, f, g, o = (q[:, k * n:(k + 1) * n] for k in range(4))
            c = f * c_prev + i * g
            c = r(inj(lambda s=sfx_t: _row_ids("net", lay.cells, s), c, scaled(c)))
            tc = np.tanh(c)
            tc = r(inj(lambda s=sfx_t: _row_ids("out", lay.cells, s), tc, {
                "sign": lambda tc=tc: -tc, "activation_left_out": lambda c=c: c}))
            h = o * tc
            h = r(inj(lambda s=sfx_t: _row_ids("out", lay.neurons, s), h, scaled(h)))
            nets.append(net)
            gates.append(q)
            cps.append(c_prev)
            cs.append(c)
            tcs.append(tc)
            prevs.append(h_prev)
            hs.append(h)
            h_prev, c_prev = h, c
        h_a = np.stack(hs, 1)
        sel = h_a if lay.every else h_a[:, -1:]
        return LstmArrays(a, np.stack(nets, 1), np.stack(gates, 1), np.stack(cs, 1),
                          np.stack(cps, 1), np.stack(tcs, 1), h_a, np.stack(prevs, 1),
                          sel.reshape(-1, n), w)

    # ---- backward

    def backward(self, ctx: Context, arr: LstmArrays) -> None:
        """BPTT through the cell, from the last time step to the first."""
        r, inj, lay = ctx.r, ctx.inj, self.lay
        wh = self._wx_wh(arr.w)[1]
        n = len(lay.neurons)
        is_g = _gate_fns(n)[1]
        arr.from_out = arr.dout
        B, T, _ = arr.h.shape
        g_out = np.zeros_like(arr.h)
        if lay.every:
            g_out[:] = arr.from_out.reshape(B, T, n)
        else:
            g_out[:, -1] = arr.from_out.reshape(B, n)
        q_all = arr.gate
        dq_all = np.where(is_g, 1.0 - q_all ** 2, q_all * (1.0 - q_all))  # σ′ = σ(1 − σ)
        dh_, dtc_, dact_c_, dc_, dgate_, dact_, dnet_ = ([None] * T for _ in range(7))
        rows_ = lay.rows
        for t in range(T - 1, -1, -1):
            sfx_t = [time_sfx(t + 1, s) for s in ctx.sfx]

            def ids(kind: str, names, s=sfx_t):
                return lambda: _row_ids(kind, names, s)

            if t + 1 < T:
                dh = g_out[:, t] + dnet_[t + 1] @ wh
                variants = {**scaled(dh), "bptt_truncated": lambda t=t: g_out[:, t]}
            else:
                dh = g_out[:, t]
                variants = scaled(dh)
            dh = r(inj(ids("dout", lay.neurons), dh, variants))
            q = q_all[:, t]
            i, _, g, o = (q[:, k * n:(k + 1) * n] for k in range(4))
            tc = arr.tc[:, t]
            do = r(inj(ids("dout", lay.gates[3]), dh * tc, scaled(dh * tc)))
            dtc = r(inj(ids("dout", lay.cells), dh * o, scaled(dh * o)))
            da_c = 1.0 - tc ** 2
            da_c = r(inj(ids("dact", lay.cells), da_c, {"sign": lambda d=da_c: -d}))
            through_h = dtc * da_c
            if t + 1 < T:  # the forget path: c_t feeds c_(t+1) = f_(t+1)⊙c_t + ...
                f_next = q_all[:, t + 1, n:2 * n]
                dc = through_h + dc_[t + 1] * f_next
                variants = {**scaled(dc), "forget_path_left_out": lambda x=through_h: x}
            else:
                dc = through_h
                variants = scaled(dc)
            dc = r(inj(ids("dnet", lay.cells), dc, variants))
            c_prev = arr.c_prev[:, t]
            dgate = np.concatenate([dc * g, dc * c_prev, dc * i, do], axis=1)  # dE/di, df, dg, do
            dgate = np.concatenate([
                r(inj(ids("dout", lay.gates[k]), dgate[:, k * n:(k + 1) * n],
                      scaled(dgate[:, k * n:(k + 1) * n]))) if k < 3 else do
                for k in range(4)], axis=1)
            da = dq_all[:, t]
            da = r(inj(ids("dact", rows_), da, {"sign": lambda d=da: -d}))
            p = dgate * da
            dn = r(inj(ids("dnet", rows_), p, {**scaled(p), "dact_left_out": lambda d=dgate: d}))
            dh_[t], dtc_[t], dact_c_[t], dc_[t], dact_[t], dnet_[t] = dh, dtc, da_c, dc, da, dn
            dgate_[t] = dgate
        arr.dout, arr.dtc, arr.dact_c, arr.dc = (np.stack(x, 1) for x in (dh_, dtc_, dact_c_,
                                                                          dc_))
        arr.dgate, arr.dact, arr.dnet = (np.stack(x, 1) for x in (dgate_, dact_, dnet_))
        self._gradients(ctx, arr)

    # ---- steps

    def forward_steps(self, add: Add, ctx: Context, arr: LstmArrays, w: np.ndarray,
                      bias: np.ndarray, b: int) -> None:
        """Sample b's gates, c and h of each hidden unit at each time step, in time order."""
        lay, li = self.lay, self.index
        s, smp = ctx.sfx[b], ctx.samples[b]
        n, n_in = len(lay.neurons), lay.n_in
        fns = _gate_fns(n)[0]
        wl, bl = w.tolist(), bias.tolist()
        x, prev = arr.a[b].tolist(), arr.prev[b].tolist()
        net, q = arr.net[b].tolist(), arr.gate[b].tolist()
        c, tc, h = arr.c[b].tolist(), arr.tc[b].tolist(), arr.h[b].tolist()
        c_prev = arr.c_prev[b].tolist()
        for t in range(len(net)):
            st, sp = time_sfx(t + 1, s), time_sfx(t, s)
            for j, name in enumerate(lay.neurons):
                for k in range(4):
                    r, cell = k * n + j, lay.gates[k][j]
                    ops = tuple((Operand("param:" + lay.weight_names[r][i], wl[r][i]),
                                 Operand(f"in:{self.inputs[i]}{st}", x[t][i]))
                                for i in range(n_in))
                    ops += tuple((Operand("param:" + lay.weight_names[r][n_in + m],
                                          wl[r][n_in + m]),
                                  Operand(f"out:{hm}{sp}", prev[t][m]))
                                 for m, hm in enumerate(lay.neurons))
                    if lay.bias != "none":
                        ops += ((Operand("param:" + lay.bias_names[r], bl[r]),
                                 Operand("1", 1.0)),)
                    add(Step(f"net:{cell}{st}", "forward", "net", cell, li + 1, smp,
                             net[t][r], ops, note=("h at t0 is h0" if t == 0 and k == 0
                                                   else "")))
                    add(Step(f"out:{cell}{st}", "forward", "out", cell, li + 1, smp, q[t][r],
                             ((Operand(f"net:{cell}{st}", net[t][r]),),), fn=fns[r]))
                i, f, g, o = (lay.gates[k][j] for k in range(4))
                cj = lay.cells[j]
                add(Step(f"net:{cj}{st}", "forward", "net", cj, li + 1, smp, c[t][j],
                         ((Operand(f"out:{f}{st}", q[t][n + j]),
                           Operand(f"net:{cj}{sp}", c_prev[t][j])),
                          (Operand(f"out:{i}{st}", q[t][j]),
                           Operand(f"out:{g}{st}", q[t][2 * n + j]))),
                         note=("the cell state: c = f times c at t - 1 plus i times g" +
                               ("; c at t0 is c0" if t == 0 else ""))))
                add(Step(f"out:{cj}{st}", "forward", "out", cj, li + 1, smp, tc[t][j],
                         ((Operand(f"net:{cj}{st}", c[t][j]),),), fn="tanh"))
                add(Step(f"out:{name}{st}", "forward", "out", name, li + 1, smp, h[t][j],
                         ((Operand(f"out:{o}{st}", q[t][3 * n + j]),
                           Operand(f"out:{cj}{st}", tc[t][j])),), fn="product",
                         note="h = o times tanh(c)"))

    def backward_steps(self, add: Add, ctx: Context, arr: LstmArrays, b: int,
                       downstream: Any, down: Any, w_down: np.ndarray | None) -> None:
        """Sample b's backward through time, from the last step to the first: at each step
        dE/dh (from the output and from the next step through the gates), then o, the
        cell c (through h and through c at the next step), f, i and g, and the step's
        gradient terms; then each parameter's gradient, the sum over time."""
        lay, li = self.lay, self.index
        s, smp = ctx.sfx[b], ctx.samples[b]
        n, n_in = len(lay.neurons), lay.n_in
        fns = _gate_fns(n)[0]
        rows_ = lay.rows
        T = arr.h.shape[1]
        wl = arr.w.tolist()
        rc = rows(ctx)
        row_at = {rc.times[k]: k for k in _per_sample(rc, b)}
        direct = isinstance(downstream, Loss)
        from_out = arr.from_out.tolist()
        if not direct:
            dn_down, wd = down.dnet.tolist(), w_down.tolist()
        dh, dtc, dact_c, dc = (x[b].tolist() for x in (arr.dout, arr.dtc, arr.dact_c, arr.dc))
        dgate, dact, dnet = (x[b].tolist() for x in (arr.dgate, arr.dact, arr.dnet))
        net, q, c, tc = (x[b].tolist() for x in (arr.net, arr.gate, arr.c, arr.tc))
        c_prev = arr.c_prev[b].tolist()
        a, prev = arr.a[b].tolist(), arr.prev[b].tolist()
        pw, pb = arr.per_w[b].tolist(), arr.per_b[b].tolist()

        def op(kind: str, name: str, sfx: str, value: float) -> Operand:
            return Operand(f"{kind}:{name}{sfx}", value)

        for t in range(T - 1, -1, -1):
            st, sn, sp = time_sfx(t + 1, s), time_sfx(t + 2, s), time_sfx(t, s)
            for k, name in enumerate(lay.neurons):
                ops: tuple = ()
                if t + 1 in row_at:  # from the output at t
                    rw = row_at[t + 1]
                    if direct:  # h_t is an output: the loss term's own derivative
                        tt, out = rc.targets[rw].tolist(), arr.out[rw].tolist()
                        add(Step(f"dloss:{name}{rc.sfx[rw]}", "backward", "dloss", name,
                                 li + 1, smp, from_out[rw][k],
                                 ((op("target", name, rc.sfx[rw], tt[k]),),
                                  (op("out", name, rc.sfx[rw], out[k]),)),
                                 fn=downstream.name, aux=downstream.k_aux, output=True))
                        ops += ((op("dloss", name, rc.sfx[rw], from_out[rw][k]),),)
                    else:  # Σ_j δ_j(t)·w_jk of the dense layer after it
                        ops += tuple((op("dnet", o, rc.sfx[rw], dn_down[rw][j]),
                                      Operand("param:" + downstream.lay.weight_names[j][k],
                                              wd[j][k]))
                                     for j, o in enumerate(downstream.lay.neurons))
                if t + 1 < T:  # from the next step, through each gate's W_h
                    ops += tuple((op("dnet", rows_[r], sn, dnet[t + 1][r]),
                                  Operand("param:" + lay.weight_names[r][n_in + k],
                                          wl[r][n_in + k])) for r in range(4 * n))
                note = ("from the output at this step and from the next step through the "
                        "gates' W_h" if t + 1 in row_at and t + 1 < T else
                        "from the next step through the gates' W_h" if t + 1 < T else
                        "from the output at this step")
                add(Step(f"dout:{name}{st}", "backward", "dout", name, li + 1, smp, dh[t][k],
                         ops, fn="sum", note=note))
            for j, name in enumerate(lay.neurons):
                gi, gf, gg, go = (lay.gates[k][j] for k in range(4))
                cj = lay.cells[j]

                def gate(kk: int, terms: tuple, note: str = "", j: int = j, st: str = st,
                         t: int = t) -> None:
                    r, cell = kk * n + j, lay.gates[kk][j]
                    add(Step(f"dout:{cell}{st}", "backward", "dout", cell, li + 1, smp,
                             dgate[t][r], terms, fn="sum", note=note))
                    add(Step(f"dact:{cell}{st}", "backward", "dact", cell, li + 1, smp,
                             dact[t][r], ((op("net", cell, st, net[t][r]),),
                                          (op("out", cell, st, q[t][r]),)), fn=fns[r]))
                    add(Step(f"dnet:{cell}{st}", "backward", "dnet", cell, li + 1, smp,
                             dnet[t][r], ((op("dout", cell, st, dgate[t][r]),
                                           op("dact", cell, st, dact[t][r])),), fn=fns[r]))

                dh_op = op("dout", name, st, dh[t][j])
                gate(3, ((dh_op, op("out", cj, st, tc[t][j])),), "h = o times tanh(c)")
                add(Step(f"dout:{cj}{st}", "backward", "dout", cj, li + 1, smp, dtc[t][j],
                         ((dh_op, op("out", go, st, q[t][3 * n + j])),), fn="sum",
                         note="h = o times tanh(c)"))
                add(Step(f"dact:{cj}{st}", "backward", "dact", cj, li + 1, smp, dact_c[t][j],
                         ((op("net", cj, st, c[t][j]),), (op("out", cj, st, tc[t][j]),)),
                         fn="tanh"))
                terms = ((op("dout", cj, st, dtc[t][j]), op("dact", cj, st, dact_c[t][j])),)
                if t + 1 < T:  # the forget path: c_t carried into c_(t+1) by f_(t+1)
                    terms += ((op("dnet", cj, sn, dc[t + 1][j]),
                               op("out", gf, sn, q[t + 1][n + j])),)
                add(Step(f"dnet:{cj}{st}", "backward", "dnet", cj, li + 1, smp, dc[t][j],
                         terms, fn="tanh",
                         note=("through h at this step and, by the forget gate, through c "
                               "at the next step" if t + 1 < T else "through h at this step")))
                dc_op = op("dnet", cj, st, dc[t][j])
                gate(1, ((dc_op, op("net", cj, sp, c_prev[t][j])),), "c = f times c at t - 1 plus i times g")
                gate(0, ((dc_op, op("out", gg, st, q[t][2 * n + j])),))
                gate(2, ((dc_op, op("out", gi, st, q[t][j])),))
            carried = [Operand(f"in:{self.inputs[i]}{st}", a[t][i]) for i in range(n_in)] + \
                      [Operand(f"out:{hk}{sp}", prev[t][k]) for k, hk in enumerate(lay.neurons)]
            for r, row in enumerate(lay.weight_names):
                d = op("dnet", rows_[r], st, dnet[t][r])
                for i, wn in enumerate(row):
                    add(Step(f"grad:{wn}{st}", "backward", "grad", wn, li + 1, smp,
                             pw[t][r][i], ((d, Operand(f"wrt:{rows_[r]}/{wn}{st}",
                                                       carried[i].value)),),
                             aux=(carried[i], d)))
            for r, bn in enumerate(lay.bias_names if arr.per_b.shape[-1] else ()):
                d = op("dnet", rows_[r], st, dnet[t][r])
                add(Step(f"grad:{bn}{st}", "backward", "grad", bn, li + 1, smp, pb[t][r],
                         ((d, Operand(f"wrt:{rows_[r]}/{bn}{st}", 1.0)),),
                         aux=(Operand("1", 1.0), d)))
        self._parameter_sums(add, ctx, arr, b, T)
