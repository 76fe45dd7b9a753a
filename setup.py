from setuptools import find_packages, setup

setup(
    name="wav2prompt_plugin",
    version="0.1.0",
    description="Wav2Prompt: speech prompts for a frozen text LLM, as a fairseq plugin",
    license="MIT",
    packages=find_packages(include=["wav2prompt_plugin", "wav2prompt_plugin.*"]),
    python_requires=">=3.9",
    # what benchmarks/cif.py compares against; the plugin never imports it
    extras_require={"benchmarks": ["torch-cif==0.2.0"]},
    entry_points={
        "console_scripts": [
            "wav2prompt-eval = wav2prompt_plugin.cli.evaluate:main",
            "wav2prompt-train = wav2prompt_plugin.cli.train:main",
        ]
    },
)
