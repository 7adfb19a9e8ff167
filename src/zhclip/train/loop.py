"""The training loop shared by `train` and `distill`: it sums the objective's named losses, backpropagates,
steps, logs, validates and checkpoints. Everything specific to an objective lives in the objective."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from ..errors import CheckpointError, InputError, ZhclipError
from ..io import copy_file
from ..models.model import trim_padding
from ..models.tokenizer import Tokenizer
from . import distributed as D
from .checkpoint import Position, TrainingState, load_training, rng_state, save_training, set_rng_state
from .config import TrainConfig
from .curves import plot_curves
from .data import StepSampler, augment, check_shared_ids, check_size, loader, micro_batches, open_pairs
from .logs import RunFiles, peak_memory_mb, summarize
from .objectives import ContrastiveObjective
from .optim import build_optimizer, build_scheduler
from .step import Precision, compute_gradients, probe_loss

log = logging.getLogger("zhclip.train")


class TrainingDivergedError(ZhclipError):
    """The loss became NaN or infinite; training stopped without saving over the last good checkpoint."""


@dataclass
class Task:
    """What a run trains: the objective (its network is what gets saved), tokenizer and run metadata."""

    objective: ContrastiveObjective
    tokenizer: Tokenizer
    vocab: Path | None = None
    kind: str = "train"
    meta: dict = field(default_factory=dict)


def fit(task: Task, cfg: TrainConfig) -> dict:
    """Train `task` as `cfg` says; return the run summary (also written to OUT/summary.json on rank 0)."""
    env = D.setup(cfg.device)
    if not env.is_main:
        logging.getLogger("zhclip").setLevel(logging.WARNING)
    try:
        return Trainer(task, cfg, env).run()
    finally:
        D.teardown(env)


class Trainer:
    def __init__(self, task: Task, cfg: TrainConfig, env: D.DistEnv):
        self.task, self.cfg, self.env = task, cfg, env
        self.objective = task.objective.to(env.device)
        self.objective.prepare(env)
        self.network = self.objective.network
        self.files = RunFiles(cfg.out, env.is_main, cfg.report_to)
        self.global_batch = cfg.batch_size * cfg.accum_freq * env.world_size
        self.dataset = open_pairs(
            cfg.data, cfg.train_split, self.network.config.vision.image_size, task.tokenizer, cfg.skip_bad
        )
        check_size(self.dataset, self.global_batch, cfg.data, cfg.train_split)
        if cfg.multi_positive:
            check_shared_ids(self.dataset, cfg.data, cfg.train_split)
        self.steps_per_epoch = len(self.dataset) // self.global_batch
        self.total_steps = cfg.max_steps or cfg.epochs * self.steps_per_epoch
        self._prepare_network()
        self.params = [p for p in self.objective.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(self.objective, cfg.optim)
        self.scheduler = build_scheduler(self.optimizer, cfg.optim.warmup, self.total_steps)
        self.precision = Precision(cfg.precision, env.device)
        self.step, self.position = 0, Position()
        self.run_info = {
            "global_batch": self.global_batch,
            "elapsed_s": 0.0,
            "peak_memory_mb": 0.0,
            "samples": 0,
        }
        self.val_enabled = self._validation_enabled()
        self.resumed_from: Path | None = None

    # ------------------------------------------------------------------ setup

    def _prepare_network(self) -> None:
        if self.cfg.freeze_vision:
            self.network.visual.requires_grad_(False)
        self.network.set_grad_checkpointing(self.cfg.grad_checkpointing)
        self.network.set_patch_dropout(self.cfg.patch_dropout)
        if self.cfg.init_logit_scale is not None:  # a checkpoint's scale replaces it on --resume
            with torch.no_grad():
                self.network.logit_scale.fill_(math.log(self.cfg.init_logit_scale))

    def _validation_enabled(self) -> bool:
        if self.cfg.val_every == 0:
            return False
        if (Path(self.cfg.data) / f"{self.cfg.val_split}_texts.jsonl").is_file():
            return True
        if self.cfg.val_every:
            raise InputError(self.cfg.data, f"no {self.cfg.val_split!r} split to validate on", field="--val-every")
        log.info("no %r split in %s; validation off", self.cfg.val_split, self.cfg.data)
        return False

    def _resume_path(self) -> Path:
        path = Path(self.cfg.resume)
        latest = str(path) == "latest"
        if latest:
            path = self.files.checkpoints / "epoch_latest.pt"
        if not path.is_file():
            reason = "no checkpoint to resume from in this run directory" if latest else "no such checkpoint file"
            raise InputError(path, reason, field="--resume")
        return path

    def _restore(self) -> None:
        path = self._resume_path()
        state = load_training(path)
        if not state.config.same_shapes(self.network.config):
            raise CheckpointError(
                path,
                f"checkpoint is architecture {state.config.name!r} but this run builds "
                f"{self.network.config.name!r}; resume with the same --model/--arch",
            )
        if state.config.context_length != self.network.config.context_length:
            raise InputError(
                path,
                f"checkpoint reads {state.config.context_length} tokens per text, this run "
                f"{self.network.config.context_length}; resume with --context-length {state.config.context_length}",
                field="--context-length",
            )
        if state.run.get("global_batch") != self.global_batch:
            raise InputError(
                path,
                f"checkpoint was trained with a global batch of {state.run.get('global_batch')}, "
                f"this run has {self.global_batch}; use the same batch size x accum freq x "
                "processes to resume",
                field="--batch-size",
            )
        self.network.load_state_dict({k: v.to(self.env.device) for k, v in state.network.items()})
        self.objective.load_state_dict(state.objective, strict=False)
        self.optimizer.load_state_dict(state.optimizer)
        self.scheduler.load_state_dict(state.scheduler)
        if self.precision.scaler and state.scaler:
            self.precision.scaler.load_state_dict(state.scaler)
        if len(state.rng) != self.env.world_size:
            log.warning(
                "checkpoint has RNG states of %d processes, this run has %d: resume is not bit-exact",
                len(state.rng),
                self.env.world_size,
            )
        set_rng_state(state.rng[min(self.env.rank, len(state.rng) - 1)])
        self.step, self.position, self.run_info = state.step, state.position, state.run
        self.resumed_from = path

    def _seed(self) -> None:
        import random

        import numpy as np

        random.seed(self.cfg.seed)
        np.random.seed(self.cfg.seed)
        torch.manual_seed(self.cfg.seed)
        D.broadcast_parameters(self.objective, self.env)

    # ------------------------------------------------------------------ main loop

    def run(self) -> dict:
        if self.cfg.resume:
            self._restore()
        else:
            self._seed()
        self.files.open(self.step if self.cfg.resume else None)
        try:
            self._log_start()
            with logging_redirect_tqdm():
                self._train()
            return self._finish()
        finally:
            self.files.close()

    def _log_start(self) -> None:
        if self.resumed_from:
            log.info(
                "resumed from %s at step %d (epoch %d, step %d of it)",
                self.resumed_from,
                self.step,
                self.position.epoch + 1,
                self.position.step_in_epoch,
            )
        trainable = sum(p.numel() for p in self.params)
        log.info(
            "%s %s: %d pairs, %d steps (%d per epoch), global batch %d (%d x accum %d x %d processes), "
            "%s, %s, %d trainable parameters",
            self.task.kind,
            self.network.config.name,
            len(self.dataset),
            self.total_steps,
            self.steps_per_epoch,
            self.global_batch,
            self.cfg.batch_size,
            self.cfg.accum_freq,
            self.env.world_size,
            self.cfg.precision,
            self.env.device,
            trainable,
        )

    def _train(self) -> None:
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            desc=self.task.kind,
            unit="step",
            disable=not (self.env.is_main and self.cfg.progress),
            dynamic_ncols=True,
        )
        self.objective.train()
        self._mark = (time.perf_counter(), self.step)
        self._started = time.perf_counter()
        try:
            while self.step < self.total_steps:
                self._train_epoch(bar)
        finally:
            bar.close()
            self.run_info["elapsed_s"] += time.perf_counter() - self._started
            self._started = time.perf_counter()

    def _train_epoch(self, bar: tqdm) -> None:
        sampler = StepSampler(
            len(self.dataset),
            self.global_batch,
            self.env,
            self.cfg.seed,
            self.position.epoch,
            self.position.step_in_epoch,
        )
        for batch in loader(self.dataset, sampler, self.cfg.workers):
            losses = self._optimise(batch)
            self.step += 1
            self.position.step_in_epoch += 1
            epoch_done = self.position.step_in_epoch == self.steps_per_epoch
            if epoch_done:
                self.position = Position(self.position.epoch + 1, 0)
            bar.update(1)
            bar.set_postfix(loss=f"{losses['total'].item():.4f}")
            self._after_step(losses, epoch_done)
            if self.step >= self.total_steps:
                return

    def _optimise(self, batch: dict) -> dict[str, torch.Tensor]:
        batch = {k: v.to(self.env.device, non_blocking=True) for k, v in batch.items() if isinstance(v, torch.Tensor)}
        batch["ids"] = trim_padding(batch["ids"])  # exact: padded keys are masked anyway
        if self.cfg.augment:
            batch["pixels"] = augment(batch["pixels"])
        self._last_batch = batch
        self.optimizer.zero_grad(set_to_none=True)
        losses = compute_gradients(self.objective, batch, self.cfg.accum_freq, self.env, self.precision)
        if not D.all_finite(losses["total"], self.env):
            self._diverged(losses)
        D.average_gradients(self.params, self.env)
        scaler = self.precision.scaler
        if scaler:
            scaler.unscale_(self.optimizer)
        if self.cfg.optim.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.params, self.cfg.optim.grad_clip)
        if scaler:
            scaler.step(self.optimizer)
            scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        self.objective.clamp()
        return losses

    def _diverged(self, losses: dict[str, torch.Tensor]) -> None:
        latest = self.files.checkpoints / "epoch_latest.pt"
        kept = f"last good checkpoint kept: {latest}" if latest.is_file() else "no checkpoint was saved yet"
        terms = ", ".join(f"{k}={v.item():.4g}" for k, v in losses.items())
        raise TrainingDivergedError(
            f"loss is not finite at step {self.step + 1} ({terms}); stopped; {kept}. "
            "Try a lower --lr, --grad-clip 1.0 or --precision fp32"
        )

    # ------------------------------------------------------------------ logging, validation, saving

    def _after_step(self, losses: dict[str, torch.Tensor], epoch_done: bool) -> None:
        last = self.step >= self.total_steps
        if self.step % self.cfg.log_every == 0 or last:
            self._log_step(losses)
        every = self.cfg.val_every
        if self.val_enabled and (last or (every and self.step % every == 0) or (every is None and epoch_done)):
            self._validate()
        epochs = self.cfg.save_epochs
        if epoch_done and epochs and self.position.epoch % epochs == 0:
            self._save(f"epoch_{self.position.epoch}.pt")
        elif last or self.step % self.cfg.save_every == 0:
            self._save("epoch_latest.pt")

    def _log_step(self, losses: dict[str, torch.Tensor]) -> None:
        now = time.perf_counter()
        start, start_step = self._mark
        rate = (self.step - start_step) * self.global_batch / max(now - start, 1e-9)
        self._mark = (now, self.step)
        entry = {
            "kind": "train",
            "step": self.step,
            "epoch": self.position.epoch + self.position.step_in_epoch / self.steps_per_epoch,
            "loss": losses["total"].item(),
            "losses": {k: v.item() for k, v in losses.items() if k != "total"},
            "lr": self.optimizer.param_groups[0]["lr"],
            "logit_scale": self.objective.scale().item(),
            "samples_per_s": rate,
            "memory_mb": peak_memory_mb(self.env.device),
        }
        self.files.record(entry)
        log.info(
            "step %d/%d loss %.4f lr %.3g scale %.2f %.1f samples/s",
            self.step,
            self.total_steps,
            entry["loss"],
            entry["lr"],
            entry["logit_scale"],
            rate,
        )

    def _validate(self) -> None:
        """Every rank encodes its share of the validation split; rank 0 ranks, records and logs."""
        from ..evaluate.features import Shard
        from ..evaluate.retrieval import evaluate_retrieval
        from ..models.model import ClipModel

        model = ClipModel(self.network, self.task.tokenizer, self.env.device, "fp32")
        try:
            shard = Shard(self.env.rank, self.env.world_size)
            result = evaluate_retrieval(model, self.cfg.data, self.cfg.val_split, shard=shard)
        finally:
            self.objective.train()
        recalls = {d: result[d]["mean_recall"] for d in ("text_to_image", "image_to_text")}
        mean = sum(recalls.values()) / 2
        self.files.record({"kind": "val", "step": self.step, "mean_recall": mean, **recalls, "detail": result})
        log.info(
            "step %d validation (%s): mean recall %.2f (text->image %.2f, image->text %.2f)",
            self.step,
            self.cfg.val_split,
            mean,
            recalls["text_to_image"],
            recalls["image_to_text"],
        )

    def _save(self, name: str) -> None:
        """Save, if the weights still give a finite loss (an update can blow up after a finite loss)."""
        probe = probe_loss(
            self.objective, micro_batches(self._last_batch, self.cfg.accum_freq)[0], self.env, self.precision
        )
        if not D.all_finite(probe, self.env):
            self._diverged({"loss after the update": probe})
        rng = D.all_gather_object(rng_state(), self.env)
        if not self.env.is_main:
            return
        self._account_time()
        state = TrainingState(
            step=self.step,
            position=Position(self.position.epoch, self.position.step_in_epoch),
            network={k: v.detach().cpu() for k, v in self.network.state_dict().items()},
            config=self.network.config,
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            rng=rng,
            objective={
                k: v.detach().cpu() for k, v in self.objective.state_dict().items() if not k.startswith("network.")
            },
            scaler=self.precision.scaler.state_dict() if self.precision.scaler else None,
            run=dict(self.run_info),
        )
        path = save_training(self.files.checkpoints / name, state, name=self.cfg.out.name)
        if name != "epoch_latest.pt":
            copy_file(path, self.files.checkpoints / "epoch_latest.pt")
        log.info("saved %s (step %d)", path, self.step)

    def _account_time(self) -> None:
        now = time.perf_counter()
        self.run_info["elapsed_s"] += now - self._started
        self._started = now
        self.run_info["peak_memory_mb"] = max(self.run_info["peak_memory_mb"], peak_memory_mb(self.env.device))
        self.run_info["samples"] = self.step * self.global_batch

    def _finish(self) -> dict:
        if not self.env.is_main:
            return {}
        if self.cfg.export_hf:
            from ..models.formats import save_hf

            state = {k: v.detach().cpu() for k, v in self.network.state_dict().items()}
            save_hf(state, self.network.config, self.files.hf, self.task.vocab)
        entries = self.files.read_metrics()
        plot_curves(entries, self.files.curves, title=f"{self.task.kind} {self.cfg.out.name}")
        elapsed = self.run_info["elapsed_s"]
        summary = summarize(
            entries,
            {
                "run": self.cfg.out.name,
                "kind": self.task.kind,
                "arch": self.network.config.name,
                "parameters": sum(p.numel() for p in self.network.parameters()),
                "steps": self.step,
                "epochs": self.step / self.steps_per_epoch,
                "global_batch": self.global_batch,
                "world_size": self.env.world_size,
                "device": str(self.env.device),
                "precision": self.cfg.precision,
                "wall_time_s": round(elapsed, 2),
                "samples_per_s": round(self.step * self.global_batch / elapsed, 2) if elapsed else None,
                "peak_memory_mb": round(max(self.run_info["peak_memory_mb"], peak_memory_mb(self.env.device)), 1),
                "checkpoint": str(self.files.checkpoints / "epoch_latest.pt"),
                "hf_dir": str(self.files.hf) if self.cfg.export_hf else None,
                "config": self.cfg.to_dict(),
                **self.task.meta,
            },
        )
        self.files.write_summary(summary)
        log.info(
            "done: %d steps in %.1f s, final loss %.4f; summary %s",
            self.step,
            elapsed,
            summary["final_loss"] or math.nan,
            self.files.summary,
        )
        return summary
