"""Copy a trained model into ``weights/<name>/`` with the decoding its measurements recommend.

    python scripts/ship_model.py runs/folk-small folk-small --temperature 1.0 --top-p 0.9

Writes ``model.safetensors`` and ``config.json`` (the training record kept); ``CARD.md`` is
written by hand from the measured figures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from clsm_cli.checkpoint import load_model, save_model
from clsm_cli.models.config import with_decoding

REPO_ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trained", help="model folder written by clsm train")
    parser.add_argument("name", help="name of the shipped model (folder under weights/)")
    parser.add_argument("--temperature", type=float, required=True, help="recommended decoding (0 = argmax)")
    parser.add_argument("--top-p", type=float, default=1.0)
    args = parser.parse_args()

    loaded = load_model(args.trained, device="cpu")
    model = loaded.model
    model.config = with_decoding(loaded.config, args.temperature, args.top_p)
    destination = REPO_ROOT / "weights" / args.name
    save_model(model, destination, training=loaded.metadata.get("training"), name=args.name)
    print(f"shipped {args.trained} as {destination} (decoding T={args.temperature:g}, top-p={args.top_p:g})")


if __name__ == "__main__":
    main()
