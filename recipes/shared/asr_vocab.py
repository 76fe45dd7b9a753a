"""The cascade's ASR vocabulary, shared by both recipes' prepare_asr.py: SentencePiece (unigram) on the
training transcripts, and the fairseq dictionary of its pieces. fairseq ships the same step in
examples/speech_to_text/data_utils.py (gen_vocab), which needs pandas and a speech toolkit we do not
install."""
import os

import sentencepiece as spm

SPECIAL = {"unk_id": 3, "bos_id": 0, "eos_id": 2, "pad_id": 1}  # fairseq's Dictionary order


def train_vocab(texts, prefix: str, vocab_size: int):
    with open(prefix + ".txt", "w") as f:
        f.write("\n".join(texts) + "\n")
    spm.SentencePieceTrainer.train(
        input=prefix + ".txt", model_prefix=prefix, vocab_size=vocab_size, model_type="unigram",
        character_coverage=1.0, hard_vocab_limit=False, minloglevel=2, **SPECIAL,
    )
    os.remove(prefix + ".txt")
    model = spm.SentencePieceProcessor(model_file=prefix + ".model")
    specials = {model.unk_id(), model.bos_id(), model.eos_id(), model.pad_id()}
    with open(prefix + ".dict.txt", "w") as f:  # fairseq dictionary: pieces after the 4 specials
        for i in range(model.get_piece_size()):
            if i not in specials:
                f.write(f"{model.id_to_piece(i)} 1\n")
