"""A checkpoint written before the LLM code moved to wav2prompt_plugin/llm/ (tests/fixtures/checkpoint_v1,
made by tests/fixtures/make_checkpoint_v1.py) loads and decodes to the texts it decoded to then."""
import json
import os

import pytest
import torch

from wav2prompt_plugin.inference import Wav2PromptInference

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "checkpoint_v1")
CHECKPOINT = os.path.join(FIXTURE, "checkpoint.pt")
WAVS = [os.path.join(FIXTURE, "wav", f"u{i}.wav") for i in range(2)]


def test_the_checkpoint_names_no_module_of_the_plugin():
    """Nothing in it is pickled by class (weights-only loading reads it all), so no module path of the
    plugin is stored: moving a module cannot break it. What names the plugin's parts are fairseq's
    registered names in its config."""
    state = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    assert state["cfg"]["model"]["_name"] == "wav2prompt_tiny" and state["cfg"]["task"]["_name"] == "wav2prompt"


@pytest.mark.parametrize("beam", [1, 3])
def test_an_old_checkpoint_decodes_as_it_did(beam):
    with open(os.path.join(FIXTURE, "expected.json")) as f:
        expected = json.load(f)
    w2p = Wav2PromptInference(CHECKPOINT, llm_path=os.path.join(FIXTURE, "llm"), beam=beam, max_len_b=8,
                              trim_silence=False)
    assert w2p.prompt_lengths(WAVS) == expected["prompt_lengths"]
    cases = [case for case in expected["decoded"] if case["beam"] == beam]
    assert cases
    for case in cases:
        assert w2p.generate(WAVS, case["template"]) == case["texts"], case["template"]
