"""Copies of a dynamic-shape model compiled for the input shapes that recur.

OpenVINO's CPU plugin runs a model compiled for one fixed input shape faster than the same model compiled with
dynamic height and width: with static shapes it fuses the element-wise tails of the convolutions into snippets and
runs the output's sigmoid in one pass. The detectors run 25–30 % faster (PP-OCRv6 tiny on 448 × 1984: 24.1 →
17.3 ms; small on 768 × 992: 33.5 → 26.7; docs/performance.md, fifth pass); the recognisers gain nothing. A compile
costs 80–200 ms (from OpenVINO's on-disk cache: 80) and the copy keeps its own buffers (35–90 MB for a detector
input at PP-OCRv6's short side 736), so only shapes seen more than once get one, and only ``capacity`` of them.
Shapes a client sends again and again — a scanner's pages, one app's screenshots, a camera's frames — run on their
own copy; a shape seen once runs on the dynamic model.

Off by default (``runtime.det_static_shapes``, a serving profile's ``static_shapes``): a copy's kernels round
differently from the dynamic model's, so in bf16 an image read again after its shape earned a copy can come back
with a box edge a pixel away or a score changed in the third decimal, and the served and in-process pipelines, whose
copies follow their own traffic, stop giving identical results.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field

import openvino as ov

log = logging.getLogger(__name__)

Shapes = tuple[tuple[str, tuple[int, ...]], ...]
"""A run's input shapes, by input name, as a hashable key."""

FORGET_AFTER = 4096
"""Sighting counts kept for at most this many shapes without a copy; beyond, the counts start again."""

HALVE_EVERY = 1024
"""Every this many runs all sighting counts are halved, so that shapes the traffic no longer sends lose their copies
to the shapes it sends now."""


@dataclass
class Specialised:
    """One shape's compiled copy and its sightings; an infer request per thread that runs it."""

    compiled: ov.CompiledModel
    sightings: int
    requests: threading.local = field(default_factory=threading.local)

    def request(self) -> ov.InferRequest:
        if getattr(self.requests, "request", None) is None:
            self.requests.request = self.compiled.create_infer_request()
        return self.requests.request


class StaticShapes:
    """Up to ``capacity`` compiled copies of ``model``, one per input shape seen at least ``after`` times, each run
    of at most ``max_elements`` input elements (larger runs free their buffers after each run; a copy could not).

    A shape gets a copy when there is room or when it has been seen more often than the least-seen shape that has
    one (which gives its room up): shapes seen equally often do not push each other out, so a stream of new shapes
    never recompiles in a loop.
    """

    def __init__(
        self,
        core: ov.Core,
        model: ov.Model,
        properties: dict[str, str],
        capacity: int,
        max_elements: int,
        after: int = 2,
    ) -> None:
        self.core = core
        self.model = model
        self.properties = properties
        self.capacity = capacity
        self.max_elements = max_elements
        self.after = after
        self._copies: dict[Shapes, Specialised] = {}
        self._sightings: dict[Shapes, int] = {}
        self._lock = threading.Lock()
        self._runs = 0
        self.compilations = 0

    def shapes(self) -> list[Shapes]:
        """The shapes that have a copy now."""
        with self._lock:
            return list(self._copies)

    def copy_for(self, shapes: dict[str, tuple[int, ...]]) -> Specialised | None:
        """The copy compiled for ``shapes`` (compiled now if this sighting earns it one), or None: run the dynamic
        model."""
        if self.capacity <= 0 or sum(math.prod(shape) for shape in shapes.values()) > self.max_elements:
            return None
        key: Shapes = tuple(sorted((name, tuple(shape)) for name, shape in shapes.items()))
        with self._lock:
            self._age()
            copy = self._copies.get(key)
            if copy is not None:
                copy.sightings += 1
                return copy
            sightings = self._sightings.get(key, 0) + 1
            if len(self._sightings) >= FORGET_AFTER:
                self._sightings.clear()
            self._sightings[key] = sightings
            if sightings < self.after:
                return None
            victim = self._least_seen() if len(self._copies) >= self.capacity else None
            if victim is not None and self._copies[victim].sightings >= sightings:
                return None  # no more often than the copies held: no room
            try:
                compiled = self._compile(key)
            except Exception as exc:  # noqa: BLE001 - the dynamic model runs it, as before
                log.warning("compiling a copy for input shapes %s failed: %s", dict(key), exc)
                del self._sightings[key]
                return None
            if victim is not None:
                self._sightings[victim] = self._copies.pop(victim).sightings
            copy = self._copies[key] = Specialised(compiled, self._sightings.pop(key))
            self.compilations += 1
            log.info("compiled a copy for input shapes %s (%d of %d held)", dict(key), len(self._copies), self.capacity)
            return copy

    def forget(self, copy: Specialised) -> None:
        """Drop ``copy`` (a run on it failed); its shape runs on the dynamic model until it earns a copy again."""
        with self._lock:
            for key, held in list(self._copies.items()):
                if held is copy:
                    del self._copies[key]

    def _age(self) -> None:
        self._runs += 1
        if self._runs % HALVE_EVERY == 0:
            for copy in self._copies.values():
                copy.sightings //= 2
            self._sightings = {key: count // 2 for key, count in self._sightings.items() if count > 1}

    def _least_seen(self) -> Shapes:
        return min(self._copies, key=lambda key: self._copies[key].sightings)

    def _compile(self, key: Shapes) -> ov.CompiledModel:
        model = self.model.clone()
        model.reshape({name: ov.PartialShape(list(shape)) for name, shape in key})
        return self.core.compile_model(model, "CPU", self.properties)
