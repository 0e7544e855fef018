"""bpwalk: backpropagation, worked out step by step with real numbers."""

__version__ = "0.1.0"
