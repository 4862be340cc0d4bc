"""Convert a model's Hugging Face checkpoint again, at another precision, with the shipped model's manifest.

    python benchmarks/float32_twin.py ~/.cache/kakehashi/train/ja-en-v2/export-hf \
        --like data/models/kakehashi-ja-en --output /tmp/kakehashi-ja-en-float32

The twin shares the prompt format, languages, pairs and input limit of ``--like``, so that quality and speed
comparisons (int8 vs float32) differ in the weights' precision only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def convert_like(checkpoint: Path, like: Path, output: Path, quantization: str = "float32") -> Path:
    sys.path.insert(0, str(ROOT))
    from mt import Manifest, convert_model

    shipped = Manifest.load(like)
    extra: dict[str, Any] = {
        "pairs": [list(p) for p in shipped.pairs],
        "languages": list(shipped.languages),
        "max_input_tokens": shipped.max_input_tokens,
        "license": shipped.license,
    }
    convert_model(
        str(checkpoint),
        output,
        quantization=quantization,
        force=True,
        name=f"{shipped.name}-{quantization}",
        prompt=shipped.prompt,
        manifest_extra=extra,
    )
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--like", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--quantization", default="float32")
    args = parser.parse_args()
    print(convert_like(args.checkpoint.expanduser(), args.like, args.output, args.quantization))


if __name__ == "__main__":
    main()
