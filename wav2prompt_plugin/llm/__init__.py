"""The frozen LLM: loading it (loading.py), its vocabulary as a fairseq dictionary (dictionary.py), and
the LLM as a fairseq incremental decoder (decoder.py)."""
