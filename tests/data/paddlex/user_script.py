# A PaddleX 3.x user's script as PaddleX documents the OCR pipeline; only the import names this package.
from triton_ocr import create_pipeline

pipeline = create_pipeline(pipeline="OCR")
output = pipeline.predict(
    input="./page.png",
    use_doc_orientation_classify=False,
    use_doc_unwarping=False,
    use_textline_orientation=False,
)
for res in output:
    res.print()
    res.save_to_img(save_path="./output/")
    res.save_to_json(save_path="./output/")
    print("TEXTS", res.json["res"]["rec_texts"])
