"""The gateway's settings: one pydantic model, read from ``TRITON_OCR_GATEWAY_*`` environment variables and
overridden by ``triton-ocr gateway`` flags.

OCR parameters (thresholds, sizes, image limits such as ``image.max_bytes``, ``image.max_pixels`` and
``image.url_timeout_s``) are not repeated here: they come from the pipeline's :class:`~triton_ocr.config.OCRConfig`
(``pipeline``: ``OCR`` or a pipeline YAML). These settings only say how the HTTP service runs.
"""

from __future__ import annotations

import os
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from triton_ocr.gateway.fetch import AllowRuleField

ENV_PREFIX = "TRITON_OCR_GATEWAY_"


class GatewaySettings(BaseSettings):
    """How the HTTP gateway runs. Every field can be set as ``TRITON_OCR_GATEWAY_<FIELD>`` (upper case)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True)

    host: str = Field("127.0.0.1", description="address to bind (0.0.0.0 for every interface)")
    port: int = Field(8080, ge=0, le=65535, description="port to bind (0: any free port)")
    engine: Literal["triton", "local"] = Field(
        "triton", description="triton: a Triton server over gRPC; local: the in-process pipeline"
    )
    triton_url: str = Field("grpc://127.0.0.1:8001", description="the Triton server (engine triton)")
    pipeline: str = Field("OCR", description="'OCR' or a pipeline YAML: the OCR parameters and image limits")

    max_body_bytes: int = Field(
        32 * 1024 * 1024, gt=0, description="largest request body; a base64 image is 4/3 of its file size"
    )
    max_in_flight: int = Field(
        64, ge=1, description="POST /ocr requests processed at once, counted from the end of their body; beyond it "
        "a fast 503 with Retry-After"
    )
    max_receiving_bodies: int = Field(
        default_factory=lambda data: 2 * data["max_in_flight"],
        ge=1,
        description="POST /ocr bodies being received at once (they hold at most this × max_body_bytes; default "
        "2 × max_in_flight); beyond it a fast 503 with Retry-After",
    )
    body_timeout_s: float = Field(30.0, gt=0, description="longest time to receive a request body (then 408)")
    body_min_rate_bytes_s: float = Field(
        10_000.0, ge=0, description="after body_rate_grace_s, a body must have arrived at this average rate since "
        "its headers (bytes/s), or 408; 0: no minimum"
    )
    body_rate_grace_s: float = Field(
        2.0, ge=0, description="time a body has before body_min_rate_bytes_s applies"
    )
    header_timeout_s: float = Field(
        10.0, gt=0, description="a connection whose request line and headers are not complete this long after it "
        "opened (or after its previous response) is closed (slowloris)"
    )
    retry_after_s: int = Field(1, ge=0, description="Retry-After of 503 answers (overload, Triton unavailable)")
    inference_timeout_s: float = Field(60.0, gt=0, description="longest wait for one inference (then 504)")
    recovery_wait_s: float = Field(
        10.0, ge=0, description="engine triton: how long an inference is sent again while a model it needs is being "
        "healed (a stub died and the supervisor reloads it), within inference_timeout_s; then 503 (0: at once)"
    )

    url_input: bool = Field(True, description="accept http(s) URLs in `image` (false: base64 only)")
    url_allow: Annotated[list[AllowRuleField], NoDecode] = Field(
        default_factory=list,
        description="addresses a URL may reach although not public: 'CIDR' or 'CIDR:PORT' ('[v6 CIDR]:PORT'); "
        "comma-separated in the environment",
    )
    url_max_redirects: int = Field(3, ge=0, le=10, description="redirects followed (each one checked again)")
    url_deadline_s: float = Field(30.0, gt=0, description="longest whole download of a URL")

    api_key: SecretStr | None = Field(
        None, description="when set, every endpoint but /health needs the header X-API-Key with this value"
    )

    ready_cache_s: float = Field(5.0, ge=0, description="how long a successful inference keeps /health/ready at 200")
    ready_timeout_s: float = Field(10.0, gt=0, description="longest wait for the readiness inference")
    cpu_workers: int = Field(
        default_factory=lambda: min(4, os.cpu_count() or 1),
        ge=1,
        description="threads decoding base64 and images and drawing result pictures",
    )
    local_workers: int = Field(1, ge=1, description="inferences run at once by the local engine")
    pdf_workers: int = Field(
        2, ge=1, description="PDFs rendered at once, each by its own process (limits: image.pdf_*); beyond it a fast "
        "503 with Retry-After"
    )
    jpeg_quality: int = Field(85, ge=10, le=100, description="quality of the returned result picture")
    picture_max_side: int = Field(
        2048, ge=64, description="result pictures (visualize) of larger images are drawn on a copy scaled to this "
        "long side, polygons scaled alike (the texts' polygons stay in the input's pixels)"
    )

    @field_validator("url_allow", mode="before")
    @classmethod
    def _split_rules(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def api_key_value(self) -> bytes | None:
        return self.api_key.get_secret_value().encode("utf-8") if self.api_key else None
