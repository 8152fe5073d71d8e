"""The cost model: pure arithmetic over measured numbers and hardware profiles.

Formula modules (``pricing``, ``tokens``, ``energy``, ``api``, ``breakeven``,
``fixed_performance``, ``scaling``) do no I/O. ``catalog`` and ``reference`` load the shipped
price and reference datasets, ``inputs`` reads result files (every field relied on is listed
there), ``recount`` loads tiktoken's encodings, and ``analyze`` composes a full cost report
(the records of ``records``) from result files and options.
"""
