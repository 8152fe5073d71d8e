"""The cost model: pure arithmetic over measured numbers and hardware profiles.

Formula modules (``pricing``, ``tokens``, ``energy``, ``api``, ``breakeven``,
``fixed_performance``, ``scaling``) do no I/O. ``catalog`` and ``reference`` load the shipped
price and reference datasets, ``inputs`` reads result files (every field relied on is listed
there, and the model's config.json and the run's manifest for the memory check and the
server's hold time), ``recount`` loads tiktoken's encodings.

``analyze`` holds the entry points that compose a full cost report (the records of
``records``) from result files and options. It reads the results, profiles and price catalog,
and hands them to one module per step: ``options`` (what can be asked, the defaults),
``metrics`` (the accuracy metric, the saturation point), ``basis`` (how a run relates to the
priced hardware, the prices, electricity, the GPU count and re-pricing limits), ``points``
(per bench load point, saturation, break-even), ``tasks`` (per eval task, break-even at each
task's mix), ``hold`` (the server's hold time beside as run), ``compare`` (API cost per task, re-counting logged samples; cost at
fixed performance) and ``direct`` (what-if inputs), which share one ``context``.
"""
