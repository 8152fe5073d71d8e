"""Test doubles shared by the test suite (a fake ``pynvml`` module, ...)."""
