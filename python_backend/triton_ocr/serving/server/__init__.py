"""Code that runs the server process: the binary's install, the launcher, the supervisor and ``triton-ocr serve``."""
