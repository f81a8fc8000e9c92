"""The simulator as a command.

python -m simulator --host 127.0.0.1 --port 8090 --config simulator/default.yaml --hf-root DIR
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from simulator.config import DEFAULT_CONFIG_PATH, SimulatorConfig
from simulator.server import Simulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulator", description="Serve the OpenRouter / Hugging Face simulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090, help="0 picks a free port")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH)
    parser.add_argument(
        "--hf-root", type=Path, default=None, help="dataset files (default: a temporary directory)"
    )
    parser.add_argument("--time-scale", type=float, default=None, help="override time_scale")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    config = SimulatorConfig.load(args.config)
    if args.time_scale is not None:
        config = config.model_copy(update={"time_scale": args.time_scale})
    simulator = Simulator(config, host=args.host, port=args.port, hf_root=args.hf_root)
    try:
        simulator.start()
    except OSError as error:
        print(f"simulator: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    print(
        f"Simulator on {simulator.base_url}\n"
        f"  OPENROUTER_BASE_URL={simulator.openrouter_base_url}\n"
        f"  HF_ENDPOINT={simulator.base_url}\n"
        f"  datasets in {simulator.hf_root}\n"
        "Ctrl-C stops it.",
        flush=True,
    )
    signal.signal(signal.SIGTERM, _interrupt)  # stop cleanly (temporary dataset dir) on kill
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
