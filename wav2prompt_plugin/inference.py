"""Python entry point: a checkpoint + a local LLM -> text for audio and a template.

    from wav2prompt_plugin.inference import Wav2PromptInference
    w2p = Wav2PromptInference("checkpoint_best.pt", llm_path="/models/llama-2-7b")
    w2p.generate(["a.wav"], "Translate the English text into French: {speech} French:")

It goes through the same task, dataset collater and fairseq SequenceGenerator
as `fairseq-generate`, so both give the same hypotheses.
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
from fairseq import checkpoint_utils, utils
from fairseq.dataclass.configs import GenerationConfig

from wav2prompt_plugin.data.templates import PromptTemplate
from wav2prompt_plugin.data.wav2prompt_dataset import Wav2PromptDataset
from wav2prompt_plugin.models.wav2prompt import decode_llm_identity


def stored_llm_path(checkpoint_state) -> str:
    return decode_llm_identity(checkpoint_state["model"]["llm_identity_bytes"])["path"]


class Wav2PromptInference:
    def __init__(
        self,
        checkpoint: str,
        llm_path: Optional[str] = None,
        beam: int = 1,
        max_len_b: int = 200,
        device: str = "cpu",
        **generation,
    ):
        import wav2prompt_plugin  # noqa: F401  (registers the task and model)

        state = checkpoint_utils.load_checkpoint_to_cpu(checkpoint)
        llm_path = llm_path or stored_llm_path(state)
        models, _, task = checkpoint_utils.load_model_ensemble_and_task(
            [checkpoint], arg_overrides={"llm_path": llm_path}, state=state
        )
        self.task = task
        self.model = models[0].to(device).eval()
        self.device = device
        config = GenerationConfig(beam=beam, max_len_b=max_len_b, **generation)
        self.generator = task.build_generator([self.model], config)
        self.bpe = task.build_bpe(None)

    def batch(self, audio: Sequence[str], template: PromptTemplate, fields: Sequence[Dict[str, str]]):
        dataset = Wav2PromptDataset(
            audio=list(audio),
            n_frames=[0] * len(audio),
            targets=[[] for _ in audio],
            transcripts=None,
            prompts=self.task.encode_prompts(fields, template),
            dictionary=self.task.target_dictionary,
            shuffle=False,
            utterance_cmvn=self.task.cfg.utterance_cmvn,
        )
        return dataset.collater([dataset[i] for i in range(len(dataset))])

    @torch.no_grad()
    def generate(
        self,
        audio: Union[str, Sequence[str]],
        template: str,
        fields: Union[None, Dict[str, str], Sequence[Dict[str, str]]] = None,
    ) -> List[str]:
        """Text for each audio file; `fields` fills the template's {column} fields."""
        audio = [audio] if isinstance(audio, str) else list(audio)
        template = PromptTemplate(template)
        if fields is None or isinstance(fields, dict):
            fields = [fields or {}] * len(audio)
        for row in fields:
            template.check_columns(row.keys(), "the fields given")
        sample = self.batch(audio, template, fields)
        if self.device != "cpu":
            sample = utils.move_to_cuda(sample)
        hypos = self.task.inference_step(self.generator, [self.model], sample)
        dictionary = self.task.target_dictionary
        return [
            self.bpe.decode(dictionary.string(h[0]["tokens"].int().cpu())) for h in hypos
        ]
