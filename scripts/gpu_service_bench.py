#!/usr/bin/env python3
"""The ``gpu`` serving profile end to end on the pip Triton: parity with the in-process fp32 results, then load.

Two steps, the first here, the second on the GPU machine (or here, on the CPU, as its rehearsal):

``pack DIR``   (here, with network) writes what the GPU machine lacks into DIR, a git-ignored folder that the device
               call carries: ``bundle.tar.xz`` (or ``bundle.tar`` with ``--compression none``) holding the Triton
               server extracted for the target Python (``--python``, default 3.12 = the device's) with its stub,
               the model set's ONNX files, the benchmark images (re-encoded, long side ≤ ``--long-side``) and the
               missing Python packages as unpacked wheels (``--wheels``; xz packs them about half as small as
               their zips, which the 64 MiB carry limit needs). ``pack.json`` says what is in it.
``run``        unpacks DIR into a fresh model cache (``$TRITON_OCR_HOME``), with ``--install-wheels`` installs the
               packages (offline) into this Python and points it at this checkout, starts the ``gpu`` profile
               (``--device gpu:N``; ``--device cpu`` = the same repository with CPU instances, fp32), and writes to
               ``--out`` (``$OUT`` on the device): ``report.md``, ``results.json``, ``tritonserver.log``.

What ``run`` measures:

1. Parity: every image through the server and through the in-process pipeline in fp32 (ONNX Runtime, CPU) with the
   served configuration (same detector padding to the profile's multiple, same recognition width buckets): the
   share of identical lines (multiset of texts per image) and of identical images; and the same against the plain
   in-process default (no padding, width_step 1) for reference. fp16 may change a character here and there.
2. Load: at each ``--concurrency`` c, one warm-up pass (new shapes are captured as CUDA graphs on their 2nd run),
   then ``max(images, --requests-per-stream × c)`` requests with c in flight: images/s, p50/p95 ms, failures, GPU
   utilisation (NVML, sampled every 100 ms), CPU ms per image by process group (tritonserver, each python model's
   stubs, this client), Triton's per-model mean batch (merging across images), queue and compute ms, and where
   the ceiling is (:func:`ceiling`).

Device command (docs/gpu.md, "Procedure"): ``python3 scripts/gpu_service_bench.py run --carry .gpu_service
--install-wheels --device gpu:0 --out $OUT``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SOURCE_DIRS = (REPO / "python_backend", REPO / "client")
sys.path[:0] = [str(path) for path in SOURCE_DIRS if str(path) not in sys.path]  # runs uninstalled on the device

DEVICE_WHEELS = (
    "pydantic==2.12.4", "pydantic-core==2.41.5", "annotated-types==0.8.0", "typing-inspection==0.4.5",
    "pyclipper==1.3.0.post6", "onnx2torch==1.5.15", "tritonclient==2.62.0", "python-rapidjson==1.25",
    "geventhttpclient==2.6.1", "gevent==26.9.0", "greenlet==3.5.6", "zope.event==6.2", "zope.interface==8.7",
    "brotli==1.2.1", "protobuf==5.29.6",
)
"""What the GPU machine's Python (3.12: torch, onnx, onnxruntime, opencv, numpy 2, grpcio, psutil, nvidia-ml-py
...) lacks for triton_ocr, its client and this script, at the versions this project runs (protobuf: the one
tritonclient's gRPC stubs run with here, whatever the machine has)."""
STUB_NUMPY_DIR = "stub-wheels"
"""numpy 1.26.4 for the python stub's overlay (serving/server/install.py), installed offline from here."""
IMAGE_FOLDERS = ("photos_docs", "icdar2015_blurred")
CARRY_LIMIT = 60 * 1024 * 1024
"""The bundle's budget: the device call carries at most 64 MiB, the working tree included."""


# --------------------------------------------------------------------------------------------------- pack (here)


def pip_download(specs: Sequence[str], python: str, into: Path) -> list[Path]:
    """Binary wheels of ``specs`` for CPython ``python`` on x86-64 Linux (no dependencies) into ``into``."""
    platforms = [f"manylinux_2_{n}_x86_64" for n in (5, 17, 24, 27, 28)] + ["manylinux2014_x86_64", "manylinux1_x86_64"]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
               "--only-binary=:all:", "--python-version", python, "--implementation", "cp", "-d", str(into)]
    command += [arg for platform in platforms for arg in ("--platform", platform)]
    done = subprocess.run([*command, *specs], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"pip download failed:\n{done.stderr.strip()}")
    return sorted(into.glob("*.whl"))


def unpack_wheel(wheel: Path, into: Path) -> None:
    """``wheel`` unpacked as ``into/<wheel file name>/`` (zipped back by :func:`rezip_wheels` on the device)."""
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(into / wheel.name)


def stage_server(python: str, staging: Path, from_wheel: bool) -> None:
    """The Triton server with the python stub for CPython ``python`` into ``staging/tritonserver-2.51.0``: the one
    installed here (with its stub environment) when ``python`` is this Python, else (or ``from_wheel``) extracted
    from the pinned wheel, as on the device."""
    from triton_ocr.serving.server import install

    tag = install.python_tag()
    if python == tag and not from_wheel:
        source = install.install_tritonserver()
        shutil.copytree(source.root, staging / source.root.name, ignore=shutil.ignore_patterns("__pycache__"),
                        symlinks=True)  # with this Python's stub environment, if it has one
        return
    install.python_tag = lambda: python  # the stub of the target Python, through the same extraction code
    try:
        install.install_tritonserver(home=staging)
    finally:
        install.python_tag = lambda: tag


def stage_models(model_set: str, staging: Path) -> list[str]:
    """The model set's files (as fetched into the model cache) and a manifest of them into ``staging``."""
    from triton_ocr.models.cache import model_home
    from triton_ocr.models.model_sets import model_set as lookup

    home, copied = model_home(), []
    manifest = json.loads((home / "manifest.json").read_text())
    kept: dict[str, dict[str, str]] = {}
    for name in lookup(model_set).models:
        for path in sorted((home / name).glob("*")):
            if path.is_file():
                (staging / name).mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, staging / name / path.name)
                copied.append(f"{name}/{path.name}")
    for requirement, members in manifest.items():
        kept[requirement] = {dst: digest for dst, digest in members.items() if dst in copied}
    (staging / "manifest.json").write_text(json.dumps({k: v for k, v in kept.items() if v}, indent=2))
    return copied


def stage_images(folders: Sequence[Path], per_folder: int, long_side: int, staging: Path) -> list[str]:
    """``per_folder`` images of each folder, re-encoded with their long side ≤ ``long_side``, into
    ``staging/images``."""
    from triton_ocr.bench.data import downscaled, select_images

    target = staging / "images"
    target.mkdir(parents=True)
    names = []
    for index, image in enumerate(select_images(list(folders), per_folder)):
        small = downscaled(image, long_side, quality=85) if long_side else image
        name = f"{index:03d}_{Path(image.name).stem}.jpg"
        (target / name).write_bytes(small.data)
        names.append(f"{name} ← {image.name}")
    return names


def pack(args: argparse.Namespace) -> int:
    """The ``pack`` command (see the module docstring)."""
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gpu-service-pack-") as tmp:
        staging = Path(tmp) / "bundle"
        staging.mkdir()
        stage_server(args.python, staging, args.from_wheel)
        info: dict[str, Any] = {"python": args.python, "models": stage_models(args.model_set, staging)}
        info["images"] = stage_images([Path(f) for f in args.images], args.per_folder, args.long_side, staging)
        if args.wheels:
            downloads = Path(tmp) / "downloads"
            for wheel in pip_download(DEVICE_WHEELS, args.python, downloads):
                unpack_wheel(wheel, staging / "wheels")
            for wheel in pip_download(["numpy==1.26.4"], args.python, Path(tmp) / "numpy"):
                unpack_wheel(wheel, staging / STUB_NUMPY_DIR)
            info["wheels"] = sorted(p.name for p in (staging / "wheels").iterdir())
        bundle = write_bundle(staging, out, args.compression)
    info |= {"bundle": bundle.name, "bytes": bundle.stat().st_size, "model_set": args.model_set}
    (out / "pack.json").write_text(json.dumps(info, indent=2, ensure_ascii=False))
    print(f"{bundle}: {bundle.stat().st_size / 2**20:.1f} MiB ({len(info['images'])} images)")
    if args.compression == "xz" and bundle.stat().st_size > CARRY_LIMIT:
        print(f"WARNING: over the {CARRY_LIMIT / 2**20:.0f} MiB budget: use fewer images or --long-side")
        return 1
    return 0


def write_bundle(staging: Path, out: Path, compression: str) -> Path:
    """``staging``'s contents as ``bundle.tar.xz`` (xz -6, multithreaded) or ``bundle.tar``."""
    for old in out.glob("bundle.tar*"):
        old.unlink()
    plain = out / "bundle.tar"
    with tarfile.open(plain, "w") as archive:
        for entry in sorted(staging.iterdir()):
            archive.add(entry, arcname=entry.name)
    if compression == "none":
        return plain
    subprocess.run(["xz", "-6", "-T0", str(plain)], check=True)
    return out / "bundle.tar.xz"


# --------------------------------------------------------------------------------------------------- environment


def unpack(carry: Path, into: Path) -> Path:
    """``carry``'s bundle unpacked into ``into`` (the model cache to use); returns ``into``."""
    bundles = sorted(carry.glob("bundle.tar*"))
    if not bundles:
        raise SystemExit(f"{carry} holds no bundle.tar[.xz]: run `pack` first")
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(bundles[0]) as archive:
        archive.extractall(into, filter="fully_trusted") if sys.version_info >= (3, 12) else archive.extractall(into)
    return into


def rezip_wheels(folder: Path, into: Path) -> list[Path]:
    """Every unpacked ``<name>.whl/`` folder of ``folder`` zipped back into ``into/<name>.whl``."""
    into.mkdir(parents=True, exist_ok=True)
    wheels = []
    for tree in sorted(folder.glob("*.whl")):
        wheel = into / tree.name
        with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for path in sorted(tree.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(tree).as_posix())
        wheels.append(wheel)
    return wheels


def install_wheels(home: Path) -> None:
    """Offline: the bundle's packages into this Python, a ``.pth`` that puts this checkout's ``python_backend`` and
    ``client`` on its path (the python stubs read this Python's site-packages), and pip pointed at the stub's
    numpy (``PIP_NO_INDEX``, ``PIP_FIND_LINKS``) for the launcher's overlay environment."""
    wheels = rezip_wheels(home / "wheels", home / "wheelhouse")
    if wheels:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile",
                        "--disable-pip-version-check", *map(str, wheels)], check=True)
    Path(sysconfig.get_path("purelib"), "triton_ocr_checkout.pth").write_text(
        "".join(f"{path}\n" for path in SOURCE_DIRS)
    )
    stub_numpy = rezip_wheels(home / STUB_NUMPY_DIR, home / "stub-wheelhouse")
    if stub_numpy:
        os.environ |= {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(home / "stub-wheelhouse")}


# --------------------------------------------------------------------------------------------------- parity


def served_profile(device: str) -> Any:
    """The ``gpu`` profile; on the CPU (the rehearsal) the same with CPU instances, one of each."""
    from triton_ocr.serving.repository.profiles import get_profile
    from triton_ocr.serving.repository.settings import PythonStep

    gpu = get_profile("gpu")
    if device != "cpu":
        return gpu
    return gpu.model_copy(update={
        "name": "gpu-rehearsal-cpu",
        "kind": "KIND_CPU",
        "python_models": {name: PythonStep(instances=1) for name in gpu.python_models},
        "inference_models": {
            name: settings.model_copy(update={"instances": 1, "intra_op_threads": 1})
            for name, settings in gpu.inference_models.items()
        },
    })


def served_config(args: argparse.Namespace) -> Any:
    """The pipeline config to serve: the model set, the device, and fp32 on the CPU (fp16 there is slow and not
    what the rehearsal checks), else the profile's precision unless ``--precision``."""
    from triton_ocr.config import OCRConfig

    runtime: dict[str, Any] = {"engine": "torch", "device": args.device}
    if args.precision or args.device == "cpu":
        runtime["precision"] = args.precision or "fp32"
    return OCRConfig(model_set=args.model_set).with_overrides(runtime=runtime)


def reference_texts(config: Any, size_multiple: int, images: Sequence[bytes]) -> list[list[str]]:
    """Each image's lines from the in-process pipeline in fp32 (ONNX Runtime, CPU) run through the served steps'
    bodies: detector input padded to ``size_multiple``, ``config``'s recognition buckets."""
    import numpy as np

    from triton_ocr import contract
    from triton_ocr.pipeline import OCRPipeline
    from triton_ocr.serving.in_triton.bodies import DetPreprocess, OCRPostprocess

    fp32 = {"engine": "onnxruntime", "device": "cpu", "precision": "fp32", "intra_op_threads": 0}
    local = OCRPipeline(config.with_overrides(runtime=fp32))
    post = OCRPostprocess(local.config, local.line_models)  # the recogniser and the classifier, as the pipeline calls them
    pre = DetPreprocess(local.config, size_multiple)

    async def one(data: bytes) -> list[str]:
        steps = await pre({contract.IMAGE_BYTES: np.array([data], dtype=np.object_)})
        handoff = {key: steps[key] for key in (contract.DECODED_IMAGE, contract.DET_INPUT_SIZE)}
        lines = await post({contract.PROB_MAP: local.det_model(steps[contract.DET_TENSOR]), **handoff})
        return [text.decode("utf-8") for text in lines[contract.TEXTS.name]]

    return [asyncio.run(one(data)) for data in images]


def default_texts(model_set: str, images: Sequence[bytes]) -> list[list[str]]:
    """Each image's lines from the plain in-process default (ONNX Runtime fp32; no padding, width_step 1)."""
    from triton_ocr.config import OCRConfig
    from triton_ocr.pipeline import OCRPipeline

    local = OCRPipeline(OCRConfig(model_set=model_set, runtime={"engine": "onnxruntime", "intra_op_threads": 0}))
    return [list(next(local.predict(data))["rec_text"]) for data in images]


def line_agreement(reference: Sequence[Sequence[str]], served: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Identical lines (per image, the multiset of texts in common) over the reference's lines and the served
    lines; images whose texts are identical in order."""
    common = sum(sum((Counter(r) & Counter(s)).values()) for r, s in zip(reference, served))
    ref_lines, served_lines = sum(map(len, reference)), sum(map(len, served))
    same_images = sum(list(r) == list(s) for r, s in zip(reference, served))
    return {
        "reference_lines": ref_lines,
        "served_lines": served_lines,
        "identical_lines": common,
        "identical_share": common / max(ref_lines, served_lines, 1),
        "identical_images": same_images,
        "images": len(reference),
        "differences": [
            {"image": index, "only_reference": sorted((Counter(r) - Counter(s)).elements())[:5],
             "only_served": sorted((Counter(s) - Counter(r)).elements())[:5]}
            for index, (r, s) in enumerate(zip(reference, served)) if Counter(r) != Counter(s)
        ][:10],
    }


# --------------------------------------------------------------------------------------------------- load


class GpuSampler:
    """GPU utilisation (%) and memory (MiB) of one GPU, sampled every ``interval_s`` through NVML while active."""

    def __init__(self, index: int | None, interval_s: float = 0.1) -> None:
        self.handle = None
        self.interval_s = interval_s
        self.samples: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if index is None:
            return
        try:
            import pynvml

            pynvml.nvmlInit()
            self.nvml = pynvml
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        except Exception as exc:  # noqa: BLE001 - reported: no utilisation figures then
            print(f"no GPU utilisation (NVML: {exc})", flush=True)

    def __enter__(self) -> GpuSampler:
        self.samples = []
        if self.handle is not None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            rates = self.nvml.nvmlDeviceGetUtilizationRates(self.handle)
            memory = self.nvml.nvmlDeviceGetMemoryInfo(self.handle)
            self.samples.append((int(rates.gpu), memory.used / 2**20))

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()

    def summary(self) -> dict[str, float] | None:
        if not self.samples:
            return None
        busy = sorted(sample[0] for sample in self.samples)
        return {"util_mean_pct": sum(busy) / len(busy), "util_p95_pct": busy[int(0.95 * (len(busy) - 1))],
                "memory_max_mib": max(sample[1] for sample in self.samples), "samples": len(busy)}


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else float("nan")


def measure_level(server: Any, target: Any, images: list[Any], concurrency: int, requests: int,
                  sampler: GpuSampler) -> dict[str, Any]:
    """One warm-up pass over the images at ``concurrency``, then ``requests`` requests measured (module doc)."""
    import psutil

    from triton_ocr.bench.processes import cpu_seconds, triton_processes
    from triton_ocr.bench.remote import concurrent_pass, statistics_delta

    concurrent_pass(target.call, images, concurrency)
    sequence = [images[i % len(images)] for i in range(requests)]
    processes, me = triton_processes(server), psutil.Process()
    cpu_before, client_before, stats_before = cpu_seconds(processes), me.cpu_times(), target.statistics()
    with sampler:
        measured = concurrent_pass(target.call, sequence, concurrency)
    cpu_after, client_after = cpu_seconds(processes), me.cpu_times()
    stats = statistics_delta(target.statistics(), stats_before)
    cpu = {group: seconds - cpu_before.get(group, 0.0) for group, seconds in cpu_after.items()}
    cpu["client"] = (client_after.user + client_after.system) - (client_before.user + client_before.system)
    done = max(len(measured.latencies) - measured.failures, 1)
    return {
        "concurrency": concurrency,
        "requests": len(sequence),
        "failures": measured.failures,
        "images_per_s": measured.images_per_s,
        "p50_ms": 1000 * percentile(measured.latencies, 0.50),
        "p95_ms": 1000 * percentile(measured.latencies, 0.95),
        "wall_s": measured.wall_s,
        "cpu_ms_per_image": {group: 1000 * seconds / done for group, seconds in sorted(cpu.items())},
        "cpu_cores_busy": {group: seconds / measured.wall_s for group, seconds in sorted(cpu.items())},
        "gpu": sampler.summary(),
        "models": {
            name: {"mean_batch": s.items / max(s.executions, 1), "executions": s.executions,
                   "queue_ms": s.mean_ms("queue"), "compute_ms": s.mean_ms("compute_infer")}
            for name, s in sorted(stats.items()) if s.requests
        },
    }


def ceiling(level: dict[str, Any], instances: dict[str, int], cores: int) -> str:
    """Where this level's limit is: the GPU (≥ 85% busy), the host CPU (≥ 85% of its cores), a model whose every
    instance is busy (python models: CPU cores ≈ instances), else not saturated (latency/queue bound)."""
    gpu = level.get("gpu") or {}
    busy = level["cpu_cores_busy"]
    total = sum(busy.values())
    if gpu.get("util_mean_pct", 0) >= 85:
        return f"GPU-bound: {gpu['util_mean_pct']:.0f}% busy (host {total:.1f} of {cores} cores)"
    if total >= 0.85 * cores:
        top = max(busy, key=busy.get)
        return f"host-CPU-bound: {total:.1f} of {cores} cores busy, most in {top} ({busy[top]:.1f})"
    saturated = [g for g, n in instances.items() if busy.get(g, 0.0) >= 0.85 * n]
    if saturated:
        return "bound by " + ", ".join(f"{g} ({busy[g]:.1f} cores for {instances[g]} instances)" for g in saturated)
    util = f", GPU {gpu['util_mean_pct']:.0f}%" if gpu else ""
    return f"not saturated: host {total:.1f} of {cores} cores{util} (queueing/latency bound at this concurrency)"


# --------------------------------------------------------------------------------------------------- run


def load_images(home: Path, limit: int | None) -> list[Any]:
    from triton_ocr.bench.data import BenchImage

    paths = sorted((home / "images").glob("*.jpg"))[:limit]
    if not paths:
        raise SystemExit(f"no images in {home / 'images'}")
    return [BenchImage(path.name, path.read_bytes()) for path in paths]


def parity(server: Any, target: Any, images: list[Any], model_set: str) -> dict[str, Any]:
    """Served texts against the in-process fp32 references (see the module docstring)."""
    served = [list(target.client.ocr(image.data)["rec_text"]) for image in images]
    data = [image.data for image in images]
    began = time.perf_counter()
    same_steps = reference_texts(server.config, server.profile.det_size_multiple, data)
    plain = default_texts(model_set, data)
    return {
        "vs_fp32_same_steps": line_agreement(same_steps, served),
        "vs_fp32_default": line_agreement(plain, served),
        "reference_s": time.perf_counter() - began,
    }


def instance_counts(profile: Any) -> dict[str, int]:
    counts = {name: step.instances for name, step in profile.python_models.items()}
    return counts | {name: settings.instances for name, settings in profile.inference_models.items()}


def run(args: argparse.Namespace) -> int:
    """The ``run`` command (see the module docstring)."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    home = Path(args.home or tempfile.mkdtemp(prefix="triton-ocr-home-"))
    began = time.perf_counter()
    report: dict[str, Any] = {"args": vars(args), "host": host_facts(args.device), "levels": []}
    unpack(Path(args.carry), home)
    os.environ["TRITON_OCR_HOME"] = str(home)
    if args.install_wheels:
        install_wheels(home)
    report["unpack_s"] = time.perf_counter() - began
    try:
        serve_and_measure(args, home, out, report)
    finally:
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)
        report["total_s"] = time.perf_counter() - began
        (out / "results.json").write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
        (out / "report.md").write_text(markdown(report))
        print(markdown(report), flush=True)
    return 0 if report.get("ok") else 1


def serve_and_measure(args: argparse.Namespace, home: Path, out: Path, report: dict[str, Any]) -> None:
    """Start the server, check parity, measure every concurrency (results into ``report`` as they come)."""
    from triton_ocr.bench.remote import TritonTarget
    from triton_ocr.serving.server.launcher import TritonServer

    images = load_images(home, args.limit)
    profile = served_profile(args.device)
    started = time.perf_counter()
    server = TritonServer.on_free_ports(config=served_config(args), profile=profile, log_file=out / "tritonserver.log",
                                        startup_timeout_s=args.startup_timeout_s, health_interval_s=3600.0)
    with server:
        report["startup_s"] = time.perf_counter() - started
        report["served"] = {"profile": profile.name, "runtime": server.config.runtime.model_dump(),
                            "text_rec": server.config.text_rec.model_dump(), "instances": instance_counts(profile),
                            "det_size_multiple": profile.det_size_multiple, "images": len(images)}
        target = TritonTarget(server, "gpu")
        try:
            report["parity"] = parity(server, target, images, args.model_set)
            print(json.dumps(report["parity"], ensure_ascii=False)[:2000], flush=True)
            gpu_index = None if args.device == "cpu" else int((args.device + ":0").split(":")[1])
            sampler = GpuSampler(gpu_index)
            for concurrency in args.concurrency:
                requests = max(len(images), args.requests_per_stream * concurrency)
                level = measure_level(server, target, images, concurrency, requests, sampler)
                level["ceiling"] = ceiling(level, instance_counts(profile), os.cpu_count() or 1)
                report["levels"].append(level)
                print(json.dumps({k: level[k] for k in ("concurrency", "images_per_s", "p50_ms", "p95_ms",
                                                        "failures", "ceiling")}), flush=True)
        finally:
            target.close()
    report["ok"] = all(level["failures"] == 0 for level in report["levels"]) and bool(report["levels"])


def host_facts(device: str) -> dict[str, Any]:
    """What ran it: CPU count, Python, torch (and the GPU's name)."""
    facts: dict[str, Any] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    try:
        import torch

        facts |= {"torch": torch.__version__, "cuda": torch.version.cuda}
        if device != "cpu" and torch.cuda.is_available():
            facts["gpu"] = torch.cuda.get_device_name(0)
    except ImportError as exc:
        facts["torch"] = f"missing: {exc}"
    return facts


def markdown(report: dict[str, Any]) -> str:
    """The report as markdown: setup, parity, one row per concurrency, CPU ms per image, per-model batching."""
    lines = [f"# gpu profile on the pip Triton ({report['args'].get('device')})", "",
             f"host: `{json.dumps(report.get('host'))}`", f"served: `{json.dumps(report.get('served'))}`",
             f"unpack {report.get('unpack_s', 0):.1f} s, server start {report.get('startup_s', 0):.1f} s, "
             f"total {report.get('total_s', 0):.1f} s", ""]
    for name, agreement in (report.get("parity") or {}).items():
        if isinstance(agreement, dict):
            lines.append(f"- parity {name}: {agreement['identical_lines']}/{agreement['reference_lines']} reference "
                         f"lines identical ({100 * agreement['identical_share']:.1f}% of max(ref, served) = "
                         f"max({agreement['reference_lines']}, {agreement['served_lines']})); "
                         f"{agreement['identical_images']}/{agreement['images']} images identical")
    lines += ["", "| c | requests | images/s | p50 ms | p95 ms | failures | GPU util % | ceiling |",
              "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for level in report.get("levels", []):
        gpu = level.get("gpu") or {}
        util = f"{gpu['util_mean_pct']:.0f} (p95 {gpu['util_p95_pct']:.0f})" if gpu else "–"
        lines.append(f"| {level['concurrency']} | {level['requests']} | {level['images_per_s']:.2f} | "
                     f"{level['p50_ms']:.0f} | {level['p95_ms']:.0f} | {level['failures']} | {util} | "
                     f"{level['ceiling']} |")
    lines += ["", "CPU ms per image by process group, and mean Triton batch (items per execution) per model:", ""]
    for level in report.get("levels", []):
        cpu = ", ".join(f"{group} {ms:.1f}" for group, ms in level["cpu_ms_per_image"].items())
        batches = ", ".join(f"{name} {m['mean_batch']:.1f} (queue {m['queue_ms']:.1f} / compute "
                            f"{m['compute_ms']:.1f} ms)" for name, m in level["models"].items())
        lines += [f"- c={level['concurrency']}: CPU ms/image: {cpu}", f"  batches: {batches}"]
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    packing = commands.add_parser("pack", help="here: write the carry folder")
    packing.add_argument("dir", help="the carry folder (git-ignored), e.g. .gpu_service")
    packing.add_argument("--python", default="3.12", help="the device's Python (its stub and wheels)")
    packing.add_argument("--model-set", default="PP-OCRv4_mobile")
    shared_data = REPO.parent / "shared" / "data"
    packing.add_argument("--images", nargs="+", default=[str(shared_data / folder) for folder in IMAGE_FOLDERS])
    packing.add_argument("--per-folder", type=int, default=16)
    packing.add_argument("--long-side", type=int, default=1600, help="re-encode larger images (0: keep them)")
    packing.add_argument("--no-wheels", dest="wheels", action="store_false", help="the target has the packages")
    packing.add_argument("--compression", choices=["xz", "none"], default="xz")
    packing.add_argument("--from-wheel", action="store_true", help="extract the server even for this Python")
    running = commands.add_parser("run", help="device (or CPU rehearsal): serve, check, measure")
    running.add_argument("--carry", required=True, help="the folder `pack` wrote")
    running.add_argument("--out", default=os.environ.get("OUT", "gpu_service_out"))
    running.add_argument("--home", help="model cache to unpack into (default: a new temporary folder)")
    running.add_argument("--device", default="gpu:0", help="gpu, gpu:N, or cpu (the rehearsal)")
    running.add_argument("--precision", choices=["fp32", "fp16", "bf16"], help="default: the profile's (fp16)")
    running.add_argument("--model-set", default="PP-OCRv4_mobile")
    running.add_argument("--install-wheels", action="store_true", help="install the bundle's packages (device)")
    running.add_argument("--limit", type=int, help="use only the first N images")
    running.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 128])
    running.add_argument("--requests-per-stream", type=int, default=4, help="requests per level ≥ this × c")
    running.add_argument("--startup-timeout-s", type=float, default=300.0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return pack(args) if args.command == "pack" else run(args)


if __name__ == "__main__":
    sys.exit(main())
