"""bpwalk: backpropagation, worked out step by step with real numbers.

From Python: ``bpwalk.load("mazur").run().to_html()`` (see bpwalk.api); a PyTorch model:
``bpwalk.from_torch(model, x, y).run()`` (see bpwalk.fromtorch).
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    # bpwalk.load is imported on first use, so that `bpwalk --help` stays instant
    if name == "load":
        from bpwalk.api import load

        return load
    if name == "from_torch":  # torch itself only when it is called
        from bpwalk.fromtorch import from_torch

        return from_torch
    raise AttributeError(f"module 'bpwalk' has no attribute {name!r}")
