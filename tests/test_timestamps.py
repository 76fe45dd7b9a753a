"""CIF timestamps (timestamps.py) and their errors against known word times (evaluation/word_times.py)."""
import pytest
import torch

from wav2prompt_plugin.evaluation.word_times import WordTimeErrors, paired_errors, parse_word_times
from wav2prompt_plugin.modules.cif import integrate_and_fire
from wav2prompt_plugin.analysis.timestamps import covered_seconds, to_seconds, token_spans, vector_weights
from wav2prompt_plugin.llm.prompt_codec import WordBoundaries


def test_vector_weights_are_what_cif_integrates():
    """Fired vector k is sum_t W[k, t] h_t, for inference's counts (a tail vector, or a dropped tail)."""
    torch.manual_seed(0)
    for alpha in (torch.rand(1, 40), torch.tensor([[0.2, 0.9, 0.1, 0.0, 0.6, 0.4]]), torch.rand(1, 9) * 3):
        hidden = torch.randn(1, alpha.size(1), 5, dtype=torch.float64)
        cif = integrate_and_fire(hidden, alpha.double())
        k = int(cif.num_fired[0])
        weights = vector_weights(alpha[0], k)
        assert weights.shape == (k, alpha.size(1))
        torch.testing.assert_close(weights @ hidden[0], cif.fired[0, :k])


def test_token_spans_by_hand():
    # cumulative weights 0.2 1.1 1.2 1.2 1.8 2.2: two vectors (the 0.2 left is below the tail threshold)
    spans = token_spans([0.2, 0.9, 0.1, 0.0, 0.6, 0.4], 2)
    # vector 1 fires where the sum reaches 1: frame 1, (1 - 0.2) / 0.9 of the way in; frames 0-1 give it
    # 0.2 and 0.8; vector 2 gets 0.1 of frame 1, 0.1 of frame 2, 0.6, and half of frame 5's 0.4
    assert spans[0] == pytest.approx({"start": 0.0, "end": 1 + 0.8 / 0.9, "fire": 1 + 0.8 / 0.9})
    assert spans[1] == pytest.approx({"start": 1 + 0.8 / 0.9, "end": 5.5, "fire": 5.5})
    # silence between two vectors (weights below ACTIVE_WEIGHT) is in neither span
    spans = token_spans([0.5, 0.5, 0.01, 0.01, 0.01, 0.47, 0.5], 2)
    assert spans[0]["end"] == pytest.approx(2.0) and spans[1]["start"] == pytest.approx(5.0)
    assert spans[1]["fire"] == pytest.approx(7.0)  # where the weight ends: a tail vector of 0.99
    assert token_spans([0.1, 0.1], 0) == []


def test_seconds_through_the_subsampling():
    # 4x subsampling of 10 ms fbank frames: frame t (spanning [t, t+1)) is centred at 40 t + 12.5 ms
    spans = [{"start": 0.0, "end": 2.5, "fire": 10.5}]
    assert to_seconds(spans, 4, duration=0.3) == [{"start": 0.0, "end": 0.0925, "fire": 0.3}]
    assert covered_seconds(100) == pytest.approx(1.015)


def test_words_from_sentencepiece_and_byte_level_tokenizers(tiny_llm, tmp_path):
    from transformers import AutoTokenizer

    from llm_families import build_family

    for path in (tiny_llm, build_family("qwen2", str(tmp_path / "qwen"))):
        tokenizer = AutoTokenizer.from_pretrained(path)
        ids = tokenizer(" the cat sleeps in the kitchen", add_special_tokens=False)["input_ids"]
        spans = [{"start": float(i), "end": i + 0.5, "fire": i + 0.5} for i in range(len(ids))]
        words = WordBoundaries(tokenizer).words(ids, spans)
        assert [w["word"] for w in words] == "the cat sleeps in the kitchen".split(), path
        assert sum(len(w["tokens"]) for w in words) == len(ids)
        last = words[-1]["tokens"]
        assert words[-1]["start"] == last[0] and words[-1]["end"] == last[-1] + 0.5


def test_word_time_errors_pair_words_by_text():
    ref = parse_word_times("0.10-0.40 0.50-0.80 0.90-1.20", "the red dog", "test.tsv, id 1")
    # "red" misheard: only "the" and "dog" are paired
    hyp = [{"word": "The", "start": 0.12, "end": 0.35}, {"word": "bed", "start": 0.5, "end": 0.8},
           {"word": "dog", "start": 0.80, "end": 1.30}]
    starts, ends = paired_errors(hyp, ref)
    assert starts == pytest.approx([0.02, -0.10]) and ends == pytest.approx([-0.05, 0.10])
    errors = WordTimeErrors()
    errors.add(hyp, ref)
    figures = errors.figures()
    assert figures["word_times_paired"] == pytest.approx(200 / 3)
    assert figures["word_start_err_ms_median"] == pytest.approx(60.0)
    assert figures["word_end_err_ms_p90"] == pytest.approx(95.0)
    with pytest.raises(ValueError, match="test.tsv, id 1: 2 word times for the 3 words"):
        parse_word_times("0.1-0.2 0.3-0.4", "the red dog", "test.tsv, id 1")
    with pytest.raises(ValueError, match="'0.1:0.2' is not start-end"):
        parse_word_times("0.1:0.2", "dog", "test.tsv, id 1")
