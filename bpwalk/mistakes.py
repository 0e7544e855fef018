"""The catalogue of classic hand-calculation mistakes that ``bpwalk check`` can name.

Each entry says what the student did and in which step kinds' formulas it can be made. The
operations hold the injection hooks (the wrong formula beside the right one, in
``graph/layers.py``, ``graph/ops.py`` and ``optimizers.py``); the judge re-runs the engine with a Mistake injected and compares the
student's number with what comes out. Nothing here computes.
"""

from __future__ import annotations

from typing import NamedTuple


class Mistake(NamedTuple):
    """A classic mistake made in the formula of one step.

    `target` is a step id (``grad:w6``); the engine computes that step with the wrong formula
    and everything after it from the wrong value, as a student would.
    """

    kind: str  # a key of MISTAKES
    target: str


# kind -> (what the student did, the step kinds whose formula it can change)
MISTAKES: dict[str, tuple[str, tuple[str, ...]]] = {
    "sign": ("the sign is flipped", ("net", "out", "loss", "dout", "dloss", "dact", "dnet",
                                     "grad")),
    "activation_left_out": ("forgot the activation: net written where out = f(net) belongs",
                            ("out",)),
    "double": ("a factor of 2 too many (the ½ of the loss dropped)",
               ("loss", "dout", "dloss", "dnet", "grad")),
    "half": ("a factor of ½ too many (a ½ added to the loss, or applied twice)",
             ("loss", "dout", "dloss", "dnet", "grad")),
    "dact_at_out": (("the activation's derivative taken at out instead of net: f′(out), "
                     "not f′(net)"), ("dact", "dnet", "grad")),
    "dact_at_net": (("net put where out belongs in the activation's derivative (for sigmoid: "
                     "net(1 − net), not out(1 − out))"), ("dact", "dnet", "grad")),
    "dact_left_out": ("the activation's derivative dout/dnet left out", ("dnet", "grad")),
    "dact_again": (("the activation's derivative multiplied in again after the loss's "
                    "derivative already cancelled it (cross-entropy: δ = out − target)"),
                   ("dnet", "grad")),
    "jacobian_diagonal": (("only the softmax Jacobian's diagonal out_k(1 − out_k) used; its "
                           "off-diagonal terms −out_j·out_k left out"), ("dnet", "grad",
                                                                         "datt")),
    "updated_weights": ("the updated weights used in the backward pass, not the old ones",
                        ("dout", "dnet", "grad")),
    "lr_left_out": ("the learning rate left out of the update", ("new",)),
    "lr_twice": ("the learning rate applied twice", ("new",)),
    "update_added": (("the update added instead of subtracted (or the error term taken as "
                      "target − out while still subtracting: the two sign conventions mixed)"),
                     ("new",)),
    "reduction": ("mean and sum over the batch mixed up", ("loss", "grad")),
    "mean_twice": ("the batch's 1/m applied twice", ("loss", "grad")),
    "one_sample": ("one sample's gradient taken instead of combining the batch's", ("grad",)),
    "bias_not_summed": (("a shared bias's gradient taken from one neuron instead of summed "
                         "over the neurons it feeds"), ("grad",)),
    "neighbour_neuron": ("a neighbouring neuron's value used", ("net", "out", "dout", "dnet",
                                                               "grad")),
    "neighbour_input": ("the wrong input used (a neighbour's)", ("net", "grad")),
    # the optimizers' (bpwalk.optimizers writes each wrong formula beside the right one)
    "velocity_sign": (("the velocity's sign mixed up: μ·v − g (CS231n's v = μv − ηg has η "
                      "inside and adds v; torch's v = μv + g is subtracted)"), ("vel",)),
    "nesterov_plain": ("Nesterov's look-ahead left out: p − η·v, not p − η·(g + μ·v)", ("new",)),
    "bias_correction_left_out": ("the bias correction left out: m (or v) used for m̂ (or v̂)",
                                 ("mhat", "vhat")),
    "t_from_0": ("t counted from 0: 1 − β^(t−1) instead of 1 − βᵗ", ("mhat", "vhat")),
    "sqrt_left_out": ("the square root left out of the denominator: v̂ + ε, not √v̂ + ε",
                      ("new",)),
    "eps_inside_sqrt": ("ε put inside the square root: √(v̂ + ε), not √v̂ + ε", ("new",)),
    "l2_not_decoupled": (("weight decay added to the gradient (L2, Adam's) where AdamW "
                         "decouples it"), ("m", "v")),
    # convolution and pooling layers' (the wrong formulas in graph/layers.py: Conv, Pool)
    "kernel_flipped": (("the kernel flipped in the forward pass: a true convolution, not the "
                        "cross-correlation torch's Conv2d computes"), ("net",)),
    "pool_spread": (("the max-pool gradient spread over the whole window, not routed to "
                     "its winner only"), ("dout",)),
    "pool_averaged": (("the max-pool gradient averaged over the window (1/size to each "
                       "cell), not routed to its winner only"), ("dout",)),
    "pool_not_divided": (("the average-pool gradient not divided by the window's size: "
                          "each cell given all of it"), ("dout",)),
    "stride_ignored": (("stride ignored in the kernel gradient: each product read the input "
                        "as if the kernel slid one cell at a time"), ("grad",)),
    # dropout's and normalisation's (the wrong formulas in graph/layers.py: Dropout, Norm)
    "dropout_not_scaled": (("dropout's scaling forgotten in the forward pass: a·mask, not "
                            "a·mask/(1 − p)"), ("drop",)),
    "dropout_backward_not_scaled": (("dropout's scaling forgotten in the backward pass: "
                                     "the gradient times the mask, not mask/(1 − p)"),
                                    ("dout", "din")),
    "dropout_mask_not_applied": (("dropout's mask not applied in the backward pass: the "
                                  "dropped values given a gradient too"), ("dout", "din")),
    "norm_stats_constant": (("μ and σ² treated as constants in the backward pass: only the "
                             "x̂ path, ∂E/∂x̂/√(σ² + ε), without the σ² and μ paths"),
                            ("dout",)),
    "variance_unbiased": (("the unbiased variance (divided by m − 1) where training mode "
                           "takes the biased one (divided by m)"), ("var",)),
    # a circuit's (graph:), made in its local gradients or its chain rule (bpwalk.graph: the
    # wrong local derivatives sit on their operations in ops.py, the chain's in engine/circuit.py)
    "fanout_not_summed": (("the gradients of a value that feeds several places not summed "
                           "(only the last path kept)"), ("grad", "local")),
    # (to both before to the smaller: on the smaller input the two give the same number)
    "max_to_both": ("max's (or min's) gradient sent to both inputs", ("local",)),
    "max_to_smaller": ("max's gradient sent to the smaller input (min's to the larger)",
                       ("local",)),
    "sub_sign_lost": ("the sign of a − b lost on b: ∂(a − b)/∂b taken as +1, not −1",
                      ("local",)),
    "upstream_left_out": ("the upstream gradient left out (the local gradient alone)",
                          ("grad",)),
    "quotient_sign": ("the quotient rule's sign: ∂(a/b)/∂b taken as +a/b², not −a/b²",
                      ("local",)),
    "exp_local_one": ("exp's local gradient taken as 1, not e^x", ("local",)),
    # a sequence's (an rnn layer unrolled in time: the wrong formulas in graph/recurrent.py)
    "bptt_truncated": (("backpropagation through time truncated: the path from the next time "
                        "step (through W_h) left out of ∂E/∂h_t"), ("dout",)),
    "dact_wrong_time": (("the activation's derivative taken at the wrong time step: act′ of "
                         "step t, not t+1, on the path from step t+1"), ("dout",)),
    "wh_last_step_only": (("a weight's gradient taken from the last time step only, not "
                           "summed over the time steps"), ("grad",)),
    # an attention head's (the wrong formulas in graph/attention.py)
    "scale_left_out": (("attention's 1/√d_k scale left out: softmax(Q·Kᵀ), not "
                        "softmax(Q·Kᵀ/√d_k) (or ∂E/∂S taken as ∂E/∂A)"), ("att", "datt")),
    "scale_twice": (("attention's 1/√d_k applied twice: the scores (or ∂E/∂S) divided by "
                     "d_k, not √d_k"), ("att", "datt")),
    "kt_as_k": (("Kᵀ written as K: the scores S = Q·K, not Q·Kᵀ (possible only when d_k "
                 "equals the number of tokens)"), ("att",)),
    # an lstm layer's (the wrong formula beside the right one in graph/recurrent.py: Lstm)
    "forget_path_left_out": (("the LSTM forget path to c_(t−1) left out: ∂E/∂c_t taken "
                              "through h_t only, without ∂E/∂c_(t+1)·f_(t+1)"), ("dnet",)),
}

# the kinds above that only a circuit can have (a network's judge never tries them)
GRAPH_ONLY = ("fanout_not_summed", "max_to_smaller", "max_to_both", "sub_sign_lost",
              "upstream_left_out", "quotient_sign", "exp_local_one")
# the kinds above that only a layer of this kind can have, in the steps it writes or (the
# pooling's) in the dout of the cells feeding it
LAYER_ONLY = {"kernel_flipped": ("conv2d",), "pool_spread": ("maxpool",),
              "pool_averaged": ("maxpool",), "pool_not_divided": ("avgpool",),
              "scale_left_out": ("attention",), "scale_twice": ("attention",),
              "kt_as_k": ("attention",), "forget_path_left_out": ("lstm",),
              "stride_ignored": ("conv2d",), "dropout_not_scaled": ("dropout",),
              "dropout_backward_not_scaled": ("dropout",),
              "dropout_mask_not_applied": ("dropout",),
              "norm_stats_constant": ("batchnorm", "layernorm"),
              "variance_unbiased": ("batchnorm", "layernorm")}

# the kinds above that only a sequence (an rnn or lstm layer) can have
SEQUENCE_ONLY = ("bptt_truncated", "dact_wrong_time", "wh_last_step_only")

__all__ = ["GRAPH_ONLY", "LAYER_ONLY", "MISTAKES", "SEQUENCE_ONLY", "Mistake"]
