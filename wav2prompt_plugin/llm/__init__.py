"""The frozen LLM: loading it (loading.py), its vocabulary as a fairseq dictionary (dictionary.py), the LLM as
a fairseq incremental decoder (decoder.py), and how its tokenizer writes prompts (prompt_codec.py)."""
