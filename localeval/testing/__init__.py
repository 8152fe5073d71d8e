"""Test doubles that ship with the package: a fake OpenAI-compatible streaming server with
controllable latencies and faults, for tests, benchmarks of the load generator, and for
checking a setup without a model."""
