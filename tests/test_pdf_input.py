"""PDF input: one result per page with its page_index, the page limit, and clear errors for bad PDFs; in-process,
in the CLI and in the Triton client's requests (pages go to the server as images). Pages are rendered by a worker
process (``steps/pdf_worker.py``; hostile PDFs: ``tests/test_pdf_hostile.py``)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from imagegen import pdf_from_images, raw_pdf, render_lines

from triton_ocr import cli
from triton_ocr.config import ImageConfig
from triton_ocr.errors import ImageTooLargeError, InputNotFoundError, InvalidImageError
from triton_ocr.inputs import iter_inputs
from triton_ocr.steps.pdf_worker import PdfWorker, pdf_pages

PAGE_TEXTS = ["Page one 1111", "Page two 2222", "Page three 3333"]


def squash(texts: list[str]) -> list[str]:
    return [text.replace(" ", "") for text in texts]


@pytest.fixture(scope="module")
def three_pages() -> bytes:
    return pdf_from_images([render_lines([text], size=(360, 60), font_size=24, origin=(10, 15)) for text in PAGE_TEXTS])


def test_pages_render_at_the_stated_dpi():
    pages = list(pdf_pages(raw_pdf(200, 100), ImageConfig()))
    assert [page.shape for page in pages] == [(200, 400, 3)]  # 144 dpi: 2 pixels per point
    assert pages[0].dtype == np.uint8 and (pages[0] == 255).all()  # an empty page is white
    with PdfWorker(raw_pdf(200, 100), ImageConfig(pdf_dpi=72)) as pdf:
        assert pdf.info.page_sizes == [(200, 100)]


def test_a_three_page_pdf_gives_three_results_with_page_indices(pipeline, three_pages, tmp_path):
    path = tmp_path / "doc.pdf"
    path.write_bytes(three_pages)
    results = list(pipeline.predict(str(path)))
    assert [r["page_index"] for r in results] == [0, 1, 2]
    assert [squash(r["rec_texts"]) for r in results] == [[t] for t in squash(PAGE_TEXTS)]
    assert {r["input_path"] for r in results} == {str(path)}
    assert [r.save_to_json(tmp_path / "out").name for r in results] == [f"doc_{i}_ocr.json" for i in range(3)]
    from_bytes = list(pipeline.predict(three_pages))
    assert [r["rec_texts"] for r in from_bytes] == [r["rec_texts"] for r in results]


def test_a_twelve_page_pdf_stops_at_the_page_limit(caplog):
    data = raw_pdf()
    twelve = pdf_from_images([np.full((40, 80, 3), 255, np.uint8)] * 12)
    caplog.set_level(logging.WARNING)
    pages = list(pdf_pages(twelve, ImageConfig(), "scan.pdf"))
    assert len(pages) == 10 and len(list(pdf_pages(data, ImageConfig()))) == 1
    assert caplog.messages == [
        "scan.pdf: read 10 of 12 pages: the page limit is 10 (image.pdf_max_pages in the pipeline config)"
    ]
    assert len(list(pdf_pages(twelve, ImageConfig(pdf_max_pages=12)))) == 12


@pytest.mark.parametrize(
    "data, error, message",
    [
        (raw_pdf(encrypted=True), InvalidImageError, "x.pdf is encrypted (password-protected); send it decrypted"),
        (b"%PDF-1.7\nnot really a pdf", InvalidImageError, "x.pdf is damaged or not a PDF: Failed to load document"),
        (raw_pdf(10000, 10000), ImageTooLargeError, "x.pdf page 1 would render at 20000×20000 = 400000000 pixels "
         "(144 dpi); the limit is 40000000 (image.max_pixels)"),
        (pdf_from_images([np.full((40, 80, 3), 255, np.uint8)] * 2), ImageTooLargeError,
         "x.pdf's 2 pages read would render at 25600 pixels in all (144 dpi); the limit is 20000 "
         "(image.pdf_max_total_pixels)"),
    ],
    ids=["encrypted", "corrupt", "huge-page", "pages-in-all"],
)
def test_bad_pdfs_get_clear_errors(data, error, message):
    with pytest.raises(error) as raised:
        list(pdf_pages(data, ImageConfig(pdf_max_total_pixels=20000), "x.pdf"))
    assert str(raised.value).startswith(message)


def test_cli_reads_every_page_and_saves_each(three_pages, tmp_path, capsys):
    (tmp_path / "doc.pdf").write_bytes(three_pages)
    assert cli.main(["--input", str(tmp_path / "doc.pdf"), "--save_path", str(tmp_path / "out"), "--quiet"]) == 0
    saved = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert saved == sorted(f"doc_{i}_ocr.{kind}" for i in range(3) for kind in ("json", "png"))
    page = json.loads((tmp_path / "out" / "doc_2_ocr.json").read_text(encoding="utf-8"))["res"]
    assert page["page_index"] == 2 and squash(page["rec_texts"]) == squash(PAGE_TEXTS[2:])


def test_cli_bad_pdf_and_empty_folder_exit_2_with_one_line(tmp_path, capsys):
    (tmp_path / "locked.pdf").write_bytes(raw_pdf(encrypted=True))
    assert cli.main(["--input", str(tmp_path / "locked.pdf"), "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"triton-ocr: error: {tmp_path / 'locked.pdf'}: {tmp_path / 'locked.pdf'} is encrypted (password-protected); "
        "send it decrypted"
    )
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    assert cli.main(["--input", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"triton-ocr: error: the folder {tmp_path / 'empty'} holds no image")
    with pytest.raises(InputNotFoundError):
        list(iter_inputs(str(tmp_path / "empty")))


def test_the_triton_client_sends_pdf_pages_as_images(three_pages):
    from triton_ocr import contract
    from triton_ocr_client import OCRClient

    client = OCRClient.from_url("grpc://127.0.0.1:1")  # never connected: prepare() builds requests only
    requests = list(client.prepare(three_pages, text_det_box_thresh=0.55))
    assert [r.page_index for r in requests] == [0, 1, 2]
    assert {r.entry.name for r in requests} == {contract.OCR_RAW}
    assert [r.arrays[contract.IMAGE].shape for r in requests] == [(120, 720, 3)] * 3
    assert all(float(r.arrays["det_box_thresh"][0]) == pytest.approx(0.55) for r in requests)
    with pytest.raises(TypeError, match="did you mean text_det_thresh"):
        list(client.prepare(three_pages, text_det_tresh=0.2))
