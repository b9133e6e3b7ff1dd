"""Steps 2–8 on hand-made inputs whose right answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from triton_ocr.config import DetConfig, RecConfig
from triton_ocr.stages import det_input
from triton_ocr.steps.box_sorting import reading_order
from triton_ocr.steps.ctc_decode import best_path, ctc_charset, ctc_collapse
from triton_ocr.steps.db_postprocess import db_postprocess, order_clockwise
from triton_ocr.steps.det_resize import det_input_size, resize_for_det
from triton_ocr.steps.line_crop import crop_line, crop_lines
from triton_ocr.steps.rec_batching import batch_width, costliest_first, plan_rec_batches, plan_rec_chunks


@pytest.mark.parametrize(
    "hw, limit, kind, expected",
    [
        ((100, 200), 960, "max", (96, 192)),  # small: kept, rounded to multiples of 32
        ((1080, 1920), 960, "max", (544, 960)),  # 540 → 544
        ((3508, 2480), 960, "max", (960, 672)),  # 678.6 → 672
        ((100, 200), 736, "min", (736, 1472)),  # short side enlarged to 736
        ((10, 10), 960, "max", (64, 64)),  # short side enlarged to min_side_len 64
        ((40, 450), 960, "max", (64, 704)),  # a text line: ×1.6 → 64×720; 720/32 = 22.5 rounds (half to even) to 22
        ((55, 1170), 960, "max", (64, 1376)),  # a strip: 960 would make it 45 px tall; ×64/55 → 64×1361 → 64×1376
    ],
)
def test_det_input_size(hw, limit, kind, expected):
    assert det_input_size(*hw, DetConfig(limit_side_len=limit, limit_type=kind)) == expected


def test_det_input_size_floor_and_hard_cap():
    assert det_input_size(10, 10, DetConfig(min_side_len=0)) == (32, 32)  # never below 32
    # 100×20000 enlarged to 736×147200, then capped: 20×4000 → the 32 px floor (the cap wins over min_side_len).
    assert det_input_size(100, 20000, DetConfig(limit_side_len=736, limit_type="min")) == (32, 4000)


@pytest.mark.parametrize(
    "hw, det, expected",
    [
        # The 104-byte request: a 4×4 PNG asking 8192 on the short side ran the detector at 4000×4000.
        ((4, 4), {"limit_side_len": 8192, "limit_type": "min", "max_upscale": 4096}, (2048, 2048)),
        ((4, 4), {"limit_side_len": 8192, "limit_type": "min"}, (384, 384)),  # at most 100× by default: 400²
        ((3000, 4000), {"limit_side_len": 4000, "limit_type": "max"}, (1760, 2336)),  # ×√(4 Mi / 12 M): 1773×2364
        ((1000, 4000), {"limit_side_len": 8192, "limit_type": "min", "max_side_limit": 32768}, (1024, 4096)),  # ×⅛
        ((4000, 1000), {"limit_side_len": 8192, "limit_type": "min", "max_side_limit": 32768}, (4096, 1024)),
        ((4, 4), {"limit_side_len": 8192, "limit_type": "min", "max_input_pixels": 1024}, (32, 32)),
        ((10, 20000), {"min_side_len": 0, "max_side_limit": 40000, "limit_side_len": 40000, "max_input_pixels": 4096},
         (32, 128)),  # the 32 px floor on the short side, the long side within the budget
    ],
)
def test_det_input_size_holds_the_pixel_budget(hw, det, expected):
    cfg = DetConfig(**det)
    size = det_input_size(*hw, cfg)
    assert size == expected
    assert size[0] * size[1] <= cfg.max_input_pixels and size[0] % 32 == size[1] % 32 == 0


def test_pixel_budget_leaves_the_model_sets_defaults_alone():
    """Every size the default sets reach stays as it was: PP-OCRv6 small / tiny (short side 736, long ≤ 2000) at
    most 2000×2000 → 1984×1984; PP-OCRv4 / v5 mobile (long side ≤ 960)."""
    from triton_ocr.models.model_sets import REGISTRY

    for name in ("PP-OCRv6_small_det", "PP-OCRv6_tiny_det", "PP-OCRv4_mobile_det", "PP-OCRv5_mobile_det"):
        settings = REGISTRY[name].settings or {}
        bounded, unbounded = DetConfig(**settings), DetConfig(**settings, max_input_pixels=10**9)
        for hw in ((2000, 2000), (2010, 2010), (3508, 2480), (4000, 4000), (736, 20000), (7016, 4961)):
            assert det_input_size(*hw, bounded) == det_input_size(*hw, unbounded), (name, hw)


def test_max_upscale_caps_the_short_side_enlargement_only():
    """``max_upscale`` bounds limit_type ``min``'s enlargement (a 340 × 76 UI screenshot: 3× instead of 5.9×); the
    64 px floor for thin strips still enlarges beyond it; images at or above the short side are not touched, nor
    is limit_type ``max``."""
    cfg = DetConfig(limit_side_len=736, limit_type="min", max_side_limit=2000)
    capped = cfg.model_copy(update={"max_upscale": 3.0})
    assert det_input_size(76, 340, cfg) == (448, 1984)
    assert det_input_size(76, 340, capped) == (224, 1024)
    assert det_input_size(16, 280, capped) == (64, 1120)  # ×3 is 48 px tall: the floor takes it to 64 (×4)
    assert det_input_size(300, 500, capped) == (736, 1216)  # ×2.45: under the cap
    assert det_input_size(1000, 1500, capped) == det_input_size(1000, 1500, cfg) == (992, 1504)
    shrink = DetConfig(limit_side_len=960, limit_type="max", max_upscale=1.0)
    assert det_input_size(76, 340, shrink) == (64, 352)  # as without the cap: limit_type max never enlarges
    assert det_input_size(2000, 3000, shrink) == (640, 960)


def test_the_v6_sets_upscale_cap_acts_only_on_small_images_of_the_dev_sets(shared_data):
    """PP-OCRv6 small's ``max_upscale`` changes the detector input of no image whose short side reaches 736 / 3 px:
    every receipt, form and scene of the labelled sets keeps its size (1 of the unlabelled photos is smaller: it reads
    the same); every UI screenshot gets under a third of the pixels it had."""
    from PIL import Image

    from triton_ocr.models.model_sets import REGISTRY

    suffixes = (".png", ".jpg", ".jpeg")
    settings = REGISTRY["PP-OCRv6_small_det"].settings or {}
    assert settings["max_upscale"] == 3.0 and "max_upscale" not in (REGISTRY["PP-OCRv6_tiny_det"].settings or {})
    capped, uncapped = DetConfig(**settings), DetConfig(**{**settings, "max_upscale": 100.0})
    changed = set()
    for folder in ("sroie_receipts", "funsd", "icdar2015_blurred", "photos_docs"):
        paths = [p for p in (shared_data / folder).rglob("*") if p.suffix.lower() in suffixes]
        assert paths, folder
        for path in paths:
            width, height = Image.open(path).size
            if det_input_size(height, width, capped) != det_input_size(height, width, uncapped):
                assert min(width, height) * 3 < 736, path
                changed.add(path.relative_to(shared_data).parts[0])
    assert changed == {"photos_docs"}
    for path in sorted((shared_data / "cn_game_ui" / "images").iterdir()):
        width, height = Image.open(path).size
        small, large = det_input_size(height, width, capped), det_input_size(height, width, uncapped)
        assert small[0] * small[1] < large[0] * large[1] / 3, path


def test_det_input_is_the_resized_image_as_uint8_nhwc():
    image = np.zeros((40, 70, 3), np.uint8)
    image[..., 2] = 255  # red in BGR
    cfg = DetConfig()
    pixels = det_input(image, cfg)
    assert pixels.shape == (1, 64, 128, 3) and pixels.dtype == np.uint8  # ×1.6 to the 64 px floor: 64×112 → 64×128
    assert pixels[0, 0, 0].tolist() == [0, 0, 255]


def prob_map_with(rects: list[tuple[int, int, int, int]], shape=(100, 200), value=0.9) -> np.ndarray:
    prob = np.zeros(shape, np.float32)
    for y0, y1, x0, x1 in rects:
        prob[y0:y1, x0:x1] = value
    return prob


def test_db_postprocess_finds_and_unclips_a_rectangle():
    # Mask rows 20..39, cols 30..129 → min-area rect 99×19 through pixel centres; DB grows it by
    # d = area·1.5 / perimeter = 99·19·1.5 / 236 ≈ 11.95 px on every side, map and image being the same size.
    found = db_postprocess(prob_map_with([(20, 40, 30, 130)]), (100, 200), DetConfig())
    assert len(found) == 1
    box = found.boxes[0]
    assert abs(box[:, 0].min() - (30 - 12)) <= 1 and abs(box[:, 0].max() - (129 + 12)) <= 1
    assert abs(box[:, 1].min() - (20 - 12)) <= 1 and abs(box[:, 1].max() - (39 + 12)) <= 1
    assert found.scores[0] == pytest.approx(0.9, abs=1e-6)


def test_db_postprocess_maps_to_image_scale_and_clips():
    found = db_postprocess(prob_map_with([(20, 40, 30, 130)]), (200, 400), DetConfig())
    assert abs(found.boxes[0][:, 0].max() - 2 * (129 + 12)) <= 2
    found = db_postprocess(prob_map_with([(0, 20, 0, 100)]), (100, 200), DetConfig())
    assert found.boxes[0].min() >= 0


def test_db_postprocess_thresholds():
    faint = prob_map_with([(20, 40, 10, 110)], value=0.5)
    assert len(db_postprocess(faint, (100, 200), DetConfig())) == 0  # 0.5 < box_thresh 0.6
    assert len(db_postprocess(faint, (100, 200), DetConfig(box_thresh=0.4))) == 1
    assert len(db_postprocess(np.zeros((64, 64), np.float32), (64, 64), DetConfig())) == 0
    tiny = prob_map_with([(10, 12, 10, 60)])  # 2 px tall: below the 3 px minimum
    assert len(db_postprocess(tiny, (100, 200), DetConfig())) == 0


def test_db_postprocess_max_candidates():
    rects = [(10 + 12 * i, 18 + 12 * i, 10, 60) for i in range(6)]
    assert len(db_postprocess(prob_map_with(rects), (100, 200), DetConfig(unclip_ratio=0.5))) == 6
    assert len(db_postprocess(prob_map_with(rects), (100, 200), DetConfig(unclip_ratio=0.5, max_candidates=2))) == 2


def test_order_clockwise():
    shuffled = np.array([[10, 5], [0, 0], [0, 5], [10, 0]], np.float32)
    np.testing.assert_array_equal(order_clockwise(shuffled), [[0, 0], [10, 0], [10, 5], [0, 5]])


def test_order_clockwise_orders_each_quad_of_a_batch():
    quads = np.array([
        [[10, 5], [0, 0], [0, 5], [10, 0]],
        [[4, 9], [4, 1], [0, 6], [8, 3]],  # a tilted quad: x ties between the two middle points keep their order
        [[3, 3], [3, 3], [3, 3], [3, 3]],
    ], np.float32)
    np.testing.assert_array_equal(order_clockwise(quads), [
        [[0, 0], [10, 0], [10, 5], [0, 5]],
        [[0, 6], [4, 1], [8, 3], [4, 9]],
        [[3, 3], [3, 3], [3, 3], [3, 3]],
    ])


def test_db_postprocess_drops_boxes_thin_in_the_image_and_keeps_the_others():
    # Three rows on a 100 × 200 map: 20, 8 and 30 px tall. At the map's own size all three are boxes; in an image
    # 10× smaller the 8-px row (~18 px after unclip) is under 2 px tall and dropped ("thinner than 4 px"), the others
    # stay, in the same order with the same scores (computed on the map), clipped into the 20 × 10 image.
    rows = prob_map_with([(10, 30, 20, 180), (45, 53, 20, 180), (65, 95, 20, 180)])
    full = db_postprocess(rows, (100, 200), DetConfig())
    small = db_postprocess(rows, (10, 20), DetConfig())
    assert len(full) == 3 and len(small) == 2
    assert small.boxes.dtype == np.float32 and small.scores.dtype == np.float32
    np.testing.assert_array_equal(small.scores, full.scores[[0, 2]])
    assert (small.boxes >= 0).all() and (small.boxes[..., 0] <= 19).all() and (small.boxes[..., 1] <= 9).all()
    heights = small.boxes[:, 3, 1] - small.boxes[:, 0, 1]
    assert (heights >= 4).all()


def quad(x: float, y: float, w: float = 20, h: float = 10) -> np.ndarray:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)


def test_reading_order_within_line_tolerance():
    # Boxes 0 and 1 have tops 4 px apart; box 0 is higher but further right.
    boxes = np.stack([quad(100, 10), quad(10, 14), quad(50, 60), quad(5, 40)])
    assert reading_order(boxes).tolist() == [1, 0, 3, 2]  # one line: left first
    assert reading_order(boxes, line_tolerance=2).tolist() == [0, 1, 3, 2]  # two lines: top first
    assert reading_order(np.zeros((0, 4, 2), np.float32)).tolist() == []


def test_crop_line_axis_aligned_and_vertical():
    image = np.zeros((100, 200, 3), np.uint8)
    image[20:40, 30:130] = 200
    crop = crop_line(image, quad(30, 20, 100, 20))
    assert crop.shape == (20, 100, 3) and crop.mean() > 190
    tall = crop_line(image, quad(30, 20, 10, 40))
    assert tall.shape == (10, 40, 3)  # 40 tall × 10 wide → rotated to lie flat


def test_line_crops_know_their_shapes_before_they_are_cut():
    """Shapes of flat, turned, vertical and budget-scaled crops, known up front; a crop is cut once, when read."""
    image = np.random.default_rng(3).integers(0, 255, (300, 400, 3), np.uint8)
    skewed = np.array([[20, 150], [220, 160], [218, 200], [18, 190]], np.float32)
    quads = np.stack([quad(10, 10, 100, 20), quad(300, 20, 12, 90), skewed, quad(50, 250, 30, 30)])
    for budget in (None, 2000):
        crops = crop_lines(image, quads, budget)
        assert crops.shapes[1][1] > crops.shapes[1][0]  # 12 wide × 90 tall: turned to lie flat
        assert [crop.shape[:2] for crop in crops] == crops.shapes
        assert crops[0] is crops[0] and crops[-1] is crops[3] and len(crops[1:3]) == 2
    assert crop_lines(image, quads, 2000).shapes[0] == (8, 40)  # 20 × 100 scaled by √(2000 / 11980 px in all)


def test_rec_batches_sort_chunk_and_pad():
    cfg = RecConfig(batch_size=2, width_step=32)
    crops = [np.full((48, w, 3), 255, np.uint8) for w in (480, 100, 960, 200, 48)]
    batches = plan_rec_batches(crops, cfg)
    assert [b.indices.tolist() for b in batches] == [[4, 1], [3, 0], [2]]  # by aspect ratio
    assert [b.tensor.shape for b in batches] == [(2, 3, 48, 320), (2, 3, 48, 480), (1, 3, 48, 960)]
    first = batches[0].tensor
    assert (first[0, :, :, :48] == 1.0).all() and (first[0, :, :, 48:] == 0).all()  # white → 1, pad → 0
    assert sorted(np.concatenate([b.indices for b in batches]).tolist()) == list(range(5))
    assert plan_rec_batches([], cfg) == []


def test_chunks_run_costliest_first():
    """Lines × width decides, not width alone; equal costs keep the plan's (aspect-ratio) order."""
    cfg = RecConfig(batch_size=2, width_step=32)
    chunks = plan_rec_chunks([(48, w) for w in (480, 100, 960, 200, 48)], cfg)
    assert [(c.indices.tolist(), c.width) for c in chunks] == [([4, 1], 320), ([3, 0], 480), ([2], 960)]
    ordered = costliest_first(chunks)
    assert [(c.indices.tolist(), c.width) for c in ordered] == [([3, 0], 480), ([2], 960), ([4, 1], 320)]
    wide = plan_rec_chunks([(48, w) for w in (100, 200, 1200)], cfg)  # 2 × 320 against 1 × 1216
    assert [c.indices.tolist() for c in costliest_first(wide)] == [[2], [0, 1]]
    assert costliest_first([]) == []


def test_batch_width_buckets_and_caps():
    cfg = RecConfig(width_step=64, max_width=1000)
    assert batch_width(1.0, cfg) == 320  # minimum width
    assert batch_width(7.0, cfg) == 384  # 336 → next multiple of 64
    assert batch_width(100.0, cfg) == 1000


def test_ctc_decode_of_probabilities():
    charset = ctc_charset(["a", "b"])  # blank, a, b, space
    assert charset == ["blank", "a", "b", " "]

    def one_hot(classes: list[int], p: float = 0.9) -> np.ndarray:
        probs = np.full((len(classes), 4), (1 - p) / 3, np.float32)
        probs[np.arange(len(classes)), classes] = p
        return probs

    batch = np.stack([one_hot([1, 1, 0, 1, 2, 3, 2]), one_hot([0] * 7)])
    (text, score), (empty, empty_score) = ctc_collapse(*best_path(batch), charset)
    assert text == "aab b" and score == pytest.approx(0.9)
    assert (empty, empty_score) == ("", 0.0)
    wider = np.zeros((1, 7, 5), np.float32)
    wider[..., 4] = 1.0  # a model with more classes than the charset
    with pytest.raises(ValueError, match="class ids"):
        ctc_collapse(*best_path(wider), charset)


def test_ctc_collapse_takes_the_best_path():
    charset = ctc_charset(["a", "b"])
    classes = np.array([[1, 1, 0, 2, 2, 3], [0, 0, 0, 0, 0, 0]])
    confidences = np.array([[0.9, 0.7, 0.99, 0.8, 0.6, 0.5], [0.9] * 6], np.float32)
    (text, score), (empty, empty_score) = ctc_collapse(classes, confidences, charset)
    assert (text, empty, empty_score) == ("ab ", "", 0.0)
    assert score == pytest.approx((0.9 + 0.8 + 0.5) / 3)
    with pytest.raises(ValueError, match="class ids"):
        ctc_collapse(np.array([[4]]), np.array([[0.5]], np.float32), charset)
    with pytest.raises(ValueError, match="both be"):
        ctc_collapse(classes, confidences[:, :3], charset)
