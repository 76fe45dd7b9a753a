"""The repetition penalty through fairseq's SequenceGenerator gives what Hugging
Face generate() gives for the same prompt passed as inputs_embeds (greedy and
beam), and it changes the output."""
import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList

from wav2prompt_plugin.data.templates import PromptTemplate

from wav2prompt_plugin.llm.prompt_codec import text_prompt_ids
from wav2prompt_plugin.inference import LLMGenerator
from wav2prompt_plugin.modules.repetition_penalty import RepetitionPenalty

TEXTS = ["the cat sleeps in the kitchen", "open the window please", "where does tom live",
         "marc has a small blue car"]
TEMPLATE = "Question: {speech} Answer:"
MAX_LEN = 9


class FairseqMaxLength(LogitsProcessor):
    """fairseq's end of search: after `max_len` tokens only eos, at its own score."""

    def __init__(self, max_len, eos):
        self.max_len, self.eos = max_len, eos

    def __call__(self, input_ids, scores):
        if input_ids.shape[1] < self.max_len:
            return scores
        forced = torch.full_like(scores, float("-inf"))
        forced[:, self.eos] = scores[:, self.eos]
        return forced


def hf_generate(generator, text, beam, penalty):
    task = generator.task
    llm = generator.text_model.decoder.llm
    ids = text_prompt_ids(task.tokenizer, PromptTemplate(TEMPLATE), {}, text)
    eos, pad = task.target_dictionary.eos(), task.target_dictionary.pad()
    with torch.no_grad():
        embeds = llm.get_input_embeddings()(torch.tensor([ids]))
        out = llm.generate(
            inputs_embeds=embeds, max_new_tokens=MAX_LEN + 1, min_new_tokens=1, do_sample=False,
            num_beams=beam, length_penalty=0.0, early_stopping=True, repetition_penalty=penalty,
            bad_words_ids=[[pad]], eos_token_id=eos, pad_token_id=pad,
            logits_processor=LogitsProcessorList([FairseqMaxLength(MAX_LEN, eos)]),
        )
    new = out[0].tolist()  # inputs_embeds only: the output holds the new tokens alone
    new = new[: new.index(eos)] if eos in new else new
    return task.tokenizer.decode(new, skip_special_tokens=True).strip()


@pytest.mark.parametrize("beam", [1, 4])
def test_penalty_matches_hugging_face_and_changes_the_output(tiny_llm, beam):
    penalised = LLMGenerator.from_llm_path(tiny_llm, beam=beam, max_len_b=MAX_LEN, lenpen=0.0,
                                           repetition_penalty=1.5)
    ours = penalised.generate_from_text(TEXTS, TEMPLATE)
    assert ours == [hf_generate(penalised, t, beam, 1.5) for t in TEXTS]

    plain = LLMGenerator.from_llm_path(tiny_llm, beam=beam, max_len_b=MAX_LEN, lenpen=0.0)
    unpenalised = plain.generate_from_text(TEXTS, TEMPLATE)
    assert unpenalised == [hf_generate(plain, t, beam, 1.0) for t in TEXTS]
    assert ours != unpenalised


@pytest.mark.parametrize("beam", [1, 3])
def test_penalty_lowers_only_generated_tokens(beam):
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 11) * 3
    generated = torch.tensor([[4, 7, 4], [0, 0, 0]])
    lprobs = RepetitionPenalty(1.5, beam).log_probs(logits, generated)[:, 0]
    plain = torch.log_softmax(logits, -1)[:, 0]
    for row, tokens in enumerate(({4, 7}, {0})):
        others = [t for t in range(11) if t not in tokens]
        shift = lprobs[row] - plain[row]
        # tokens not generated keep their relative scores, generated ones fall behind them
        assert torch.allclose(shift[others], shift[others[0]].expand(len(others)), atol=1e-5)
        assert all(shift[t] < shift[others[0]] - 0.1 for t in tokens)
        if beam > 1:  # beam search: Hugging Face does not renormalise after the penalty
            assert torch.allclose(shift[others], torch.zeros(len(others)), atol=1e-6)


def test_bad_penalty_is_refused():
    with pytest.raises(ValueError, match="repetition-penalty"):
        RepetitionPenalty(0.0, 5)
