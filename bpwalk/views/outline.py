"""The outline of a worked update: phases, groups of steps, rule captions and notes, in order.

Built once from the trace; the terminal and Markdown views (and the HTML page) only render
it. A caption or a note is a tuple of parts: plain words (str) and formula trees
(``bpwalk.formulas.Node``), so each view writes the words its way and prints the trees in its
own style (Unicode, LaTeX, MathML) through its Pen. Nothing here computes a value or chooses
a symbol: the steps come from the trace, the formulas from ``bpwalk.notation``.

Groups: the forward pass and the backward pass have one group per (sample, layer) in trace
order (output layer first going backward); the loss one per sample and one for the batch;
the batch's gradients one per layer; the update one per layer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from itertools import groupby
from typing import NamedTuple

from bpwalk.formulas import Node, Num, Postfix, Seq, Sym, mul
from bpwalk.functions import ACTIVATIONS
from bpwalk.notation import (
    KRONECKER,
    Profile,
    attention_backward_rules,
    attention_rules,
    backward_rule,
    book_backward,
    book_update,
    dropout_rule,
    forward_rule,
    hidden_rule,
    input_rule,
    jacobian_entries,
    jacobian_rule,
    loss_rule,
    matrix_symbol,
    node,
    norm_rule,
    optimizer_rule,
    optimizer_settings,
    update_caption,
)
from bpwalk.trace import PHASE_TITLES, PHASES, Iteration, Step, Trace

Part = str | Node  # words, or a formula
Text = tuple[Part, ...]

# The records below are NamedTuples, not dataclasses: made once per document and only read,
# they need no more, and a NamedTuple class costs a tenth of a dataclass to define (start-up).


class Group(NamedTuple):
    """Steps under one heading: where they are (sample, layer), whether they combine a
    batch, the rule the layer follows, notes, then the steps (formula → numbers → result)."""

    sample: int | None  # the sample of a batch these steps are about, else None
    layer: int | None  # 1-based layer, None for a loss total
    batch: bool  # the batch's combination (its loss, its gradients)
    rule: Text  # the layer's rule (forward pass: how net and out are found)
    notes: tuple[Text, ...]  # e.g. the hidden neurons' weights are the old ones
    steps: tuple[Step, ...]
    grids: tuple[Grid, ...] = ()  # an attention head's matrices (before the steps)


class Grid(NamedTuple):
    """One matrix of an attention head, assembled from the steps of its entries: a view
    lays it out as a table (the attention weights as a heat grid). An entry with no step is
    None: a causal mask's minus infinity in the forward pass, its 0 gradient going back."""

    symbol: Node  # Q, the gradient of P, of W_Q
    words: Text  # what it is: ("queries, ", X·W_Q)
    rows: tuple[str, ...]  # its rows' labels: token 1 ..., query 1 ..., x1 ...
    cols: tuple[str, ...]  # its columns': 1 ..., key 1 ...
    ids: tuple[tuple[str, ...], ...]
    values: tuple[tuple[float | None, ...], ...]
    heat: bool = False  # the attention weights P, each row summing to 1: shaded
    masked: str = ""  # what an entry with no step is: "inf" (minus infinity) or "0"


class Phase(NamedTuple):
    name: str  # forward, loss, backward, update
    title: str
    rule: Text  # the phase's rule: the loss, the error term, the update
    groups: tuple[Group, ...]
    after: tuple[Text, ...]  # notes after the steps (biases that are not updated)


class Update(NamedTuple):
    number: int
    samples: tuple[int, ...]
    # the parameters this update starts from, when they are no longer the network table's
    params: dict[str, float] | None
    phases: tuple[Phase, ...]


class Param(NamedTuple):
    """One parameter: what it connects (the network table) and its values (the summary)."""

    name: str  # w5; its id is param:w5
    layer: int  # 0-based index of the layer it feeds: the network table's sections
    source: str | None  # the input (layer 0) or the neuron whose output it carries; None: a bias
    targets: tuple[str, ...]  # the neurons it feeds
    before: float  # at the start of the run
    after: float  # after the last update
    change: float


class Sample(NamedTuple):
    """One sample of the data: its inputs and targets by name."""

    number: int  # 1-based
    inputs: tuple[tuple[str, float], ...]
    targets: tuple[tuple[str, float], ...]


class Layer(NamedTuple):
    number: int  # 1-based (Nielsen's: from 2, the input layer being layer 1)
    neurons: tuple[str, ...]
    activation: str
    slope: float  # the activation's parameter: leaky_relu's slope below zero, elu's alpha
    output: bool  # the output layer (else a hidden one)
    parameter: str  # that parameter's name (slope, alpha); "" when the activation has none
    what: str = ""  # a convolution's or pooling's description (what_layer); "" for dense
    kind: str = "dense"  # dense, conv2d, maxpool, avgpool, flatten

    @property
    def activated(self) -> bool:
        """Has an activation of its own (pooling and flatten have none)?"""
        return self.kind in ("dense", "conv2d", "rnn", "lstm")


class Heading(NamedTuple):
    """What the document says about the scenario and the run before the first update."""

    title: str  # the scenario's title, else its name
    source: str
    description: str
    shape: str  # layer sizes from the inputs: 2-2-2
    inputs: tuple[str, ...]
    layers: tuple[Layer, ...]
    loss: str  # the loss's name (half_squared_error)
    loss_rule: Node  # the loss of one sample, in the profile's symbols
    learning_rate: float
    optimizer: str  # the optimizer's name; "" for plain SGD
    optimizer_settings: Node | None  # its settings: β₁ = 0.9, β₂ = 0.999, ...
    biases: str  # "none", "updated" or "fixed" (update_biases: false)
    samples: int
    batch: int | None  # samples per update; None: the full batch
    reduction: str  # how a batch combines its samples' losses: mean or sum
    drawn: tuple[str, ...]  # the parameters `init:` drew ...
    init: tuple[str, int] | None  # ... with which scheme and seed; None: all given
    updates: int  # how many updates the run makes
    shown: tuple[int, ...]  # the updates explained in full
    round_to: int | None  # --round D


class Document(NamedTuple):
    """The worked solution's content as data, in order: the heading, the network's
    parameters and the data (the given numbers), the explained updates, then each
    parameter's change (in `params`). Views lay it out; none reads the scenario itself."""

    heading: Heading
    params: tuple[Param, ...]
    samples: tuple[Sample, ...]
    updates: list[Update]


def group_title(h: Heading, phase: str, g: Group, batch: bool,
                names: Callable[[Iterable[str]], str] = ", ".join) -> str:
    """The heading over a group of steps ('Sample 2: Layer 1 (hidden layer): h1, h2'), or "";
    `names` writes a list of names (Markdown puts each in a code span)."""
    where = ""
    if g.layer == 0:  # dE/d(input) steps (input_gradients)
        where = f"Inputs {names(h.inputs)}: the gradient of the loss with respect to them"
    elif g.layer is not None and h.layers[g.layer - 1].what:
        where = f"Layer {g.layer} ({h.layers[g.layer - 1].what})"
    elif g.layer is not None:
        lay = h.layers[g.layer - 1]
        role = "output layer" if lay.output else "hidden layer"
        where = f"Layer {lay.number} ({role}): {names(lay.neurons)}"
    if phase == "loss":
        where = "Outputs " + names(h.layers[-1].neurons)
    if g.sample is not None:
        return f"Sample {g.sample}: {where}" if where else f"Sample {g.sample}"
    if batch and phase in ("loss", "backward"):
        return f"The batch: {where}" if phase == "backward" else "The batch"
    return where


def heading(trace: Trace, p: Profile, own_numbers: bool = True) -> Heading:
    """The heading; its layers numbered as the profile counts them (Nielsen's input layer
    is layer 1, ch. 2), or from 1 (`own_numbers` False: the matrix form's W¹, b¹)."""
    sc = trace.scenario
    first = 1 if p.input_layer is None or p.circuit or not own_numbers else p.input_layer + 1
    layers = tuple(Layer(i + first - 1, lay.neurons,
                         "lstm" if lay.kind == "lstm" else lay.activation, lay.slope,
                         i == len(sc.layers), ACTIVATIONS[lay.activation].parameter,
                         what_layer(lay), lay.kind)
                   for i, lay in enumerate(sc.layers, 1))
    opt = sc.optimizer
    biases = "none" if not has_biases(trace) else "updated" if sc.update_biases else "fixed"
    init = (sc.init["scheme"], sc.init["seed"]) if sc.init else None
    return Heading(sc.title or sc.name, sc.source, sc.description, sc.shape, sc.inputs,
                   layers, sc.loss, loss_rule(sc.loss, p), sc.learning_rate,
                   "" if opt.plain else opt.name,
                   None if opt.plain else optimizer_settings(opt, p), biases,
                   len(sc.x), sc.batch, sc.reduction,
                   tuple(sc.init["drawn"]) if sc.init else (), init, trace.total_iterations,
                   tuple(it.number for it in trace.iterations), trace.round_to)


def what_layer(lay) -> str:
    """A convolution, pooling or flatten layer in words ("" for a dense layer): conv1, a
    convolution, 1 kernel 2x2 over 1x4x4, stride 1, padding 0: 1x3x3 cells (relu)."""
    if lay.kind in ("dense", "rnn"):  # (a recurrent layer's words are its notes')
        return ""
    if lay.kind == "lstm":
        return (f"{lay.name}, an LSTM cell: gates i, f, o (sigmoid) and g (tanh), the cell "
                "state c")
    if lay.kind == "flatten":
        return f"{lay.name}: the cells in a row, channel-major"
    if lay.kind == "attention":
        return attention_words(lay)
    n = len(lay.neurons)
    fed = ("x".join(map(str, lay.in_shape)) + " cells" if lay.in_shape
           else f"{n} feature{'s' * (n != 1)}")
    if lay.kind == "dropout":
        fed = fed.replace("feature", "value")
        return (f"{lay.name}, dropout with p = {lay.p:g} over {fed}: the given mask, "
                f"kept values scaled by 1/(1 - p)")
    if lay.kind == "batchnorm":
        per = "channel" if lay.in_shape else "feature"
        return (f"{lay.name}, batch normalisation of {fed}: each {per} over the batch "
                "(training mode)")
    if lay.kind == "layernorm":
        return f"{lay.name}, layer normalisation of {fed}: each sample over its own"
    size = "x".join(map(str, lay.in_shape))
    out = "x".join(map(str, lay.out_shape))
    step = "x".join(map(str, lay.stride)) if lay.stride[0] != lay.stride[1] else lay.stride[0]
    if lay.kind == "conv2d":
        o, _, kh, kw = lay.weights.shape
        pad = "x".join(map(str, lay.padding)) if lay.padding[0] != lay.padding[1] \
            else lay.padding[0]
        return (f"{lay.name}, a convolution: {o} kernel{'s' * (o != 1)} {kh}x{kw} over "
                f"{size}, stride {step}, padding {pad}: {out} cells, {lay.activation}")
    mode = "max-pooling" if lay.mode == "max" else "average pooling"
    return (f"{lay.name}, {mode}: windows {lay.size[0]}x{lay.size[1]} over {size}, "
            f"stride {step}: {out} cells")


def attention_words(lay) -> str:
    """An attention head in words: att1, self-attention: d_model 2, d_k 2, scores scaled
    by 1/sqrt(d_k), causal, W_O to 2 outputs (words every style prints)."""
    scale = {"root": "scaled by 1/sqrt(d_k)", "none": "not scaled"}.get(
        lay.scaling, f"scaled by {lay.scale:g}")
    return (f"{lay.name}, self-attention: d_model {lay.n_in}, d_k {lay.d_k}, scores {scale}"
            + (", causal" if lay.causal else "")
            + (f", W_O to {lay.d_out} output{'s' * (lay.d_out != 1)}" if lay.d_out else ""))


def document(trace: Trace, p: Profile, phases: Iterable[str] = PHASES,
             entries: bool = True) -> Document:
    """The outline of the whole document, with the phases asked for in each update.
    `entries` False: an attention head's matrices without the step of each entry (the
    terminal's default for attention; `bpwalk run --entries` shows them)."""
    sc = trace.scenario
    params = tuple(Param(c.param, c.layer, c.source, c.targets, trace.params_first[c.param],
                         trace.params_final[c.param], trace.param_change[c.param])
                   for c in sc.connections)
    samples = (_sequences(sc) if getattr(sc, "sequence", False) else
               tuple(Sample(k, tuple(zip(sc.inputs, x)), tuple(zip(sc.outputs, t)))
                     for k, (x, t) in enumerate(zip(sc.x.tolist(), sc.targets.tolist()), 1)))
    return Document(heading(trace, p), params, samples, updates(trace, p, phases, entries))


def _sequences(sc) -> tuple[Sample, ...]:
    """A sequence's samples: each input and target at each time step, named as its id
    (x1@t2, y@t2)."""
    steps = sc.x.shape[1]
    out_times = range(1, steps + 1) if sc.layers[0].every else [steps]
    return tuple(Sample(k, tuple((f"{n}@t{t}", row[i]) for t, row in enumerate(x, 1)
                                 for i, n in enumerate(sc.inputs)),
                        tuple((f"{n}@t{t}", row[i]) for t, row in zip(out_times, tt)
                              for i, n in enumerate(sc.outputs)))
                 for k, (x, tt) in enumerate(zip(sc.x.tolist(), sc.targets.tolist()), 1))


def updates(trace: Trace, p: Profile, phases: Iterable[str] = PHASES,
            entries: bool = True) -> list[Update]:
    """The outline of every explained update, with the phases asked for."""
    wanted = tuple(phases)
    return [Update(it.number, tuple(it.samples), it.params_before if it.number > 1 else None,
                   tuple(_phase(trace, it, ph, p, entries) for ph in PHASES if ph in wanted))
            for it in trace.iterations]


def handout_title(title: str) -> str:
    """A worksheet's title: the problem's, without the random seed that drew its numbers
    (``bpwalk new`` writes "Practice problem (seed 3)"): the answer key alone holds it."""
    return _SEED.sub("", title)


_SEED = re.compile(r"\s*\(seed \d+\)")


def has_biases(trace: Trace, layer: int | None = None) -> bool:
    layers = trace.scenario.layers if layer is None else [trace.scenario.layers[layer - 1]]
    return any(lay.bias != "none" for lay in layers)


def _phase(trace: Trace, it: Iteration, phase: str, p: Profile, entries: bool = True) -> Phase:
    sc = trace.scenario
    steps = [s for s in it.steps if s.phase == phase]
    after: tuple[Text, ...] = ()
    if phase == "forward":
        rule: Text = ()
    elif phase == "loss":
        rule = (loss_rule(sc.loss, p),)
    elif phase == "backward" and sc.layers[0].kind == "attention" and len(sc.layers) == 1:
        rule = (LONE_HEAD_BACKWARD,
                *(("; " + p.rule_words,) if p.rule_words else ()))
    elif phase == "backward":
        rule = (*book_backward(p, sc), backward_rule(p),
                " (the input the weight carries); output layer first",
                *(("; " + p.rule_words,) if p.rule_words else ()))
    else:
        book = book_update(p) if len(it.samples) == 1 else None
        rule = (update_caption(p),) if sc.optimizer.plain else _optimizer_caption(sc, it, p)
        if book is not None and sc.optimizer.plain:
            rule = (book, "; that is, ", *rule)
        fixed = [b for lay in sc.layers for b in lay.bias_names] if not sc.update_biases else []
        if fixed:
            verb = "is" if len(fixed) == 1 else "are"
            after = ((*_params(fixed, p), f" {verb} not updated (update_biases: false)."),)
    key = (lambda s: (s.sample, s.batch)) if phase == "loss" else \
        (lambda s: (s.sample, s.batch, s.layer))
    groups = tuple(_group(trace, it, phase, list(g), p, entries)
                   for _, g in groupby(steps, key=key))
    return Phase(phase, PHASE_TITLES[phase], rule, groups, after)


def _optimizer_caption(sc, it: Iteration, p: Profile) -> Text:
    t = f", with t = {it.number}, the number of this update" \
        if sc.optimizer.name in ("adam", "adamw") else ""
    return (f"The optimizer is {sc.optimizer.name} (as torch.optim computes it): ",
            optimizer_rule(sc.optimizer, p),
            f"{t}. Per layer, the state carried in from the last update comes first.")


def _group(trace: Trace, it: Iteration, phase: str, steps: list[Step], p: Profile,
           entries: bool = True) -> Group:
    sc = trace.scenario
    first = steps[0]
    layer = None if phase == "loss" else first.layer
    rule: Text = ()
    notes: list[Text] = []
    grids: tuple[Grid, ...] = ()
    if layer and phase in ("forward", "backward") and sc.layers[layer - 1].kind == "attention":
        grids = attention_grids(sc.layers[layer - 1], sc.inputs, it, phase, first.sample,
                                first.batch, p)
        if not entries:  # the matrices hold them: the head's own entries left out
            steps = [s for s in steps if s.kind not in ("att", "datt", "grad")]
    if phase == "forward" and layer is not None and sc.layers[layer - 1].kind == "attention":
        lay = sc.layers[layer - 1]
        rule = _joined(attention_rules(p, lay.scaling, lay.causal, bool(lay.d_out)))
        notes.append((ATTENTION_FORWARD + (ATTENTION_CAUSAL if lay.causal else ""),))
    elif phase == "forward" and layer is not None:
        lay = sc.layers[layer - 1]
        rule = (forward_rule(lay.activation, lay.bias != "none", p),)
        if lay.kind == "conv2d":
            rule = (CONV_WORDS, *rule)
        elif lay.kind in _OWN_WORDS:
            rule = _OWN_WORDS[lay.kind]
        elif lay.kind not in ("dense", "rnn", "lstm"):
            rule = ("Each cell: the largest value of its window (the winner)"
                    if lay.mode == "max" else "Each cell: the mean of its window",)
        if lay.kind == "rnn":
            notes.append((RNN_FORWARD,))
        if lay.kind == "lstm":
            rule = (LSTM_RULE,)
            notes.append((LSTM_FORWARD,))
    if phase == "backward" and layer == 0 and sc.layers[0].kind == "dropout":
        rule = (("Through the dropout: each input's gradient is its cell's, times the same "
                 "mask entry and 1/(1 - p) as forward"),)
    elif phase == "backward" and layer == 0:  # dE/d(input), with input_gradients
        rule = (input_rule(p),
                " (the first layer's error terms through its weights, from before the update)")
    elif phase == "backward" and first.kind == "sdx" and first.sample is None:
        notes.append((("Once every sample's gradient has reached the layer: the sums over "
                       "the batch, then the gradients of the variance and of the mean of "
                       "each feature (or channel), which every sample's x reaches."),))
    elif phase == "backward" and layer is not None and not first.batch:
        nxt_lay = _next_computing(sc, layer)
        lay = sc.layers[layer - 1]
        if lay.kind == "attention":
            rule = _joined(attention_backward_rules(p, lay.scaling, bool(lay.d_out)))
            notes.append((ATTENTION_BACKWARD,))
        elif sc.layers[layer - 1].kind == "rnn":
            notes.append((RNN_BACKWARD,))
        elif sc.layers[layer - 1].kind == "lstm":
            notes.append((LSTM_BACKWARD,))
        elif nxt_lay is not None and nxt_lay.kind != "dense":
            notes.append((_SHAPED_NOTES[nxt_lay.kind].format(name=nxt_lay.name),))
        elif layer < len(sc.layers):
            table = "the network table" if it.number == 1 else "the table above"
            nxt = [w for row in nxt_lay.weight_names for w in row]
            notes.append(("A hidden neuron: ", hidden_rule(p),
                          " over the next layer, with the weights from before the update (",
                          *_params(nxt, p), f" as in {table}, not their new values)."))
        if sc.layers[layer - 1].activation == "softmax":
            every = " is 1 when j = k, else 0), so each error term sums over every output"
            notes.append(("softmax: ", jacobian_rule(p), " (", KRONECKER, every,
                          " (the Jacobian). Its entries:"))
            outs = {s.subject: s.value for s in it.steps
                    if s.kind == "out" and s.layer == layer and s.sample == first.sample}
            notes += [(e,) for s in steps if s.kind == "dnet" and s.fn == "softmax"
                      for e in jacobian_entries(s, outs, p)]
    if phase == "update":
        steps, zeros = _first_state(steps, p)
        notes += zeros
    if grids and not entries:
        notes.append((ENTRIES_NOTE.format(name=sc.name),))
    return Group(first.sample, layer, first.batch, rule, tuple(notes), tuple(steps), grids)


# the forward caption of a layer kind whose cells each follow one rule
_OWN_WORDS = {
    "dropout": ("Each cell: ", dropout_rule(),
                " (m: 1 kept, 0 dropped), as torch's dropout in training mode"),
    "batchnorm": (("The mean and the biased variance of each feature (or channel) over "
                   "the batch, as torch in training mode; then each cell: "), norm_rule()),
    "layernorm": (("The mean and the biased variance of each sample over its features; "
                   "then each cell: "), norm_rule()),
}

CONV_WORDS = ("Each cell: the kernel over its receptive field (a cross-correlation, as "
              "torch's Conv2d: the kernel is not flipped; padding adds zeros), ")

# the gradient reaching a layer's cells from a next layer that is not dense
_SHAPED_NOTES = {
    "conv2d": "The gradient of each cell through {name}: the sum, over the cells whose "
              "receptive field holds it, of their error term times the kernel entry that "
              "met it: the full correlation with the flipped kernel (kernels from before "
              "the update).",
    "maxpool": "Max-pooling ({name}) routes each window's gradient to its winner only: "
               "the window's out changes with its winner (a local derivative of 1) and "
               "not with its other cells (0).",
    "avgpool": "Average pooling ({name}) gives each cell of a window 1/size of its "
               "gradient (the local derivative of a mean).",
    "dropout": "Dropout ({name}) passes each cell's gradient back through the same mask and "
               "1/(1 - p) as forward: a dropped cell gets none.",
    "batchnorm": "Batch normalisation ({name}): x reaches E by three paths, through x-hat, "
                 "the variance and the mean, and through the last two every sample of the "
                 "batch reaches it; the compact form below each gives the same number.",
    "layernorm": "Layer normalisation ({name}): x reaches E by three paths, through x-hat, "
                 "the variance and the mean of its own sample; the compact form below each "
                 "gives the same number.",
}


def _next_computing(sc, layer: int):
    """The layer that layer `layer` (1-based) feeds, past a flatten; None for the output."""
    for lay in sc.layers[layer:]:
        if lay.kind != "flatten":
            return lay
    return None


def _first_state(steps: list[Step], p: Profile) -> tuple[list[Step], list[Text]]:
    """An optimizer's state before the first update (m_w5[t−1] = 0, for every weight of
    the layer): one line, not a step per quantity; the other steps as they are."""
    zeros = [s for s in steps if s.kind.startswith("prev_") and s.value == 0.0
             and s.note == FIRST_STATE_NOTE]
    if len(zeros) < 2:
        return steps, []
    chain = Seq(tuple(node(s.id, p) for s in zeros), " = ")
    line: Text = (chain, " = ", Num(0.0), f" ({FIRST_STATE_NOTE}).")
    return [s for s in steps if s not in zeros], [line]


FIRST_STATE_NOTE = "zero before the first update"  # the engine's note on such a step

# a recurrent layer's captions (bpwalk.graph.recurrent), in words every notation shares
RNN_FORWARD = ("Unrolled in time: at each time step t the net adds the inputs at t (through "
               "W_x) and the layer's own outputs at t - 1 (through W_h; at t = 1, h0). "
               "The superscript <t> is the time step.")
RNN_BACKWARD = ("Backpropagation through time, from the last step to the first: the "
                "gradient of E at out at step t gets a term from the output at t and, "
                "through W_h, one from step t + 1 (the gradient there times the "
                "activation's derivative there); each weight's gradient is the sum of one "
                "term per time step.")

LSTM_RULE = ("Each gate: its net sums weight times input over the inputs at t and h at "
             "t - 1, plus its bias; i, f, o = sigmoid(net), g = tanh(net); the cell: "
             "c = f times c at t - 1 plus i times g (net_c is c), out_c = tanh(c); h = o "
             "times out_c")
LSTM_FORWARD = ("Unrolled in time: at each time step t each gate adds the inputs at t "
                "(through its W_x) and h at t - 1 (through its W_h; at t = 1, h0), and the "
                "cell state carries c from t - 1 (at t = 1, c0). The superscript <t> is the "
                "time step.")
LSTM_BACKWARD = ("Backpropagation through time, from the last step to the first: the "
                 "gradient of E at h at step t gets a term from the output at t and, through "
                 "each gate's W_h, one from step t + 1; the gradient at the cell state c "
                 "(net_c) has two paths, through h at t (times o and the derivative of tanh) "
                 "and through c at t + 1 (times the forget gate f there); f, i and g get "
                 "theirs from c, o from h. Each weight's gradient is the sum of one term per "
                 "time step.")


# an attention head's captions (bpwalk.graph.attention)
ATTENTION_FORWARD = ("One self-attention head over the sample's tokens (the rows of its "
                     "sequence): an entry's first index is its row, the token (Q21 is token "
                     "2's query, column 1); S_ij scores query token i against key token j, "
                     "and each row of P sums to 1.")
ATTENTION_CAUSAL = (" Causal: a token attends to itself and the tokens before it; the "
                    "scores of later keys are -inf, whose exponential is 0.")
ATTENTION_BACKWARD = ("Back through the head: the gradient of each output entry comes from "
                      "the layer after it (or the loss); then back through the product of P "
                      "and V, the softmax Jacobian of each row, the scale, the product of Q "
                      "and K transposed; each projection's gradient is the sum over the "
                      "tokens.")


LONE_HEAD_BACKWARD = ("Each gradient from those found after it (the chain rule), the "
                      "parameters from before the update")
ENTRIES_NOTE = ("Each entry of the matrices below, its formula written with its numbers: "
                "bpwalk run {name} --entries.")


def attention_grids(lay, inputs: tuple[str, ...], it: Iteration, phase: str,
                    sample: int | None, batch: bool, p: Profile) -> tuple[Grid, ...]:
    """An attention head's matrices in one sample's forward or backward pass (or the
    batch's gradients), each entry the value of its step in `it`."""
    values = it.values
    at = f"@{sample}" if sample is not None else ""
    T = max(int(k.partition("@t")[2].partition("@")[0]) for k in values
            if k.startswith("att:Q1@t"))
    tokens = tuple(f"token {t}" for t in range(1, T + 1))
    queries = tuple(f"query {t}" for t in range(1, T + 1))
    keys_ = tuple(f"key {t}" for t in range(1, T + 1))

    def cols(n: int) -> tuple[str, ...]:
        return tuple(str(c) for c in range(1, n + 1))

    def grid(kind: str, letter: str, words: Text, n: int, rows_=tokens, cols_=None,
             heat: bool = False, prefix: str = "", masked: str = "") -> Grid:
        ids = tuple(tuple(f"{kind}:{prefix or letter}{c}@t{t}{at}" for c in range(1, n + 1))
                    for t in range(1, T + 1))
        sym = matrix_symbol(letter, kind == "datt" or kind == "dout", p)
        return Grid(sym, words, rows_, cols_ or cols(n), ids,
                    tuple(tuple(values.get(i) for i in row) for row in ids), heat, masked)

    def params(what: str, gsfx: str) -> Grid:
        names = [n for n in lay.weight_names[0] if f".{what}[" in n]
        n_rows = lay.n_in if what != "W_O" else lay.d_k
        n_cols = len(names) // n_rows
        ids = tuple(tuple(f"grad:{names[r * n_cols + c]}{gsfx}" for c in range(n_cols))
                    for r in range(n_rows))
        rows_ = tuple(inputs) if what != "W_O" else tuple(f"H col {r}" for r in
                                                          range(1, n_rows + 1))
        words = ((f"the batch's gradient of {what}",) if batch else
                 (f"the gradient of {what}: the sum over the tokens",))
        return Grid(matrix_symbol(what, True, p), words, rows_, cols(n_cols), ids, tuple(tuple(values.get(i) for i in row)
                                                    for row in ids))

    d, n_out = lay.d_k, lay.d_out or lay.d_k
    soft = "A" if lay.scaling != "none" else "S"
    X, Q, K, V, P, H = (Sym(c) for c in "XQKVPH")
    qkt = mul(Q, Postfix(K, "T"))
    if batch:
        return tuple(params(w, "") for w in ("W_Q", "W_K", "W_V", "W_O")
                     if w != "W_O" or lay.d_out)
    if phase == "forward":
        out = [grid("att", "Q", ("queries, ", mul(X, Sym("W", "Q"))), d),
               grid("att", "K", ("keys, ", mul(X, Sym("W", "K"))), d),
               grid("att", "V", ("values, ", mul(X, Sym("W", "V"))), d),
               grid("att", "S", ("scores, ", qkt, ": query i against key j"), T, queries,
                    keys_)]
        if soft == "A":
            out.append(grid("att", "A", ("the scores scaled",), T, queries, keys_,
                            masked="inf"))
        out.append(grid("att", "P", ("the attention weights, softmax of each row",), T,
                        queries, keys_, heat=True))
        if lay.d_out:
            out.append(grid("att", "H", (mul(P, V),), d))
        out.append(grid("out", "z", ("the head's output, ", mul(H, Sym("W", "O"))
                                     if lay.d_out else mul(P, V)), n_out))
        return tuple(out)
    gsfx = at
    out = [grid("dout", "z", ("from the layer after it, or the loss",), n_out)]
    if lay.d_out:
        out.append(grid("datt", "H", ("through ", Sym("W", "O")), d))
    out += [grid("datt", "P", ("through ", mul(P, V)), T, queries, keys_),
            grid("datt", "V", ("through ", mul(P, V)), d),
            grid("datt", soft, ("the softmax Jacobian of each row",), T, queries, keys_,
                 masked="0")]
    if soft == "A":
        out.append(grid("datt", "S", ("through the scale",), T, queries, keys_, masked="0"))
    out += [grid("datt", "Q", ("through ", qkt), d), grid("datt", "K", ("through ", qkt), d)]
    out += [params(w, gsfx) for w in ("W_Q", "W_K", "W_V", "W_O") if w != "W_O" or lay.d_out]
    return tuple(out)


def _joined(rules: tuple[Node, ...]) -> Text:
    """Rules one after the other, separated by semicolons."""
    parts: list[Part] = []
    for i, r in enumerate(rules):
        parts += (["; "] if i else []) + [r]
    return tuple(parts)


def _params(names: list[str], p: Profile) -> Text:
    """w₅, w₆, ...: parameter symbols with commas between."""
    parts: list[Part] = []
    for i, n in enumerate(names):
        parts += ([", "] if i else []) + [node(f"param:{n}", p)]
    return tuple(parts)
