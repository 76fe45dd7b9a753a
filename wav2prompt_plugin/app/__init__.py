"""The demo page (wav2prompt-demo): a FastAPI app over the Python API, and its HTML."""
