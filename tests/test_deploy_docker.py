"""Static checks of deploy/docker (no Docker engine here): the compose files parse and agree with the Dockerfiles
and the Helm chart on the Triton release, the Triton start command and the gateway command line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "deploy" / "docker"
CHART_VALUES = yaml.safe_load((ROOT / "deploy" / "helm" / "triton-ocr" / "values.yaml").read_text())
DOCKERFILES = ("model-repository.Dockerfile", "gateway.Dockerfile")


def compose(name: str = "compose.yaml") -> dict:
    return yaml.safe_load((DOCKER / name).read_text())


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (DOCKER / dockerfile).read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def arg_default(dockerfile: str, name: str) -> str:
    (value,) = [args.split("=", 1)[1] for op, args in instructions(dockerfile) if op == "ARG" and args.startswith(f"{name}=")]
    return value


def test_compose_services_and_wiring():
    services = compose()["services"]
    assert set(services) == {"model-repository", "triton", "gateway"}
    assert services["triton"]["depends_on"] == {"model-repository": {"condition": "service_completed_successfully"}}
    assert services["gateway"]["depends_on"] == {"triton": {"condition": "service_healthy"}}
    assert services["model-repository"]["volumes"] == ["triton-ocr:/mnt/triton-ocr"]
    assert services["triton"]["volumes"] == ["triton-ocr:/opt/triton-ocr:ro"]
    assert services["triton"]["shm_size"] == "1gb"
    assert services["triton"]["ports"] == ["127.0.0.1:8002:8002"]  # metrics, on loopback only
    assert services["gateway"]["ports"] == ["8080:8080"]
    probe = services["triton"]["healthcheck"]["test"]  # a real inference, as the chart's readiness probe
    assert probe[:4] == ["CMD", "/opt/triton-ocr/venv/bin/python", "-m", "triton_ocr.serving.server.readiness"]
    assert probe[probe.index("--url") + 1] == "127.0.0.1:8001"  # gRPC: HTTP is on the container's loopback only
    assert "--model-control-mode=explicit" not in services["triton"]["command"]  # none: Triton refuses load/unload
    assert "--http-address=127.0.0.1" in services["triton"]["command"]
    from triton_ocr.serving.server.launcher import RESTRICTED_APIS

    script = services["triton"]["entrypoint"][2]
    for flag in ("--http-restricted-api", "--grpc-restricted-protocol"):
        assert f'"{flag}={",".join(RESTRICTED_APIS)}:triton-ocr-admin-key=$$key"' in script
    # the entrypoint equals the chart's: tests/test_deploy_chart.py::test_compose_starts_triton_as_the_chart_does


def test_compose_gpu_overlay_reserves_a_gpu_and_the_gpu_repository():
    services = compose("compose.gpu.yaml")["services"]
    assert services["model-repository"]["build"]["args"]["PROFILE"] == "gpu"
    assert services["model-repository"]["image"].endswith("-gpu")
    (device,) = services["triton"]["deploy"]["resources"]["reservations"]["devices"]
    assert device == {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}


def test_one_triton_release_everywhere():
    version = CHART_VALUES["triton"]["image"]["version"]
    assert arg_default("model-repository.Dockerfile", "TRITON_VERSION") == version
    assert compose()["services"]["triton"]["image"] == "nvcr.io/nvidia/tritonserver:${TRITON_VERSION:-%s}-py3" % version
    assert compose()["services"]["model-repository"]["build"]["args"]["TRITON_VERSION"] == "${TRITON_VERSION:-%s}" % version


def test_gateway_command_line_is_the_same_assumption_everywhere():
    cmd = [args for op, args in instructions("gateway.Dockerfile") if op == "CMD"]
    (entrypoint,) = [args for op, args in instructions("gateway.Dockerfile") if op == "ENTRYPOINT"]
    assert yaml.safe_load(entrypoint) == ["triton-ocr"]
    compose_command = compose()["services"]["gateway"]["command"]
    assert yaml.safe_load(cmd[0]) == compose_command
    expanded = {"$(TRITON_URL)": "grpc://triton:8001", "$(GATEWAY_PORT)": "8080"}
    assert [expanded.get(a, a) for a in CHART_VALUES["gateway"]["args"]] == compose_command


def test_model_image_copy_matches_the_chart_init_container():
    (cmd,) = [args for op, args in instructions("model-repository.Dockerfile") if op == "CMD"]
    chart_template = (ROOT / "deploy" / "helm" / "triton-ocr" / "templates" / "triton-deployment.yaml").read_text()
    assert f"command: {cmd}" in chart_template


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_images_are_pinned_and_users_are_not_root(dockerfile):
    steps = instructions(dockerfile)
    froms = [args.split()[0] for op, args in steps if op == "FROM"]
    assert froms and all(":" in image and not image.endswith(":latest") for image in froms)
    (user,) = [args for op, args in steps if op == "USER"]
    assert not user.startswith(("0", "root"))


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_copies_only_what_the_context_has(dockerfile):
    ignore = (DOCKER / f"{dockerfile}.dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    sources = [
        args.split()[:-1]
        for op, args in instructions(dockerfile)
        if op == "COPY" and not args.startswith("--from")
    ]
    for source in (s for group in sources for s in group):
        assert source.rstrip("/") in allowed, f"{source} is not in the build context allow-list"
        assert (ROOT / source).exists(), f"{source} is missing from the repository"
