"""A request's cost is bounded by configuration (issue 15): the detector's input area, the number and the size of
line crops, the recognition width, the gateway's result picture. Stage-level checks with stand-in models."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from triton_ocr.config import OCRConfig
from triton_ocr.gateway.images import downscaled
from triton_ocr.stages import LineModels, plan_rec_batches, read_lines, recognise_crops, run_sync
from triton_ocr.steps.line_crop import crop_lines, crop_size


def nested_rings(size: int, step: int = 4) -> np.ndarray:
    """A probability map (size, size) of concentric square rings, ``step`` px wide: every ring's box encloses the
    ones inside it, so each line crop is nearly as large as the image."""
    prob = np.zeros((size, size), np.float32)
    for k in range(0, size // 2, step):
        prob[k : size - k, k : size - k] = 0.9 if (k // step) % 2 == 0 else 0.0
    return prob


def grid_of_blobs(count: int, size: int = 400) -> np.ndarray:
    """A probability map with ``count`` separate 6×14 blobs in a grid."""
    prob = np.zeros((size, size), np.float32)
    per_row = size // 20
    for i in range(count):
        y, x = 10 * (i // per_row) + 2, 20 * (i % per_row) + 2
        prob[y : y + 6, x : x + 14] = 0.9
    return prob


def recording_models(shapes: list[tuple[int, ...]]) -> LineModels:
    """A recogniser that records each batch's shape and reads nothing (blank best path)."""

    async def recognise(tensor: np.ndarray) -> list[np.ndarray]:
        shapes.append(tensor.shape)
        return [np.zeros((len(tensor), 4), np.int64), np.ones((len(tensor), 4), np.float32)]

    return LineModels(recognise=recognise, charset=["blank", "a"])


def test_max_candidates_bounds_the_crops_and_the_recognition_batches():
    shapes: list[tuple[int, ...]] = []
    config = OCRConfig(text_det={"max_candidates": 40, "box_thresh": 0.3}, text_rec={"batch_size": 6})
    image = np.full((400, 400, 3), 255, np.uint8)
    run_sync(read_lines(image, grid_of_blobs(300), config, recording_models(shapes)))
    assert sum(shape[0] for shape in shapes) == 40  # 300 blobs, 40 crops recognised
    assert len(shapes) == 7  # ⌈40 / 6⌉ calls


def test_later_lines_are_cut_while_the_first_chunks_are_recognised():
    """The recogniser's first call comes before the other chunks' lines are cut (cutting overlaps recognition),
    the widest chunks go first, and every line is recognised once, in the chunks the eager plan makes."""
    cut_at_calls: list[int] = []
    widths: list[int] = []
    crops = crop_lines(np.full((400, 400, 3), 255, np.uint8), np.stack([
        np.array([[20, y], [20 + w, y], [20 + w, y + 8], [20, y + 8]], np.float32)
        for y, w in zip(range(10, 390, 12), range(40, 400, 11))
    ]))

    async def recognise(tensor: np.ndarray) -> list[np.ndarray]:
        cut_at_calls.append(sum(crop is not None for crop in crops._crops))
        widths.append(tensor.shape[3])
        return [np.zeros((len(tensor), 4), np.int64), np.ones((len(tensor), 4), np.float32)]

    models = LineModels(recognise=recognise, charset=["blank", "a"], max_inflight=2)
    cfg = OCRConfig(text_rec={"batch_size": 4}).text_rec
    batches, _ = run_sync(recognise_crops(crops, cfg, models))
    assert len(crops) == 32 and cut_at_calls[0] == 4 and cut_at_calls[-1] == 32
    assert widths == sorted(widths, reverse=True) and len(set(widths)) == 8  # 8 chunks of 4, widest first
    eager = plan_rec_batches(list(crops), cfg)[::-1]
    assert [b.indices.tolist() for b in batches] == [b.indices.tolist() for b in eager]
    assert all(np.array_equal(a.tensor, b.tensor) for a, b in zip(batches, eager, strict=True))


def test_max_width_bounds_every_recognition_batch():
    shapes: list[tuple[int, ...]] = []
    config = OCRConfig(text_det={"box_thresh": 0.3}, text_rec={"max_width": 256, "min_width": 64})
    prob = np.zeros((64, 4000), np.float32)
    prob[20:40, 10:3990] = 0.9  # one line 200× longer than tall
    run_sync(read_lines(np.full((64, 4000, 3), 255, np.uint8), prob, config, recording_models(shapes)))
    assert shapes == [(1, 3, 48, 256)]


def test_nested_boxes_cannot_make_gigapixels_of_crops():
    """124 nested rings on a 3000×3000 image: ~700 Mpx of crops at full size; within the budget, one factor."""
    image = np.random.default_rng(0).integers(0, 255, (3000, 3000, 3), np.uint8)
    config = OCRConfig(text_det={"box_thresh": 0.4})
    from triton_ocr.stages import boxes_from_prob_map

    boxes = boxes_from_prob_map(nested_rings(1000), image.shape[:2], config.text_det)
    full = sum(w * h for w, h in map(crop_size, boxes.boxes))
    assert len(boxes) > 100 and full > 600_000_000
    crops = crop_lines(image, boxes.boxes, 5_000_000)
    assert len(crops) == len(boxes)
    assert 4_500_000 < sum(c.shape[0] * c.shape[1] for c in crops) <= 5_000_000


def test_crops_within_the_budget_are_untouched():
    image = np.random.default_rng(1).integers(0, 255, (200, 300, 3), np.uint8)
    quads = np.array([[[10, 10], [110, 10], [110, 40], [10, 40]], [[20, 60], [220, 70], [218, 110], [18, 100]]],
                     np.float32)
    for bounded, free in zip(crop_lines(image, quads, 100 * 30 + 200 * 40), crop_lines(image, quads), strict=True):
        np.testing.assert_array_equal(bounded, free)


def test_read_lines_passes_the_crop_budget(monkeypatch):
    import triton_ocr.stages as stages

    budgets = []
    monkeypatch.setattr(stages, "crop_lines", lambda image, quads, max_pixels=None: budgets.append(max_pixels) or [])
    config = OCRConfig(text_rec={"max_crop_pixels": 1234})
    run_sync(read_lines(np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64), np.float32), config,
                        recording_models([])))
    assert budgets == [1234]


# ---------------------------------------------------------------- the gateway's result pictures


def picture_size(data: str) -> tuple[int, int]:
    return Image.open(io.BytesIO(base64.b64decode(data))).size


def test_result_pictures_of_large_images_are_drawn_downscaled():
    """A 2400×600 image with ``picture_max_side`` 600: the 3.0-beta picture is 600×150, the 3.x pictures too (the
    OCR picture has the texts beside the boxes: twice as wide); the polygons stay in the input's pixels."""
    from test_gateway_input import FakeBackend, fake_gateway

    png = io.BytesIO()
    Image.new("RGB", (2400, 600), "white").save(png, "PNG")
    data = base64.b64encode(png.getvalue()).decode("ascii")
    with fake_gateway(FakeBackend(), picture_max_side=600) as server:
        beta = httpx.post(f"{server.url}/ocr", json={"image": data}, timeout=30).json()["result"]
        v3 = httpx.post(f"{server.url}/ocr", json={"file": data, "fileType": 1}, timeout=30).json()["result"]
    assert picture_size(beta["image"]) == (600, 150)
    assert beta["texts"][0]["poly"] == [[1, 1], [20, 1], [20, 10], [1, 10]]
    page = v3["ocrResults"][0]
    assert (picture_size(page["ocrImage"]), picture_size(page["inputImage"])) == ((1200, 150), (600, 150))
    assert page["prunedResult"]["rec_polys"] == [[[1, 1], [20, 1], [20, 10], [1, 10]]]


def test_pictures_within_the_bound_keep_their_size():
    image = np.zeros((300, 200, 3), np.uint8)
    polys = [np.array([[1, 1], [20, 1], [20, 10], [1, 10]], np.float32)]
    same, same_polys = downscaled(image, polys, 300)
    assert same is image and np.array_equal(same_polys[0], polys[0])
    small, small_polys = downscaled(image, polys, 150)
    assert small.shape == (150, 100, 3)
    np.testing.assert_allclose(small_polys[0], polys[0] / 2)


# ---------------------------------------------------------------- memory given back after a large input


def test_openvino_frees_its_buffers_after_a_large_input():
    """The CPU plugin kept its intermediate buffers at the largest shape it ran (text_det: +560 MiB for ever after
    one 1984×1984 input); after a run above RELEASE_ABOVE_ELEMENTS it frees them, after a small one it keeps them."""
    import psutil

    from triton_ocr.engine.openvino_engine import RELEASE_ABOVE_ELEMENTS, OpenVINOModel
    from triton_ocr.models.registry import resolve_model

    model = OpenVINOModel(resolve_model("PP-OCRv4_mobile_det").onnx_path, threads=2, precision="fp32")
    rss = lambda: psutil.Process().memory_info().rss  # noqa: E731
    model(np.zeros((1, 3, 320, 320), np.float32))
    base = rss()
    assert model.compiled.releases == 0
    side = 2048  # 12.6 M elements: well above the bound
    assert 3 * side * side > RELEASE_ABOVE_ELEMENTS
    model(np.zeros((1, 3, side, side), np.float32))
    assert model.compiled.releases == 1
    assert rss() - base < 250 * 1024 * 1024  # measured at 1600²: +60–100 MiB; without the release +410 MiB
    out = model(np.zeros((1, 3, 320, 320), np.float32))
    assert out.shape == (1, 1, 320, 320) and model.compiled.releases == 1


def private_mib() -> float:
    """This process's private memory (RssAnon), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon in /proc/self/status")


def test_the_served_detector_holds_its_largest_run_from_load_on():
    """``max_run_elements`` (the served text_det's): the runner allocates that run's buffers at load and keeps them,
    so the largest input the pipeline can send, square or wide, adds little afterwards (~35 MiB, its outputs;
    without the warm-up +700 MiB) and is never freed (no release, no re-allocation on the next request)."""
    from test_backend_runners import detector_runner

    from triton_ocr.config import OCRConfig
    from triton_ocr.serving.repository.catalog import det_item_limit
    from triton_ocr.serving.repository.plan import plan_serving
    from triton_ocr.serving.repository.profiles import get_profile

    runner = detector_runner(det_item_limit(plan_serving(OCRConfig(), get_profile("cpu"), ()))[0], max_batch_size=4)
    assert runner.warmed.wait(60)
    name, before = runner.input_names[0], private_mib()
    for shape in ((1, 3, 2048, 2048), (1, 3, 1312, 3136), (4, 3, 1024, 1024)):
        runner.run([{name: np.zeros((1, *shape[1:]), np.float32)} for _ in range(shape[0])])
    assert private_mib() - before < 100
    assert runner.compiled.releases == 0


def test_the_gateway_trims_its_heap_after_large_images(monkeypatch):
    """Decoding and drawing 6000 × 6000 pages in the gateway's threads left 113 MiB of free pages in glibc's heaps
    (the 30-minute soak's gateway sat at +64 MiB); after an image of 4 M pixels or more the heap is trimmed, on both
    contracts, and not after small ones."""
    import triton_ocr.gateway.app as app
    from test_gateway_input import FakeBackend, fake_gateway

    trims = []
    monkeypatch.setattr(app, "trim_heap", lambda: trims.append(1))

    def png(width: int, height: int) -> str:
        buffer = io.BytesIO()
        Image.new("RGB", (width, height), "white").save(buffer, "PNG")
        return base64.b64encode(buffer.getvalue()).decode("ascii")

    large, small = png(2400, 1800), png(640, 360)
    with fake_gateway(FakeBackend()) as server:
        for field, extra in (("image", {}), ("file", {"fileType": 1})):
            for data, expected in ((small, 0), (large, 1)):
                before = len(trims)
                answer = httpx.post(f"{server.url}/ocr", json={field: data, **extra}, timeout=30)
                assert answer.status_code == 200 and len(trims) - before == expected, (field, expected)


def test_openvino_frees_its_buffers_when_a_large_run_is_overlapped_by_a_small_one():
    """Under load a large detector input often runs beside a small one that ends later; the buffers stayed at the
    large size (the soak's text_det wandered between ~500 and ~1300 MiB). Freed once no run is in flight."""
    from triton_ocr.engine.openvino_engine import RELEASE_ABOVE_ELEMENTS, OpenVINOModel
    from triton_ocr.models.registry import resolve_model

    compiled = OpenVINOModel(resolve_model("PP-OCRv4_mobile_det").onnx_path, threads=1, precision="fp32").compiled
    compiled._running = 2  # a large run and a small one in flight; the large one ends first
    compiled._after_run(RELEASE_ABOVE_ELEMENTS + 1)
    assert compiled.releases == 0
    compiled._after_run(3 * 320 * 320)
    assert compiled.releases == 1
    compiled._running = 1
    compiled._after_run(3 * 320 * 320)  # small runs alone keep their buffers
    assert compiled.releases == 1
