"""The graph core's descriptions: a scenario as a graph of named operations, each defined
once; bpwalk.engine sweeps them forward and back (explain.py a network's, circuit.py a
circuit's).

A network (``layers:``):

- ``layers``: the layer operations, ``Dense`` (net = W·a + b, out = f(net)) and ``Loss``,
  each with its forward and backward arrays, the mistakes it can suffer, the Steps it
  writes and ``evaluate`` (a step it wrote, on other numbers).
- ``network``: the front end, ``network(scenario) -> Network(layers, loss)``, the chain.

A circuit (``graph:``), in the order data flows:

- ``expr``: the safe expression parser (tokenizer + precedence climbing; never eval).
  ``parse(text) -> Expr``; ``ExprError(message, at)`` with ``at`` an offset in the text.
- ``ops``: one entry per operation, ``Op(name, arity, value, local, formula, local_formula,
  gate, mistakes)``; ``OPS`` (add sub mul div neg pow exp log sqrt abs tanh sigmoid relu
  max min) and ``op(name)``, which also gives the losses of ``GRAPH_LOSSES`` as operations
  of (out, target). ``Op.gate`` is the label a drawing puts on the gate (+, ·, exp, σ...).
- ``compile``: ``compile_graph(inputs, params, [(node, text)], output, loss, target) ->
  (Graph | None, [CompileError])``. ``Graph(leaves, nodes, output, written, result, loss,
  target)``: ``leaves`` are ``Leaf(name, value, kind)`` (kind "input" or "param"); ``nodes``
  are ``GNode(name, op, args, owner)`` in topological order, ``args`` names (str) or number
  literals (float); a node written as one expression is broken into operations named
  ``f.1, f.2, ...`` after it (``owner`` is ``f``); ``output`` is the node seeded with 1
  (``"loss"`` when a loss follows the scenario's output ``result``); ``written`` maps each
  scenario node to its expression as written; ``Graph.consumers()`` maps a name to the
  operations reading it.
- ``bpwalk.engine.circuit`` sweeps it: ``run(scenario, iterations, show, round_to,
  mistakes, watch) -> Trace`` (what ``engine.run`` calls for a graph scenario);
  ``evaluate(step, v)`` for the judge; ``mistake_applies(kind, step)``.
- ``written``: ``rhs(step, profile)``, how a circuit's step reads (notation.rhs hands over).

The scenario is ``bpwalk.scenario.model.GraphScenario`` (``.graph`` is the Graph; also
``learning_rate`` (None: no update), ``ascent``, ``iterations``, ``notation``, ``inputs``,
``param_names``); ``getattr(sc, "graph", None) is not None`` tells a circuit from a network.

The Trace contract for circuits (docs/circuits.md; bpwalk/trace.py):

- ``val:NAME`` (phase forward; the loss node's in phase loss): every input, param and
  operation. Kind "val"; fn "input"/"param" for leaves (no terms), else the op's name with
  ``terms[0]`` its operands (``val:a``, or ``num`` for a literal, ``target`` for a loss's).
- ``local:NODE/NAME`` (backward): ∂NODE/∂NAME, kind "local", fn the op; ``terms[0]`` the
  op's operands, ``terms[1]`` = (``val:NODE``,). A name the op reads twice: the sum.
- ``grad:NAME`` (backward): ∂output/∂NAME, kind "grad"; fn "seed" for the output (terms
  ((``1``,),)), else fn "chain" with one term (``grad:CONSUMER``, ``local:CONSUMER/NAME``)
  per path; no terms (value 0) for a node that does not reach the output.
- ``new:NAME`` (update, only with learning_rate): kind "new", fn "update" (descent) or
  "ascent", terms ((``val:NAME``,), (``lr``,), (``grad:NAME``,)).

Backward steps come gate by gate from the output back: ``grad:NODE`` then its
``local:NODE/*``; the leaves' ``grad:`` last. ``views.circuit.gates(iteration)`` groups them.
Views: ``views.circuit.Walkthrough`` (terminal) and ``views.circuit.markdown``;
``terminal.Walkthrough`` and ``markdown.render`` hand a circuit to them. The circuit
drawn (terminal and SVG) and its picture model (what a step fills in, what it reads):
``views.circuit_drawing``; the HTML/PDF page: ``views.html``; the Markdown worksheet:
``views.circuit_sheet``; the stepper's ``d`` and the quiz draw it through
``views.drawing``.
"""
