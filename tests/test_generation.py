"""Greedy decoding through fairseq's SequenceGenerator over the plugin's decoder
agrees with Hugging Face generate() on the same prompt."""
import pytest
import torch

from wav2prompt_plugin.data.templates import PromptTemplate

from wav2prompt_plugin.llm.prompt_codec import text_prompt_ids
from wav2prompt_plugin.inference import LLMGenerator

TEXTS = ["the cat sleeps in the kitchen", "open the window please", "where does tom live"]
TEMPLATE = "Context: {context} Question: {speech} Answer:"
FIELDS = [{"context": "the box is green"}, {"context": "tom"}, {"context": "the ball is under the table"}]


@pytest.fixture(scope="module")
def generator(tiny_llm):
    return LLMGenerator.from_llm_path(tiny_llm, beam=1, max_len_b=12)


def hf_greedy(generator, text, row, max_new_tokens=12):
    task = generator.task
    llm = generator.text_model.decoder.llm
    ids = text_prompt_ids(task.tokenizer, PromptTemplate(TEMPLATE), row, text)
    pad = task.target_dictionary.pad()
    out = llm.generate(
        input_ids=torch.tensor([ids]), max_new_tokens=max_new_tokens, min_new_tokens=1,
        do_sample=False, bad_words_ids=[[pad]], eos_token_id=task.target_dictionary.eos(),
        pad_token_id=pad,
    )
    new = out[0, len(ids):].tolist()
    eos = task.target_dictionary.eos()
    return task.tokenizer.decode(new[: new.index(eos)] if eos in new else new, skip_special_tokens=True).strip()


def test_batched_greedy_matches_hugging_face_one_by_one(generator):
    ours = generator.generate_from_text(TEXTS, TEMPLATE, FIELDS)
    reference = [hf_greedy(generator, t, f) for t, f in zip(TEXTS, FIELDS)]
    assert ours == reference
    assert any(ours)


def test_template_fields_change_the_output(generator):
    a = generator.generate_from_text(TEXTS[:1], TEMPLATE, {"context": "the box is green"})
    b = generator.generate_from_text(TEXTS[:1], TEMPLATE, {"context": "marc has a small blue car"})
    assert a != b
