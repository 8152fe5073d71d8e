"""Deployment planning from a model's ``config.json`` and a hardware profile: parameter and
weight sizes, KV-cache bytes, whether the model fits, roofline throughput bounds, fleet
sizing against a target load and comparison of measurements with those bounds.

Every figure here is an *estimate* computed from public specs with a stated formula, not a
measurement. The formulas are pure functions (:mod:`~localeval.plan.model_facts`,
:mod:`~localeval.plan.memory`, :mod:`~localeval.plan.roofline`,
:mod:`~localeval.plan.fleet`, :mod:`~localeval.plan.compare`); reading config and result
files happens in the few loader functions named ``load_*`` / ``find_*``, and
:mod:`~localeval.plan.planner` wires them together for the ``localeval plan`` command.
"""
