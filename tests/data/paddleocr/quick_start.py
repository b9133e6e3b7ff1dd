# PaddleOCR 3.x's quick start as its README documents it; only the import names this package.
from triton_ocr import PaddleOCR

ocr = PaddleOCR(
    use_doc_orientation_classify=False,
    use_doc_unwarping=False,
    use_textline_orientation=False,
)
result = ocr.predict(input="./page.png")
for res in result:
    res.print()
    res.save_to_img("output")
    res.save_to_json("output")
