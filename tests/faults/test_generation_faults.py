"""Generation at its edges: CIF firing nothing, prompts and hypotheses at the
LLM's context limit, empty input."""
import os

import pytest
import torch

from conftest import run_cli
from faults_common import TEMPLATE, error_report, train_command
from wav2prompt_plugin.data.templates import PromptTemplate
from wav2prompt_plugin.llm.prompt_codec import text_prompt_ids
from wav2prompt_plugin.inference import LLMGenerator, Wav2PromptInference
from wav2prompt_plugin.llm.decoder import PromptTooLongError

LONG_TEMPLATE = "repeat " * 300 + "{speech}"


@pytest.fixture(scope="module")
def checkpoint(speech_data, tiny_llm, tmp_path_factory):
    save_dir = tmp_path_factory.mktemp("gen_ckpt")
    run_cli(train_command(speech_data, tiny_llm, save_dir, 1, ["--disable-validation"]))
    return os.path.join(save_dir, "checkpoint_last.pt")


@pytest.fixture(scope="module")
def wavs(speech_data):
    return [os.path.join(speech_data, "wav", f"dev_{i}.wav") for i in range(2)]


@pytest.mark.slow
def test_cif_firing_nothing_leaves_the_template_alone(checkpoint, wavs, monkeypatch):
    w2p = Wav2PromptInference(checkpoint, beam=2, max_len_b=8)
    monkeypatch.setattr(w2p.model.encoder.cif_weights, "forward",
                        lambda hidden, padding: hidden.new_zeros(hidden.shape[:2]))
    assert w2p.prompt_lengths(wavs) == [0, 0]
    # E_s is empty: the LLM answers the template's text, as for an empty text at {speech}
    assert w2p.generate(wavs, TEMPLATE) == w2p.generate_from_text(["", ""], TEMPLATE)


@pytest.mark.slow
def test_prompt_longer_than_the_llm_is_a_clear_error(checkpoint, wavs):
    w2p = Wav2PromptInference(checkpoint, beam=1, max_len_b=8)
    with pytest.raises(PromptTooLongError, match=r"LLM input of \d+ positions exceeds the LLM's maximum of 256"):
        w2p.generate(wavs, LONG_TEMPLATE)


@pytest.mark.slow
def test_fairseq_generate_reports_too_long_prompt_in_one_line(checkpoint, speech_data, tiny_llm):
    proc = run_cli([
        "fairseq-generate", speech_data, "--user-dir", "wav2prompt_plugin", "--task", "wav2prompt",
        "--llm-path", tiny_llm, "--gen-subset", "dev", "--path", checkpoint, "--cpu",
        "--gen-template", LONG_TEMPLATE, "--max-len-b", "5",
    ], check=False)
    report = error_report(proc, "PromptTooLongError")
    assert len(report.splitlines()) == 1 and "maximum of 256" in report


def test_hypothesis_reaching_the_llm_context_ends_there(tiny_llm):
    generator = LLMGenerator.from_llm_path(tiny_llm, beam=1, max_len_b=400)
    llm = generator.text_model.decoder.llm
    eos = generator.task.target_dictionary.eos()
    with torch.no_grad():
        llm.lm_head.weight[eos] = 0.0  # an LLM that never stops by itself
    sample = generator.text_sample(["the cat sleeps"], TEMPLATE)
    tokens = generator.task.inference_step(generator.text_generator, [generator.text_model], sample)[0][0]["tokens"]
    task = generator.task
    prompt = text_prompt_ids(task.tokenizer, PromptTemplate(TEMPLATE), {},
                             "the cat sleeps")
    # the prompt and every generated token but the last fill the 256 positions; eos ends it
    assert len(prompt) + len(tokens) - 1 == 256 + 1
    assert tokens[-1] == eos and eos not in tokens[:-1].tolist()


@pytest.mark.slow
def test_empty_input_gives_empty_output(checkpoint, tiny_llm):
    w2p = Wav2PromptInference(checkpoint, beam=1, max_len_b=8)
    assert w2p.generate([], TEMPLATE) == [] and w2p.prompt_lengths([]) == []
    assert w2p.generate_from_text([], TEMPLATE) == []
