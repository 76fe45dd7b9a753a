"""Trained parameters that a configuration leaves out of the graph, made safe for DDP.

torch's DistributedDataParallel (fairseq's `pytorch_ddp`, the GPU default)
expects a gradient for every parameter that requires one, at every update;
without `find_unused_parameters` it raises at the next forward ("Expected to
have finished reduction in the prior iteration"). Two kinds of configuration
leave parameters out:

- a part that no loss term trains: the Wav2Prompt model's `--ctc-head` with
  `--ctc-weight 0 --cif-align-weight 0`, or `speech_encoder_ctc`'s CIF weight
  predictor with `--cif-align-weight 0`. It is frozen (it would never change
  anyway), so DDP does not track it and costs nothing more;
- `--encoder-freezing-updates N`: fairseq's S2T encoder runs under no_grad for
  the first N updates, then trains, so the set of used parameters changes and
  DDP must look for unused ones at every update: `find_unused_parameters` is
  set in fairseq's config before the trainer wraps the model.

`legacy_ddp` (the CPU choice) all-reduces every gradient after backward and
tolerates either case; the settings above change nothing there.
"""
import logging

from omegaconf import open_dict

logger = logging.getLogger(__name__)


def untrained_parts(model, criterion) -> dict:
    """{name: module} of the model's parts that no term of the criterion trains."""
    parts = {}
    ctc_proj = getattr(getattr(model, "encoder", None), "ctc_proj", None)
    if ctc_proj is not None and not getattr(criterion, "uses_ctc", True):
        parts["encoder.ctc_proj (--ctc-head with --ctc-weight 0 and --cif-align-weight 0)"] = ctc_proj
    cif_weights = getattr(model, "cif_weights", None)
    if cif_weights is not None and getattr(criterion, "cif_align_weight", 1.0) == 0:
        parts["cif_weights (--cif-align-weight 0)"] = cif_weights
    return parts


def freeze_untrained_parts(model, criterion):
    for name, module in untrained_parts(model, criterion).items():
        if any(p.requires_grad for p in module.parameters()):
            module.requires_grad_(False)
            logger.info(f"{name}: no loss term trains it, so it is frozen")


def needs_find_unused_parameters(model_cfg) -> str:
    """Why DDP must look for unused parameters at every update ('' if it need not)."""
    updates = getattr(model_cfg, "encoder_freezing_updates", 0) or 0
    if updates > 0:
        return f"--encoder-freezing-updates {updates} leaves the speech encoder out of the first updates' graph"
    return ""


def prepare_for_ddp(model, model_cfg, criterion, criterion_cfg):
    """Called between building the model and the criterion and fairseq's
    wrapping of the model (fairseq_cli/train.py builds both, then the Trainer
    wraps on first use)."""
    freeze_untrained_parts(model, criterion)
    reason = needs_find_unused_parameters(model_cfg)
    root = criterion_cfg._get_root() if hasattr(criterion_cfg, "_get_root") else None
    distributed = getattr(root, "distributed_training", None) if root is not None else None
    if not reason or distributed is None or distributed.find_unused_parameters:
        return
    with open_dict(distributed):
        distributed.find_unused_parameters = True
    logger.info(f"DDP: find_unused_parameters set, because {reason}")
