"""Shipped config.json files of popular architectures, one ALIAS.json each (see
localeval.plan.model_facts.SHIPPED_MODELS); a package so that they ship in the wheel."""
