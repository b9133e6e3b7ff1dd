"""Code that runs inside Triton: the python models' adapter and bodies, and the python-based inference backends
(``backends/<engine>/model.py``) with their model runners."""
