"""Datasets shipped with the cost model: the API price snapshot (LiteLLM's JSON schema), its
source note, friendly aliases and published reference points."""
