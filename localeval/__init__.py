"""localeval: measure what a task costs on an open-weight model served on your own GPUs,
and set it beside closed-API prices.

Kept import-light: the CLI and the server watchdog import this package first.
"""

__version__ = "0.1.0"
