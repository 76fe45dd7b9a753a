"""Speech utterances with their prompt segments, target and transcript tokens."""
import logging
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from fairseq.data import FairseqDataset, data_utils
from fairseq.data.audio.speech_to_text_dataset import _collate_frames

from wav2prompt_plugin.data.audio_features import AudioError, load_features
from wav2prompt_plugin.data.packed import PackedSequences, PackedStrings

logger = logging.getLogger(__name__)


class Wav2PromptDataset(FairseqDataset):
    """One item per manifest row.

    targets: token ids the LLM must produce (eos appended here);
    transcripts: token ids of the transcript, U of them, for L_MSE / L_QUA
    (None when the manifest has no transcript);
    prompts: per row, the (prefix, postfix) token ids around E_s;
    names: per row, where it comes from (manifest line and id), for errors.

    Token ids, audio paths and names are kept packed (`PackedSequences`), no
    Python object per row, so that forked loader workers share their memory.

    Audio that fails to decode when read (NaN samples, a corrupt stream) raises
    an AudioError naming the row, or with `skip_bad_rows` is logged and left
    out of its batch.
    """

    def __init__(
        self,
        audio: Sequence[str],
        n_frames: Sequence[int],
        targets: Union[PackedSequences, Sequence[Sequence[int]]],
        transcripts: Optional[Union[PackedSequences, Sequence[Sequence[int]]]],
        prompts: List[tuple],
        dictionary,
        shuffle: bool = True,
        utterance_cmvn: bool = True,
        feature_norm: str = "utterance",
        trim_silence: bool = False,
        feature_transform=None,
        names: Optional[Sequence[str]] = None,
        skip_bad_rows: bool = False,
        resample_audio: bool = True,
        seed: int = 1,
    ):
        self.audio = PackedStrings.of(audio)
        self.sizes = np.array(n_frames, dtype=np.int64)
        self.targets = PackedSequences.of(targets)
        self.transcripts = None if transcripts is None else PackedSequences.of(transcripts)
        self.prompts = prompts
        self.dictionary = dictionary
        self.shuffle = shuffle
        self.utterance_cmvn = utterance_cmvn
        self.feature_norm = feature_norm  # audio_features.normalize_features
        self.trim_silence = trim_silence  # leading/trailing silence cut from audio files (voice_activity.py)
        self.feature_transform = feature_transform  # e.g. SpecAugment, training only
        self.names = self.audio if names is None else PackedStrings.of(names)
        self.skip_bad_rows = skip_bad_rows
        self.resample_audio = resample_audio
        self.seed = seed
        self.epoch = 1

    def set_epoch(self, epoch):
        self.epoch = epoch

    def set_prompts(self, prompts: List[tuple]):
        self.prompts = prompts

    def __len__(self):
        return len(self.audio)

    def __getitem__(self, index):
        try:
            features = load_features(self.audio[index], self.utterance_cmvn, self.resample_audio,
                                     self.feature_norm, self.trim_silence)
        except AudioError as e:
            if not self.skip_bad_rows:
                raise AudioError(f"{self.names[index]}: {e}") from None
            logger.warning(f"skipped {self.names[index]}: {e}")
            return None
        if self.feature_transform is not None:
            # seeded by (seed, epoch, row), as fairseq's masking datasets do: the
            # same masks in any loader worker, and after resuming from a checkpoint
            with data_utils.numpy_seed(self.seed, self.epoch, index):
                features = self.feature_transform(features)
        features = torch.from_numpy(features)
        prefix, postfix = self.prompts[index]
        item = {
            "id": index,
            "source": features,
            "target": torch.tensor(np.append(self.targets[index], self.dictionary.eos()), dtype=torch.long),
            "prefix": torch.tensor(prefix, dtype=torch.long),
            "postfix": torch.tensor(postfix, dtype=torch.long),
        }
        if self.transcripts is not None:
            item["transcript"] = torch.tensor(self.transcripts[index], dtype=torch.long)
        return item

    def _tokens(self, samples, key, move_eos_to_beginning=False):
        pad, eos = self.dictionary.pad(), self.dictionary.eos()
        values = [s[key] for s in samples]
        lengths = torch.tensor([v.numel() for v in values], dtype=torch.long)
        if lengths.max() == 0:
            return torch.full((len(values), 0), pad, dtype=torch.long), lengths
        return (
            data_utils.collate_tokens(values, pad, eos, False, move_eos_to_beginning),
            lengths,
        )

    def collater(self, samples):
        samples = [s for s in samples if s is not None]  # rows skipped in __getitem__
        if len(samples) == 0:
            return {}
        target, target_lengths = self._tokens(samples, "target")
        prev_output_tokens, _ = self._tokens(samples, "target", move_eos_to_beginning=True)
        prefix, prefix_lengths = self._tokens(samples, "prefix")
        postfix, postfix_lengths = self._tokens(samples, "postfix")
        batch = {
            "id": torch.tensor([s["id"] for s in samples], dtype=torch.long),
            "net_input": {
                "src_tokens": _collate_frames([s["source"] for s in samples]),
                "src_lengths": torch.tensor([s["source"].size(0) for s in samples]),
                "prev_output_tokens": prev_output_tokens,
                "prompt_prefix_tokens": prefix,
                "prompt_prefix_lengths": prefix_lengths,
                "prompt_postfix_tokens": postfix,
                "prompt_postfix_lengths": postfix_lengths,
            },
            "target": target,
            "target_lengths": target_lengths,
            "ntokens": int(target_lengths.sum()),
            "nsentences": len(samples),
        }
        if "transcript" in samples[0]:
            batch["transcript"], batch["transcript_lengths"] = self._tokens(samples, "transcript")
        return batch

    def num_tokens(self, index):
        return int(self.sizes[index])

    def num_tokens_vec(self, indices):
        return self.sizes[indices]

    def size(self, index):
        return int(self.sizes[index])

    def batch_by_size(self, indices, max_tokens=None, max_sentences=None,
                      required_batch_size_multiple=1):
        batches = super().batch_by_size(
            indices, max_tokens, max_sentences, required_batch_size_multiple
        )
        # fairseq-fixed 0.12.3.1 drops the last partial batch when
        # required_batch_size_multiple > 1; batches are consecutive slices of
        # `indices`, so what was dropped is the tail
        covered = sum(len(b) for b in batches)
        if covered < len(indices):
            batches = list(batches) + list(
                super().batch_by_size(indices[covered:], max_tokens, max_sentences, 1)
            )
        return batches

    def ordered_indices(self):
        # longest first, ties in random (training) or manifest order
        order = np.random.permutation(len(self)) if self.shuffle else np.arange(len(self))
        return order[np.argsort(-self.sizes[order], kind="stable")]

    @property
    def can_reuse_epoch_itr_across_epochs(self):
        # batches depend on the epoch (ties shuffled with seed + epoch): rebuild
        # them each epoch, so a run resumed at an epoch start batches as one that
        # never stopped
        return False

    @property
    def supports_prefetch(self):
        return False
