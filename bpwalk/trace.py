"""The Trace: plain data the engine produces and every view reads.

A Step is one line of a worked solution: its id (``net:h1``, ``grad:w5``), its phase, the
value it produced, and its formula as structure: ``terms`` is a sum of products of Operands,
each operand naming what went in (``param:w5``, ``out:h1``, ``dnet:o1``) with its value.
``kind`` says which formula the terms fill in; ``fn`` names the activation, loss or
reduction involved. Views turn that structure into Unicode, ASCII or LaTeX; they never compute.

Reference grammar (ids of steps and refs of operands share it): ``KIND:NAME`` with an optional
``@S`` (1-based sample in ``data``) when a batch holds several samples. Kinds:

====== ============================================ ====================================
kind    meaning                                      terms
====== ============================================ ====================================
net     weighted input of a neuron                   (param:w, in:i or out:h) ... (param:b, 1)
out     activation of a neuron                       (net:h) -- softmax: every net of the layer
loss    one output's loss term (id ``loss:o1``)       (target:o1), (out:o1)
        a sample's loss (``loss`` or ``loss@S``)     (loss:o1), (loss:o2) ... summed
        the batch loss ``loss`` (several samples)    (loss@1), (loss@2) ... reduced by fn
dout    dE/dout, output neuron                       (target:o1), (out:o1); fn = the loss
        dE/dout, hidden neuron                       (dnet:o1, param:w5) + ... (old weights)
dact    dout/dnet of an element-wise activation      (net:h1), (out:h1); fn = the activation
dnet    dE/dnet, the neuron's delta                  (dout:h1, dact:h1)
        softmax: the Jacobian sum                    (dout:oj, jac:oj/ok) + ...
grad    dE/dparam for one sample                     (dout:o1, dact:o1, wrt:o1/w5), or
                                                     (dnet:o1, wrt:o1/w5) after softmax;
                                                     a shared bias: (dnet:h1) + (dnet:h2) ...
        batch gradient (several samples)             (grad:w5@1), (grad:w5@2) ... reduced by fn
new     the parameter after the update               (param:w5), (lr), (grad:w5); with an
                                                     optimizer, (vel:w5) for momentum, or
                                                     fn adaptive: (param:w5), (lr), (mhat:w5),
                                                     (vhat:w5), (eps) for p - lr m/(sqrt v + eps)
                                                     (rmsprop: grad:w5 and sq:w5); fn nesterov:
                                                     (param), (lr), (grad), (momentum, vel)
prev_X  optimizer state X carried into the update    none: the value from the last update
        (prev_vel, prev_sq, prev_m, prev_v)          (0 before the first); note says which
l2      gradient with L2 weight decay                (grad:w5), (lambda, param:w5)
decay   AdamW's decoupled decay of the parameter     (param:w5, 1-lr*lambda)
vel     momentum's velocity                          (momentum, prev_vel:w5), (grad:w5)
sq      RMSprop's mean of squared gradients          (alpha, prev_sq:w5), (1-alpha, g, g)
m, v    Adam's first and second moments              (beta1, prev_m:w5), (1-beta1, grad:w5);
                                                     (beta2, prev_v:w5), (1-beta2, g, g)
mhat,   Adam's bias-corrected moments, fn quotient   (m:w5), (1-beta1^t); (v:w5), (1-beta2^t)
vhat
din     dE/d(input), with input_gradients            (dnet:h1, param:w1) + ... (like hidden
                                                     dout)
====== ============================================ ====================================

Operands without a name are numbers of the scenario: ``lr``, ``K``, ``slope`` and the
optimizer's settings ``momentum``, ``alpha``, ``beta1``, ``beta2``, ``eps``, ``lambda`` and
the factors built from them (``1-beta1``, ``1-beta1^t``, ``1-lr*lambda``...). After a
weight-decay step the rules read ``l2:w5`` where the table says ``grad:w5``.

``wrt:o1/w5`` is d net_o1 / d w5, whose value is the input the weight carries (1 for a bias).
``aux`` holds operands a view may add: ``slope`` (leaky_relu out/dact), ``K`` (number of
outputs, loss steps), the carried input and the neuron's delta (grad: ``out:h1``,
``dnet:o1``; a notation with a named error term writes the gradient as delta times input),
out and target (softmax with cross-entropy, whose delta is out - target).

A network with shaped inputs (``inputs: {shape: [C, H, W]}``; docs/convolution.md) names
its cells and parameters with 1-based indexes: inputs ``x[c,h,w]``, a layer's cells
``conv1[c,i,j]`` or ``pool1[c,i,j]`` (flatten keeps the names of what feeds it), kernel
entries ``conv1.K[o,i,y,x]`` (as torch's Conv2d.weight), biases ``conv1.b[o]``. Its steps
use the kinds above, with these terms, and one kind of its own:

====== ============================================ ====================================
kind    meaning                                      terms
====== ============================================ ====================================
net     a convolution cell's net, net:conv1[1,2,2]   (param:conv1.K[..], in:x[..] or
                                                     out:pool1[..]) per entry of its
                                                     receptive field (padding: none),
                                                     (param:conv1.b[o], 1)
pool    a pooling window's out, out:pool1[1,1,1]     (out:conv1[..]) per cell of the
        (fn max or mean; its note names the winner)  window
dout    dE/dout of a cell feeding a pooling layer    (dout:pool1[..], dpool:pool1[..]/
                                                     conv1[..]) per window holding it
        dE/dout of a cell feeding a convolution      (dnet:conv2[..], param:conv2.K[..])
                                                     per out cell whose field holds it
grad    dE/dK of a kernel entry (fn sum)             (dnet:conv1[..], in:x[..]) per out
                                                     position; a bias: (dnet:conv1[..])
                                                     per cell of its channel
din     dE/d(input) through a first convolution      as dout through a convolution
====== ============================================ ====================================

``dpool:pool1[1,1,1]/conv1[1,2,2]`` is d out_pool1[1,1,1] / d out_conv1[1,2,2]: 1 for the
window's winner and 0 for its other cells (max), 1/size (average). The operand ``0`` stands
for a sum no term reaches (a cell no window or receptive field covers).

Dropout and normalisation layers (``kind: dropout``, ``batchnorm``, ``layernorm``;
docs/convolution.md) name their cells ``drop1[j]``, ``bn1[j]``, ``ln1[j]`` (``[c,i,j]``
after a convolution) and their parameters ``bn1.gamma[j]`` and ``bn1.beta[j]`` (one per
feature; batchnorm after a convolution: per channel). A group is what one mean and
variance are taken over: a feature or channel of the batch (batchnorm: ``bn1[j]``, no
sample) or one sample (layernorm: ``ln1@S``).

====== ============================================ ====================================
kind    meaning                                      terms
====== ============================================ ====================================
drop    ``out:drop1[j]`` = x·m·1/(1 − p)             (out:h1 or in:x1, mask:drop1[j],
                                                     keep); fn drop
dout    dE/dx of a cell feeding a dropout (fn drop)  (dout:drop1[j], mask:drop1[j], keep)
mu      ``mu:bn1[j]``, the group's mean (fn mean)    (out:h1@S) per value of the group
var     ``var:bn1[j]``, its biased variance          (out:h1@S) per value; aux (mu:bn1[j],
                                                     eps)
xhat    ``xhat:bn1[j]@S`` = (x − μ)/√(σ² + ε)         (x), (mu), (var), (eps)
norm    ``out:bn1[j]@S`` = γ·x̂ + β                   (param:bn1.gamma[j], xhat:..),
                                                     (param:bn1.beta[j], 1)
dxhat   ``dxhat:bn1[j]@S`` = dE/dy·γ                 (dout:bn1[j]@S, param:bn1.gamma[j])
grad    dE/dγ, dE/dβ of one sample (fn sum)          (dout:bn1[..], xhat:bn1[..]) per
                                                     cell it scales; β: (dout:bn1[..])
sdx,    the group's Σ dE/dx̂ and Σ dE/dx̂·x̂           (dxhat:..) per value;
sdxx                                                 (dxhat:.., xhat:..) per value
dvar    dE/dσ² = −Σ dE/dx̂·x̂ / (2(σ² + ε)) (fn      (sdxx:G), (var:G), (eps)
        dvar: the σ² path, x − μ = x̂·√(σ² + ε))
dmu     dE/dμ = −Σ dE/dx̂ / √(σ² + ε) (fn dmu)        (sdx:G), (var:G), (eps)
dout    dE/dx of a cell feeding a normalisation,     (dxhat, var, eps), (dvar, x, mu),
        fn norm: the x̂, σ² and μ paths               (dmu); aux (m)
dxc     ``dxc:h1@S``: the same, the compact form     (dxhat), (sdx:G), (xhat), (sdxx:G),
                                                     (var), (eps); aux (m)
====== ============================================ ====================================

``keep`` is 1/(1 − p), ``m`` the number of values of a group, ``eps`` the layer's ε.

A recurrent network (a first layer with ``kind: rnn``; docs/recurrence.md,
bpwalk/graph/recurrent.py) uses the kinds above with a time step: ``@tT`` (1-based) follows
any id inside a sequence, then the sample's ``@S`` when the batch has several
(``net:h1@t2``, ``dnet:h1@t2@3``); ``out:h1@t0`` is h_0, an operand only. Its parameters
are ``rnn1.W_x[j,i]``, ``rnn1.W_h[j,k]`` and ``rnn1.b[j]`` (1-based; rnn1 the layer's name).

====== ============================================ ====================================
kind    meaning                                      terms
====== ============================================ ====================================
net     ``net:h1@t2``: the hidden unit at step 2     (param:rnn1.W_x[1,i], in:xi@t2) ...
                                                     (param:rnn1.W_h[1,k], out:hk@t1) ...
                                                     (param:rnn1.b[1], 1)
out     ``out:h1@t2`` = act(net) (tanh or relu)      (net:h1@t2); and ``out:y@t2``, the
                                                     dense layer after it at step 2
loss    ``loss:y@t2``; the sample's ``loss``         (target:y@t2), (out:y@t2); ``loss`` sums
                                                     every (loss:y@tT) over time and outputs
dout    ``dout:h1@t2`` = dE/dh at step 2: from the   (dnet:y@t2, param:w) + ... (output) +
        output at 2 and from step 3 (BPTT)           (dout:hj@t3, dact:hj@t3,
                                                     param:rnn1.W_h[j,1]) + ... (recurrent)
dact,   as for a dense layer, at step 2              (net:h1@t2), (out:h1@t2); (dout:h1@t2,
dnet                                                 dact:h1@t2)
grad    ``grad:rnn1.W_h[1,k]@t2``: step 2's term     (dnet:h1@t2, wrt:h1/rnn1.W_h[1,k]@t2),
                                                     aux: the carried out:hk@t1
        ``grad:P`` (``grad:P@S`` in a batch): the    (grad:P@t1), (grad:P@t2) ... fn sum;
        sum over time; a batch's then as above       the dense layer's ``grad:w@t2`` too
====== ============================================ ====================================

An lstm layer (``kind: lstm``; docs/recurrence.md, bpwalk/graph/recurrent.py: Lstm) writes
the same kinds with the same time steps. Its cells: each gate's, ``i``, ``f``, ``g``, ``o``,
and the cell state's ``c`` with one hidden unit (``i_h1`` ... ``c_h1`` after each unit's
name with several); its h keeps the unit's name. Its parameters in torch's layout are
``lstm1.W_x[r,i]``, ``lstm1.W_h[r,k]``, ``lstm1.b[r]`` (row r: gate i's units, then f's, g's,
o's, as torch's weight_ih_l0 stacks them); with the gates by name ``lstm1.W_xf[j,i]``,
``lstm1.W_hf[j,k]``, ``lstm1.b_f[j]`` (gate f, unit j). These ids are a contract: stable.

====== ============================================ ====================================
kind    meaning                                      terms
====== ============================================ ====================================
net     ``net:f@t2``: a gate's net at step 2         as an rnn unit's, with the gate's row
        ``net:c@t2``: the cell state c_t             (out:f@t2, net:c@t1), (out:i@t2,
                                                     out:g@t2); ``net:c@t0`` is c0
out     ``out:f@t2`` = σ(net) (``out:g``: tanh)      (net:f@t2)
        ``out:c@t2`` = tanh(c_t), fn tanh            (net:c@t2)
        ``out:h@t2`` = o·tanh(c), fn product         (out:o@t2, out:c@t2)
dloss   ``dloss:h@t2``: ∂E_h/∂h at step 2, the loss  (target:h@t2), (out:h@t2); fn the loss
        term's derivative, when h is the output      (no layer after the lstm)
dout    ``dout:h@t2`` = ∂E/∂h at step 2              (dloss:h@t2) or (dnet:y@t2, param:w)
                                                     ... + (dnet:q@t3, param:W_h of q's
                                                     row) for each gate q (recurrent)
        ``dout:o@t2`` = ∂E/∂o                        (dout:h@t2, out:c@t2)
        ``dout:c@t2`` = ∂E/∂tanh(c)                  (dout:h@t2, out:o@t2)
        ``dout:f@t2``, ``dout:i@t2``, ``dout:g@t2``  (dnet:c@t2, net:c@t1), (dnet:c@t2,
                                                     out:g@t2), (dnet:c@t2, out:i@t2)
dact    each gate's and the cell's, at step 2        (net:q@t2), (out:q@t2); fn sigmoid/tanh
dnet    ``dnet:c@t2`` = ∂E/∂c_t: through h, and      (dout:c@t2, dact:c@t2) + (dnet:c@t3,
        through c at step 3 (the forget path)        out:f@t3)
        ``dnet:f@t2``: a gate's δ                    (dout:f@t2, dact:f@t2)
grad    ``grad:lstm1.W_h[2,1]@t2``: step 2's term    (dnet:f@t2, wrt:f/lstm1.W_h[2,1]@t2);
                                                     the sums over time as an rnn's
====== ============================================ ====================================

An attention head (a first layer with ``kind: attention``; docs/attention.md,
bpwalk/graph/attention.py) reads the sample's rows as its tokens. An entry of one of its
matrices is ``att:MC@tR`` (``datt:`` for dE/d of it): M the matrix (Q, K, V; S the scores
Q·Kᵀ; A the scaled scores; P the attention weights; H = P·V when a W_O follows), C the
column (1-based; for S, A, P the key token), R the row (the token; for S, A, P the query
token), then the sample's ``@S`` in a batch: ``att:P3@t2`` is P_23, ``datt:Q1@t2@3``.
Its output's entries are the layer's cells ``out:z1@t2``. Parameters are
``att1.W_Q[m,i]``, ``att1.W_K[m,i]``, ``att1.W_V[m,i]`` (d_model × d_k, as x @ W) and
``att1.W_O[c,j]`` (1-based; att1 the layer's name). All its steps are of kind att (forward)
or datt (backward), besides the loss's and the gradients' kinds:

====== ============================================ ====================================
kind    meaning                                      terms
====== ============================================ ====================================
att     ``att:Q1@t2`` (K, V likewise)                (in:xm@t2, param:att1.W_Q[m,1]) ...
        ``att:S3@t2``: query 2 against key 3         (att:Qc@t2, att:Kc@t3) ...
        ``att:A3@t2`` = S·c, fn scale                (att:S3@t2); aux (scale, c) and, for
                                                     1/√d_k, (d_k, d_k)
        ``att:P3@t2``, fn softmax over the row       (att:A1@t2), (att:A2@t2) ... (the
                                                     unmasked ones); aux (att:A3@t2): its own
        a masked weight (causal), fn masked          (0): its value is 0; note says why
        ``att:H1@t2`` (with W_O) or ``out:z1@t2``    (att:Pj@t2, att:V1@tj) ...; with W_O
                                                     out:z1@t2 is (att:Hc@t2,
                                                     param:att1.W_O[c,1]) ...
dout    ``dout:z1@t2`` = dE/d(the output's entry)    from the loss or the layer after it
datt    ``datt:H1@t2`` (with W_O)                    (dout:zj@t2, param:att1.W_O[1,j]) ...
        ``datt:P3@t2``                               (dout:zc@t2 or datt:Hc@t2, att:Vc@t3)
        ``datt:V1@t3``                               (att:P3@ti, dout:z1@ti or datt:H1@ti)
        ``datt:A3@t2``, fn softmax_row: the row's    (att:P3@t2, datt:P3@t2), then
        Jacobian, P_23(dP_23 − Σ_k P_2k·dP_2k)       (att:Pk@t2, datt:Pk@t2) per key k
        ``datt:S3@t2`` = c·dA, fn scale              (datt:A3@t2); aux as att:A
        ``datt:Q1@t2``; ``datt:K1@t3``               (datt:Sj@t2, att:K1@tj) ...;
                                                     (datt:S3@ti, att:Q1@ti) ...
grad    ``grad:att1.W_Q[m,i]`` (``@S`` per sample    (in:xm@tT, datt:Qi@tT) per token T,
        of a batch), fn sum: over the tokens         fn sum (W_O: (att:Hc@tT, dout:zj@tT))
====== ============================================ ====================================

Without the scale (``scale: false``) the softmax reads S itself: there is no A, and the
softmax Jacobian's step is ``datt:S3@t2``. A causal head writes no A (nor dA, dS) for a
masked entry: its A is −∞, its weight 0.

A circuit (a ``graph:`` scenario; docs/circuits.md, bpwalk/graph) has ids of its own, NAME
being an input, a param or an operation (``f``, or ``f.1`` inside node f's expression):

====== ============================================ ====================================
kind    meaning                                      terms
====== ============================================ ====================================
val     ``val:NAME``, the value: fn "input" or       none for an input or param; else
        "param", else the operation (add, mul, ...)  ((val:a, val:b),); a number is
        (the node ``loss`` after ``loss:``: phase    ``num``, a loss's target ``target``
        loss)
local   ``local:NODE/NAME`` = ∂NODE/∂NAME (fn: the   ((the operands), (val:NODE,)); a
        operation)                                   name read twice: its positions summed
grad    ``grad:NAME`` = ∂output/∂NAME: fn "seed"     ((1,),) for the output; else one term
        (the output's, 1) or "chain"                 per path (grad:C, local:C/NAME)
new     ``new:NAME``: fn "update" or "ascent"        (val:NAME), (lr), (grad:NAME)
====== ============================================ ====================================
"""

from __future__ import annotations

from typing import Any, NamedTuple

PHASES = ("forward", "loss", "backward", "update")
PHASE_TITLES = {"forward": "Forward pass", "loss": "Loss", "backward": "Backward pass",
                "update": "Update"}  # how every view heads each phase


class Operand(NamedTuple):
    ref: str
    value: float


class _Record:
    """Equality and repr by the fields a class names in _FIELDS, as a dataclass has them.
    (Plain classes here, not dataclasses: defining a dataclass costs every `bpwalk run` a
    millisecond.) Mutable, so not hashable; _COMPARED adds fields kept out of the repr."""

    __slots__ = ()
    _FIELDS: tuple[str, ...] = ()
    _COMPARED: tuple[str, ...] = ()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f)
                   for f in (*self._FIELDS, *self._COMPARED))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._FIELDS)
        return f"{type(self).__name__}({fields})"


class Step(_Record):
    """One quantity worked out."""

    __slots__ = ("aux", "batch", "drift", "exact", "fn", "id", "kind", "layer", "note",
                 "output", "phase", "sample", "subject", "terms", "value")

    def __init__(self, id: str, phase: str, kind: str, subject: str, layer: int | None,
                 sample: int | None, value: float, terms: tuple[tuple[Operand, ...], ...],
                 fn: str = "", note: str = "", aux: tuple[Operand, ...] = (),
                 exact: float | None = None, drift: float | None = None, batch: bool = False,
                 output: bool = False) -> None:
        self.id = id
        self.phase = phase
        self.kind = kind
        self.subject = subject  # the neuron, output or parameter it is about ("" for a total loss)
        self.layer = layer  # 1-based network layer, None for loss totals
        self.sample = sample  # 1-based sample in data, None when the batch has one sample
        self.value = value
        self.terms = terms
        self.fn = fn
        self.note = note
        self.aux = aux  # extra operands a view may show (softmax+CE: out, target)
        self.exact = exact  # the full-precision value when the trace is rounded
        self.drift = drift  # value - exact: what rounding carried forward (rounded traces)
        self.batch = batch  # combines the samples of a batch (the batch loss or a batch gradient)
        self.output = output  # about an output neuron (dout, dact, dnet of the last layer)

    _FIELDS = ("id", "phase", "kind", "subject", "layer", "sample", "value", "terms", "fn",
               "note", "aux", "exact", "drift", "batch", "output")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id, "phase": self.phase, "kind": self.kind, "subject": self.subject,
            "layer": self.layer, "sample": self.sample, "value": self.value,
            "terms": [[[o.ref, o.value] for o in term] for term in self.terms],
        }
        if self.fn:
            d["fn"] = self.fn
        if self.note:
            d["note"] = self.note
        if self.aux:
            d["aux"] = [[o.ref, o.value] for o in self.aux]
        if self.exact is not None:
            d["exact"] = self.exact
        if self.batch:
            d["batch"] = True
        return d


class Iteration(_Record):
    __slots__ = ("_values", "number", "params_after", "params_before", "samples", "steps")

    def __init__(self, number: int, samples: list[int], steps: list[Step],
                 params_before: dict[str, float], params_after: dict[str, float],
                 _values: dict[str, float] | None = None) -> None:
        self.number = number  # 1-based update number
        self.samples = samples  # 1-based positions in data of this update's batch
        self.steps = steps
        self.params_before = params_before
        self.params_after = params_after
        self._values = _values

    _FIELDS = ("number", "samples", "steps", "params_before", "params_after")
    _COMPARED = ("_values",)

    @property
    def values(self) -> dict[str, float]:
        if self._values is None:
            self._values = {s.id: s.value for s in self.steps}
        return self._values

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)


class Trace(_Record):
    __slots__ = ("iterations", "loss_history", "loss_updates", "param_change", "params_final",
                 "params_first", "round_to", "scenario", "state_final", "total_iterations")

    def __init__(self, scenario: Any, iterations: list[Iteration], loss_history: list[float],
                 params_first: dict[str, float], params_final: dict[str, float],
                 total_iterations: int, round_to: int | None = None,
                 loss_updates: list[int] | None = None,
                 param_change: dict[str, float] | None = None,
                 state_final: dict[str, dict[str, float]] | None = None) -> None:
        self.scenario = scenario  # bpwalk.scenario.Scenario (not imported: plain data here)
        self.iterations = iterations  # only the iterations that are shown
        self.loss_history = loss_history  # data-set loss before each update and after the last
        # ... unless the run is longer than engine.MAX_HISTORY updates: then only some are
        # kept, and this says how many updates came before each kept entry (None: entry i,
        # i updates)
        self.params_first = params_first  # before the first update
        self.params_final = params_final  # after the last update
        self.total_iterations = total_iterations
        self.round_to = round_to
        self.loss_updates = loss_updates
        # final - first for every parameter, computed by the engine so views need not subtract
        self.param_change = {} if param_change is None else param_change
        # the optimizer's state after the last update, per kind and parameter: {"m": {"w1": ..}}
        self.state_final = {} if state_final is None else state_final

    _FIELDS = ("scenario", "iterations", "loss_history", "params_first", "params_final",
               "total_iterations", "round_to", "loss_updates", "param_change", "state_final")

    def loss_after(self, updates: int) -> float | None:
        """The data-set loss after `updates` updates, or None when a long run did not keep it."""
        if self.loss_updates is None:
            return self.loss_history[updates]
        kept = dict(zip(self.loss_updates, self.loss_history))
        return kept.get(updates)
