"""``triton-ocr gateway``: the PaddleX-compatible HTTP service, in front of Triton or of the in-process engine.

    triton-ocr gateway [--engine triton|local] [--triton-url grpc://127.0.0.1:8001] [--host 127.0.0.1]
                       [--port 8080] [--pipeline OCR|OCR.yaml] [--api-key-env NAME] [--url-allow CIDR[:PORT]] ...

Unset flags fall back to ``TRITON_OCR_GATEWAY_*`` environment variables, then to the defaults of
:class:`~triton_ocr.gateway.settings.GatewaySettings`.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from pydantic import ValidationError

from triton_ocr.errors import ConfigError

FLAGS: dict[str, dict[str, Any]] = {
    "--host": {"help": "address to bind (0.0.0.0 for every interface; default 127.0.0.1)"},
    "--port": {"type": int, "help": "port (default 8080; 0 picks a free one)"},
    "--engine": {"choices": ["triton", "local"], "help": "triton (default) or local: the in-process pipeline"},
    "--triton-url": {"help": "Triton server, grpc://HOST:PORT (default grpc://127.0.0.1:8001)"},
    "--pipeline": {"help": "'OCR' or a pipeline YAML: OCR parameters and image limits"},
    "--max-body-bytes": {"type": int, "help": "largest request body (default 32 MiB)"},
    "--max-in-flight": {"type": int, "help": "POST /ocr requests at once before a fast 503 (default 64)"},
    "--inference-timeout": {"type": float, "dest": "inference_timeout_s", "help": "seconds (default 60), then 504"},
    "--recovery-wait": {"type": float, "dest": "recovery_wait_s",
                        "help": "seconds an inference is retried while a Triton model heals (default 10), then 503"},
    "--url-allow": {"action": "append", "metavar": "CIDR[:PORT]",
                    "help": "let URL inputs reach this non-public network (repeatable)"},
    "--local-workers": {"type": int, "help": "inferences at once with --engine local (default 1)"},
    "--cpu-workers": {"type": int, "help": "threads for decoding and drawing (default min(4, CPUs))"},
    "--pdf-workers": {"type": int, "help": "PDFs rendered at once, each in a killable process (default 2)"},
}


def configure(parser: argparse.ArgumentParser) -> None:
    for flag, options in FLAGS.items():
        parser.add_argument(flag, default=None, **options)
    parser.add_argument("--no-url-input", dest="url_input", action="store_const", const=False, default=None,
                        help="accept base64 images only, never download URLs")
    parser.add_argument("--api-key-env", metavar="NAME",
                        help="require the header X-API-Key equal to this environment variable's value")


def settings_from_args(args: argparse.Namespace) -> Any:
    """Flags over environment over defaults, as one validated :class:`GatewaySettings`."""
    from triton_ocr.gateway.settings import GatewaySettings

    given = {key: value for key, value in vars(args).items() if value is not None and key != "api_key_env"}
    if getattr(args, "api_key_env", None):
        key = os.environ.get(args.api_key_env, "")
        if not key:
            raise ConfigError(f"--api-key-env {args.api_key_env}: that environment variable is empty or unset")
        given["api_key"] = key
    try:
        return GatewaySettings(**given)
    except ValidationError as exc:
        raise ConfigError(f"invalid gateway settings: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from triton_ocr.gateway.server import GatewayServer
    from triton_ocr.heap import apply_malloc_settings

    settings = settings_from_args(args)
    apply_malloc_settings()
    server = GatewayServer(settings)
    target = settings.triton_url if settings.engine == "triton" else "in-process pipeline"
    print(f"gateway: {server.url} (engine {settings.engine}: {target}; docs at {server.url}/docs)", flush=True)
    server.serve()
    return 0
