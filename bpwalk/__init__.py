"""bpwalk: backpropagation, worked out step by step with real numbers.

From Python: ``bpwalk.load("mazur").run().to_html()`` (see bpwalk.api).
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    # bpwalk.load is imported on first use, so that `bpwalk --help` stays instant
    if name == "load":
        from bpwalk.api import load

        return load
    raise AttributeError(f"module 'bpwalk' has no attribute {name!r}")
