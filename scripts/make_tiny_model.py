"""Build the project's tiny test model into a folder: ``python scripts/make_tiny_model.py OUT_DIR``.

A thin wrapper over :func:`localeval.tinymodel.build_tiny_model`; ``localeval`` itself finds
the model through the recipe id ``builtin:tiny-sums``, which builds it into the cache."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from localeval.tinymodel import MARKER_FILE, TinyModelParams, build_tiny_model


def main() -> None:
    defaults = TinyModelParams()
    parser = argparse.ArgumentParser(
        description="Build the tiny test model (single-digit sums) into OUT_DIR."
    )
    parser.add_argument("out_dir", type=Path, help="folder to write the model into")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="training seed")
    parser.add_argument("--steps", type=int, default=defaults.train_steps, help="training steps")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = build_tiny_model(args.out_dir, seed=args.seed, train_steps=args.steps)
    marker = json.loads((out / MARKER_FILE).read_text(encoding="utf-8"))
    print(
        f"{out}: built in {marker['build_s']} s, "
        f"answer-token accuracy on the training set {marker['train_answer_token_accuracy']}"
    )


if __name__ == "__main__":
    main()
