"""`wav2prompt-train`: fairseq-train with the plugin registered, one process per
rank as torchrun starts them.

    wav2prompt-train DATA --task wav2prompt ... (fairseq-train's options)
    torchrun --nnodes N --nproc_per_node G --node_rank R --master_addr HOST --master_port PORT \\
        -m wav2prompt_plugin.cli.train DATA --task wav2prompt ...

Every fairseq-train option is taken unchanged; `--user-dir` defaults to the
installed plugin.

The same launch on one GPU node, on several, and on CPU (tests): torchrun
starts the processes, and one that fails ends the others, its message on
stderr. fairseq-fixed's own launchers do not fit all three: its spawn path
starts one process per CUDA device it counts (none on CPU, where it exits 0
having trained nothing), and under torchrun's environment it takes
`rank % torch.cuda.device_count()` as the device (a ZeroDivisionError on CPU).
Here the ranks torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK) become fairseq's
explicit `--distributed-*` options, so fairseq infers nothing, and every
rank reads a checkpoint it starts from itself. Without torchrun's environment
this is plain fairseq-train.
"""
import os
import sys

from wav2prompt_plugin.cli.arguments import fairseq_train_logging, with_user_dir
from wav2prompt_plugin.runtime.process import prepare_process
from wav2prompt_plugin.runtime.errors import InputError
from wav2prompt_plugin.training.precision import check_fairseq_precision

TORCHRUN = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
SET_HERE = ("--distributed-init-method", "--distributed-world-size", "--distributed-rank",
            "--device-id", "--distributed-no-spawn")


class LaunchError(InputError):
    pass


def rank_options(argv, env) -> list:
    """fairseq's distributed options for the rank torchrun started."""
    if not all(k in env for k in TORCHRUN):
        return []
    given = [a for a in argv if a.split("=")[0] in SET_HERE]
    if given:
        raise LaunchError(f"{given[0].split('=')[0]} is set from torchrun's environment; drop it")
    options = ["--distributed-init-method", "env://", "--distributed-world-size", env["WORLD_SIZE"],
               "--distributed-rank", env["RANK"], "--device-id", env["LOCAL_RANK"], "--distributed-no-spawn"]
    if int(env["WORLD_SIZE"]) > 1 and "--load-checkpoint-on-all-dp-ranks" not in argv:
        # otherwise rank 0 reads a checkpoint (resume, --finetune-from-model) and
        # fairseq broadcasts it pickled; the other ranks' torch.load (weights_only
        # by default since torch 2.6) refuses its omegaconf config. The plugin's
        # checkpoints hold no LLM, so each rank reading its own copy is cheap.
        options.append("--load-checkpoint-on-all-dp-ranks")
    return options


def check_launch(args):
    """Refuse what fairseq would start and then fail on, or silently do otherwise."""
    if args.task == "wav2prompt":
        check_fairseq_precision(args)  # --bf16 would take fairseq's TPU path before the task exists
    elif args.bf16 or args.memory_efficient_bf16:
        # fairseq's own tasks (the cascade's speech_to_text) may cast their model, but not into TPU mode
        raise LaunchError("--bf16 puts fairseq in TPU mode (fairseq/options.py sets tpu=True): "
                          "on GPUs use --fp16 or --amp")
    if args.distributed_world_size > 1 and args.cpu:
        if args.ddp_backend in ("pytorch_ddp", "c10d"):
            raise LaunchError(f"--ddp-backend {args.ddp_backend} passes device_ids to DDP, which torch "
                              "refuses for CPU modules: with --cpu use --ddp-backend legacy_ddp")
        if args.distributed_backend != "gloo":
            raise LaunchError(f"--distributed-backend {args.distributed_backend} does not run on CPU: "
                              "with --cpu use --distributed-backend gloo")


def main(argv=None):
    from fairseq import options
    from fairseq_cli.train import cli_main

    prepare_process()
    fairseq_train_logging()
    argv = with_user_dir(list(sys.argv[1:] if argv is None else argv))
    argv += rank_options(argv, os.environ)
    check_launch(options.parse_args_and_arch(options.get_training_parser(), input_args=argv))
    sys.argv = ["wav2prompt-train"] + argv
    cli_main()


if __name__ == "__main__":
    main()
