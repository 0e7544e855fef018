"""Views: turn a Trace into text. They format; they never compute a number."""
