"""``POST /ocr`` with PaddleX 3.x's ``file``: the 3.x answer (``ocrResults[]``, ``dataInfo``) for images and PDFs,
its flags, and 422s naming what cannot be done; ``image`` keeps the 3.0-beta answer."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import httpx
import pytest
from imagegen import encode, pdf_from_images, render_lines
from PIL import Image

from triton_ocr.gateway import GatewayServer, GatewaySettings, LocalBackend

PAGE_TEXTS = ["Page one 1111", "Page two 2222", "Page three 3333"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return pdf_from_images([render_lines([text], size=(360, 60), font_size=24, origin=(10, 15)) for text in PAGE_TEXTS])


@pytest.fixture(scope="module")
def server(pipeline) -> Iterator[GatewayServer]:
    settings = GatewaySettings(engine="local", port=0, cpu_workers=2)
    with GatewayServer(settings, LocalBackend(pipeline.config, pipeline=pipeline)) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: GatewayServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60.0) as client:
        yield client


def test_a_pdf_gets_one_result_per_page_with_the_in_process_texts(client, pipeline, pdf):
    response = client.post("/ocr", json={"file": b64(pdf), "fileType": 0, "visualize": False})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["errorCode"], body["errorMsg"]) == (0, "Success")
    pages = body["result"]["ocrResults"]
    assert [p["prunedResult"]["page_index"] for p in pages] == [0, 1, 2]
    assert [p["prunedResult"]["rec_texts"] for p in pages] == [r["rec_texts"] for r in pipeline.predict(pdf)]
    assert all(p["ocrImage"] is None and p["inputImage"] is None and p["docPreprocessingImage"] is None
               for p in pages)
    assert "input_path" not in pages[0]["prunedResult"]
    assert body["result"]["dataInfo"] == {"numPages": 3, "pages": [{"width": 720, "height": 120}] * 3,
                                          "type": "pdf", "numPagesRead": 3}
    assert body["result"]["warnings"] == []


def test_a_pdf_over_the_page_limit_says_how_many_pages_were_read_and_names_the_limit(client):
    fifteen = pdf_from_images([render_lines([f"Page {n} of 15"], size=(300, 60), font_size=24, origin=(10, 15))
                               for n in range(1, 16)])
    response = client.post("/ocr", json={"file": b64(fifteen), "visualize": False})
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert len(result["ocrResults"]) == 10 and result["dataInfo"]["numPages"] == 15
    assert result["dataInfo"]["numPagesRead"] == len(result["dataInfo"]["pages"]) == 10
    assert result["warnings"] == [
        "the PDF: read 10 of 15 pages: the page limit is 10 (image.pdf_max_pages in the pipeline config)"
    ]
    assert [p["prunedResult"]["rec_texts"][0].replace(" ", "") for p in result["ocrResults"]] == [
        f"Page{n}of15" for n in range(1, 11)
    ]


def test_the_official_python_client_snippet_gets_a_3x_answer(client):
    """PaddleX 3.x's documented Python client, with httpx (the runtime install has it) for requests."""
    file_bytes = encode(render_lines(["Hello PaddleX 3"], size=(400, 80), font_size=28, origin=(10, 20)))
    payload = {"file": base64.b64encode(file_bytes).decode("ascii"), "fileType": 1}
    response = client.post("/ocr", json=payload)
    assert response.status_code == 200
    result = response.json()["result"]
    assert result["dataInfo"] == {"width": 400, "height": 80, "type": "image"}
    (page,) = result["ocrResults"]
    pruned = page["prunedResult"]
    assert [t.replace(" ", "") for t in pruned["rec_texts"]] == ["HelloPaddleX3"] and pruned["page_index"] is None
    assert set(pruned) >= {"rec_texts", "rec_scores", "rec_polys", "rec_boxes", "dt_polys", "text_det_params",
                           "text_rec_score_thresh", "model_settings", "textline_orientation_angles"}
    for key in ("ocrImage", "inputImage"):
        picture = Image.open(io.BytesIO(base64.b64decode(page[key])))
        assert picture.format == "JPEG"
    assert Image.open(io.BytesIO(base64.b64decode(page["inputImage"]))).size == (400, 80)


def test_image_requests_keep_the_3_0_beta_answer(client):
    image = encode(render_lines(["Beta 2024"], size=(300, 80), font_size=28, origin=(10, 20)))
    body = client.post("/ocr", json={"image": b64(image), "visualize": False}).json()
    assert set(body["result"]) == {"texts", "image"}
    assert body["result"]["texts"][0]["text"].replace(" ", "") == "Beta2024"


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"useDocUnwarping": True}, "useDocUnwarping: document unwarping (UVDoc) is not available in this service; "
         "send false or leave it out"),
        ({"file": None, "image": "aGVsbG8=", "returnWordBox": True},
         "returnWordBox goes with file: the words come in PaddleX 3.x's answer (prunedResult.text_word)"),
        ({"fileType": 0}, "fileType is 0 (pdf) but the file is not a PDF"),
        ({"textDetTresh": 0.2}, "textDetTresh: unknown key (did you mean textDetThresh, "),
        ({"image": "aGVsbG8="}, "give the image in exactly one of image (PaddleX 3.0-beta) or file (PaddleX 3.x)"),
    ],
    ids=["unwarping", "word-box", "file-type", "unknown-field", "image-and-file"],
)
def test_what_cannot_be_done_is_a_422_naming_it(client, extra, message):
    image = encode(render_lines(["x"], size=(60, 40), font_size=20, origin=(5, 5)))
    response = client.post("/ocr", json={"file": b64(image), **extra})
    assert response.status_code == 422, response.text
    assert message in response.json()["errorMsg"]


def test_word_boxes_come_in_the_pruned_result(client, pipeline, pdf):
    body = client.post("/ocr", json={"file": b64(pdf), "visualize": False, "returnWordBox": True}).json()
    expected = [r.to_json_dict() for r in pipeline.predict(pdf, return_word_box=True)]
    assert [t.split() for t in PAGE_TEXTS] == [sum(page["text_word"], []) for page in expected]
    for page, want in zip(body["result"]["ocrResults"], expected, strict=True):
        pruned = page["prunedResult"]
        for key in ("text_word", "text_word_region", "text_word_boxes"):
            assert pruned[key] == want[key], key
    plain = client.post("/ocr", json={"file": b64(pdf), "visualize": False}).json()
    assert "text_word" not in plain["result"]["ocrResults"][0]["prunedResult"]


def test_flags_reach_the_pipeline(client, pdf):
    body = client.post("/ocr", json={"file": b64(pdf), "visualize": False, "useDocUnwarping": False,
                                     "textRecScoreThresh": 1.0, "textDetBoxThresh": 0.55}).json()
    pruned = body["result"]["ocrResults"][0]["prunedResult"]
    assert pruned["rec_texts"] == [] and pruned["text_rec_score_thresh"] == 1.0
    assert pruned["text_det_params"]["box_thresh"] == 0.55


def test_a_field_the_engine_cannot_change_per_request_is_a_422_naming_it(pipeline):
    """Each engine declares what it changes per request; a field outside it is refused before inference."""

    class Fixed(LocalBackend):
        adjustable = frozenset({"text_det_thresh"})

    settings = GatewaySettings(engine="local", port=0)
    data = b64(encode(render_lines(["Fixed 1"], size=(200, 60), font_size=24, origin=(10, 15))))
    with GatewayServer(settings, Fixed(pipeline.config, pipeline=pipeline)) as running, \
            httpx.Client(base_url=running.url, timeout=60.0) as client:
        assert client.post("/ocr", json={"image": data, "textDetThresh": 0.2}).status_code == 200
        refused = client.post("/ocr", json={"file": data, "textDetBoxThresh": 0.5})
    assert refused.status_code == 422 and refused.json()["errorMsg"] == (
        "textDetBoxThresh: the local engine cannot change text_det.box_thresh per request; leave it out (the "
        "server's pipeline config sets it)")


def test_a_set_asked_per_request_that_does_not_read_the_servers_language_is_a_422():
    """A server whose pipeline config says ``lang: japan``: a request for PP-OCRv4 mobile (no kana) is refused,
    naming the language and the sets that read it."""
    from triton_ocr.config import OCRConfig
    from triton_ocr.pipeline import OCRPipeline

    japanese = OCRPipeline(OCRConfig(lang="japan"))
    data = b64(encode(render_lines(["Tokyo 1"], size=(200, 60), font_size=24, origin=(10, 15))))
    with GatewayServer(GatewaySettings(engine="local", port=0), LocalBackend(japanese.config, pipeline=japanese)) \
            as running, httpx.Client(base_url=running.url, timeout=60.0) as client:
        assert client.post("/ocr", json={"image": data}).status_code == 200
        refused = client.post("/ocr", json={"image": data, "modelSet": "PP-OCRv4_mobile"})
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/json"
    assert "lang 'japan': PP-OCRv4_mobile does not read it; PP-OCRv5_mobile, PP-OCRv6_small do" in \
        refused.json()["errorMsg"]
