"""A real inference as the health check: the probe image (one text line, so every model runs, the recogniser
included) through each public entry. A dead python stub leaves Triton's ``/v2/health/ready`` and per-model ready
endpoints green while every call fails; this check fails.

The launcher's supervisor calls :func:`run_probes`; Kubernetes runs the module as an exec probe in the Triton
container (the model image's environment has this package and tritonclient)::

    python -m triton_ocr.serving.server.readiness --url 127.0.0.1:8001 --timeout 10

Exit status 0 when every entry answered, 1 (and the error on stderr) when not.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence

from triton_ocr import contract
from triton_ocr.probe import probe_inputs


def run_probes(client, probes: Iterable[tuple[str, contract.Entry]], timeout_s: float | None = None) -> None:  # noqa: ANN001
    """One inference of the probe image through each ``(model name, entry)`` over ``client`` (a
    ``tritonclient.grpc`` client: Triton's HTTP frontend is off wherever clients could reach it); raises the first
    failure."""
    import tritonclient.grpc as grpc

    for model, entry in probes:
        inputs = []
        for name, array in probe_inputs(entry).items():
            inputs.append(grpc.InferInput(name, list(array.shape), entry.input_spec(name).datatype))
            inputs[-1].set_data_from_numpy(array)
        client.infer(model, inputs, client_timeout=timeout_s)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triton_ocr.serving.server.readiness", description=__doc__)
    parser.add_argument("--url", default="127.0.0.1:8001", help="Triton's gRPC endpoint, HOST:PORT")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds for each inference")
    args = parser.parse_args(argv)
    import tritonclient.grpc as grpc

    client = grpc.InferenceServerClient(args.url)
    try:
        run_probes(client, ((entry.name, entry) for entry in contract.ENTRIES), args.timeout)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        print(f"not ready: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
