"""Run by ``torchrun --nproc_per_node 2`` in test_training: a short S1 run, then each rank dumps G2."""

import sys

import torch

from s2ld_core.data.datasets import load_hr_faces
from s2ld_core.train.config import profile_config
from s2ld_core.train.runner import DistContext, resolve_device, run_training
from s2ld_core.train.stage2 import Stage2


def main(npz: str, out: str) -> None:
    cfg = profile_config("quick", "stage2")
    cfg.data.hr_data = npz
    cfg.stage2.setting = "S1"
    cfg.optim.batch_size = 8
    cfg.optim.epochs = 2
    torch.set_num_threads(1)
    device = resolve_device("cpu")
    ctx = DistContext.from_env(device)
    assert ctx.world == 2, "run me under torchrun --nproc_per_node 2"
    stage = Stage2(cfg, load_hr_faces(cfg.data, progress=False), None, device, ctx)
    run_training(stage, cfg, out, ctx, device, progress=False)
    torch.save(stage.g2.state_dict(), f"{out}/rank{ctx.rank}.pt")
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
