"""Checks the video stack at start-up and says what is wrong in one line.

python -m hf_loader.doctor
"""

from __future__ import annotations

import argparse
import sys


def torchcodec_status() -> tuple[bool, str]:
    """Returns (usable, message) for torchcodec, which datasets' ``Video`` feature needs."""
    try:
        import torch
    except ImportError as err:
        return False, f"torch is not installed ({err}); run scripts/setup_env.sh"
    try:
        from torchcodec.decoders import VideoDecoder  # noqa: F401
    except Exception as err:  # torchcodec raises RuntimeError/OSError when FFmpeg is missing
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return False, (
            f"torchcodec cannot be loaded beside torch {torch.__version__}: {first}. "
            "Install FFmpeg's shared libraries (Debian: apt-get install libavdevice59 libavfilter8 "
            "libavformat59 libavcodec59 libavutil57 libswscale6 libswresample4) and a torchcodec "
            "release matching torch (torch 2.14 -> torchcodec 0.17). Without it, datasets' Video "
            "decoding fails; hf_loader falls back to PyAV where it can."
        )
    import torchcodec

    return True, f"torchcodec {torchcodec.__version__} works beside torch {torch.__version__}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quiet", action="store_true", help="print only problems")
    args = parser.parse_args(argv)
    ok, message = torchcodec_status()
    if not ok or not args.quiet:
        print(("[ok] " if ok else "[problem] ") + message, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
