"""Where the frozen LLM decodes when it does not run in this process: backends/vllm.py."""
