"""The training loop: (re)start a run from its work directory, train until the budget is spent, save its state.

A run's time budget and step limit span resumed runs; the state is saved at intervals and at the end, so an
interrupted run loses at most ``checkpoint_minutes``. Resuming restores the weights, the optimizer moments when
stored (else the learning rate re-warms), the random generators and the position in the data order, so that a
resumed run gives the same weights as an uninterrupted one.

One optimizer step takes ``accumulate`` consecutive batches of the data order (fewer at the end of an epoch:
a step never spans two epochs); steps, the learning-rate schedule, logging and the step limit count optimizer
steps, and the state is only ever saved between them, so a run never resumes inside one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from mt._corpora import ParallelPair
from mt._errors import InvalidRequest
from mt.training.config import PRECISIONS, RESUME_KEYS, TrainingConfig, require_torch
from mt.training.data import PreparedData, batches, check_corpus_weights, corpus_rows, epoch_rows, prepare, sample_dev
from mt.training.evaluation import evaluate_weights
from mt.training.export import finish, manifest_base
from mt.training.progress import Progress
from mt.training.recipes import Recipe, make_recipe
from mt.training.state import (
    SNAPSHOT_GLOB,
    STATE_FILE,
    RunState,
    cpu_weights,
    load_state,
    new_run_record,
    save_state,
    snapshot_name,
)
from mt.training.storage import is_prepared

log = logging.getLogger("kakehashi.train")

# After a resume without optimizer moments, fresh Adam moments must not take full-size steps at once: the
# learning rate re-warms over this many batches' worth of optimizer steps (Adam's second moment, beta2 0.98, has
# a window of about 50 steps; accumulated steps average more batches, so fewer of them are needed).
REWARM_BATCHES = 200


def rewarm_steps(accumulate: int) -> int:
    """Optimizer steps of the re-warm-up after a resume without moments: ``REWARM_BATCHES`` batches' worth."""
    return max(1, math.ceil(REWARM_BATCHES / max(accumulate, 1)))


def lr_factor(
    step: int,
    warmup: int,
    rewarm_from: int | None = None,
    rewarm: int = REWARM_BATCHES,
    cooldown_to: int | None = None,
    cooldown: int = 0,
) -> float:
    """Linear warm-up, then inverse-square-root decay; after a resume without optimizer moments, a short
    linear re-warm-up over ``rewarm`` steps; in a cool-down branch, a linear fall to zero over the ``cooldown``
    steps that end at step ``cooldown_to``."""
    step = max(step, 1)
    factor = min(step / warmup, math.sqrt(warmup / step))
    if rewarm_from is not None:
        factor *= min(1.0, (step - rewarm_from) / rewarm)
    if cooldown_to is not None and cooldown > 0:
        factor *= min(1.0, max(0.0, (cooldown_to - step + 1) / cooldown))
    return factor


def accumulate_gradients(
    recipe: Recipe, model: Any, data: dict[str, Any], group: list[list[int]], stage: int, autocast: Any
) -> tuple[Any, int]:
    """Forward and backward the batches ``group`` of one optimizer step, adding to the parameters' gradients.

    Each batch's loss is a mean over its loss tokens; weighted by its share of the group's loss tokens, the
    gradients add up to those of one batch holding all the group's examples (up to floating-point noise), as if
    the machine could fit the larger batch. Returns (that batch's loss, detached; tokens processed).
    """
    shares = [recipe.loss_tokens(data, rows, stage) for rows in group]
    total = max(sum(shares), 1)
    step_loss, tokens = None, 0
    for rows, share in zip(group, shares):
        with autocast():
            loss, count = recipe.loss(model, data, rows, stage)
        if len(group) > 1:
            loss = loss * (share / total)
        loss.backward()
        step_loss = loss.detach() if step_loss is None else step_loss + loss.detach()
        tokens += count
    return step_loss, tokens


def check_same_model(config: TrainingConfig) -> None:
    """Refuse to continue a work directory that holds a run of another model or other data."""
    saved_config = config.work_dir / "config.json"
    if not saved_config.exists():
        return
    previous = json.loads(saved_config.read_text())
    previous.setdefault("arch", "marian")
    for key in RESUME_KEYS:
        if previous.get(key) != config.to_json().get(key):
            raise InvalidRequest(
                f"{config.work_dir} holds a run with {key}={previous.get(key)!r}, not {config.to_json().get(key)!r}; "
                "use another --work-dir or the same settings to resume"
            )
    added = list(previous.get("added_train") or [])
    if added != config.added_train[: len(added)]:
        raise InvalidRequest(
            f"{config.work_dir} holds a run that has added the corpora {added}; a resumed run keeps them, in that "
            f"order, and may add more after them (got {config.added_train})"
        )


def stage_budget(config: TrainingConfig, recipe: Recipe) -> tuple[float | None, int | None]:
    """When stage 1 (language modelling) ends: (seconds, steps); (0, 0) for single-stage recipes."""
    if not recipe.pretrains:
        return 0.0, 0
    seconds = config.time_budget_minutes * 60 * config.pretrain_fraction if config.time_budget_minutes else None
    steps = int(config.max_steps * config.pretrain_fraction) if config.max_steps else None
    return seconds, steps


def _autocast(config: TrainingConfig) -> Any:
    torch = require_torch()
    if config.precision not in PRECISIONS:
        raise InvalidRequest(f"unknown precision {config.precision!r}; accepted: {', '.join(PRECISIONS)}")
    dtype = torch.bfloat16 if config.precision == "bfloat16" else None
    device_type = torch.device(config.device).type
    return lambda: torch.autocast(device_type=device_type, dtype=dtype or torch.float32, enabled=dtype is not None)


@contextlib.contextmanager
def stop_on_signals(request_stop: Callable[[], None]) -> Iterator[None]:
    """While training: SIGINT (Ctrl-C) and SIGTERM call ``request_stop``, so that the session ends cleanly after
    its step under way, keeping all its work; a second signal acts as it would have (stops at once). Only in
    the main thread, where Python delivers signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}

    def handler(number: int, frame: Any) -> None:
        log.warning(
            "%s: training stops after this step and saves its state (again to stop at once)",
            signal.Signals(number).name,
        )
        for restored, action in previous.items():
            signal.signal(restored, action)
        request_stop()

    for number in previous:
        signal.signal(number, handler)
    try:
        yield
    finally:
        for number, action in previous.items():
            signal.signal(number, action)


class _Session:
    """One session of a run: the model, the optimizer and the run state, trained until the budget is spent."""

    def __init__(
        self,
        config: TrainingConfig,
        recipe: Recipe,
        model: Any,
        optimizer: Any,
        run: RunState,
        prepared: PreparedData,
        dev_examples: list[ParallelPair],
        threads: int,
    ):
        self.config, self.recipe, self.model, self.optimizer, self.run = config, recipe, model, optimizer, run
        self.prepared, self.dev_examples, self.threads = prepared, dev_examples, threads
        self.corpus_rows = corpus_rows(config, recipe, prepared) if config.corpus_weights else {}
        self.work = config.work_dir
        self.manifest_base = manifest_base(config, prepared)
        self.stage1_seconds, self.stage1_steps = stage_budget(config, recipe)
        budget_s = config.time_budget_minutes * 60 if config.time_budget_minutes else None
        if config.session_minutes is not None:
            session_end = run.elapsed + config.session_minutes * 60
            budget_s = min(budget_s, session_end) if budget_s else session_end
        self.budget_s = budget_s
        self.start = time.monotonic() - run.elapsed
        self.stop_requested = False
        self.cpu_start = time.process_time()

    def save(self) -> None:
        if self.run.runs:
            # CPU time of the whole process (all its threads) in this session: what the relay's runs are compared
            # by, since wall-clock minutes on a shared machine say little about the compute spent.
            self.run.runs[-1]["cpu_minutes"] = round((time.process_time() - self.cpu_start) / 60, 5)
        save_state(self.work / STATE_FILE, self.model, self.optimizer, self.run)

    def out_of_time(self) -> bool:
        elapsed = time.monotonic() - self.start
        max_steps = self.config.max_steps
        return bool(
            self.stop_requested
            or (self.budget_s and elapsed >= self.budget_s)
            or (max_steps and self.run.step >= max_steps)
        )

    def request_stop(self) -> None:
        """End the session after the step under way, as if its time were up (saved, packed, exported as usual)."""
        self.stop_requested = True

    def stage_over(self) -> bool:
        if self.run.stage != 1:
            return False
        elapsed = time.monotonic() - self.start
        return bool(
            (self.stage1_seconds and elapsed >= self.stage1_seconds)
            or (self.stage1_steps and self.run.step >= self.stage1_steps)
        )

    def snapshot(self) -> None:
        """Keep the current weights among the last ``average_last`` snapshots (averaged at export)."""
        torch = require_torch()
        path = self.work / snapshot_name(self.run.step)
        torch.save(cpu_weights(self.model), path)
        self.run.checkpoints = (self.run.checkpoints + [path.name])[-self.config.average_last :]
        for old in self.work.glob(SNAPSHOT_GLOB):
            if old.name not in self.run.checkpoints:
                old.unlink()

    def evaluate(self) -> None:
        """Score on the dev set, record the scores, snapshot, keep the best weights."""
        torch, run = require_torch(), self.run
        self.model.eval()
        scores = evaluate_weights(
            self.recipe, self.model, self.work, self.manifest_base, self.dev_examples, self.threads
        )
        self.model.train()
        scores.update(step=run.step, minutes=round(run.elapsed / 60, 2))
        run.history.append(scores)
        sys.stderr.write(f"\n[eval] step {run.step}: {json.dumps(scores, ensure_ascii=False)}\n")
        self.snapshot()
        if run.best is None or scores["mean_chrf"] > run.best["mean_chrf"]:
            run.best = scores
            torch.save(cpu_weights(self.model), self.work / "best.pt")

    def train(self) -> None:
        torch, config, run, tokens = require_torch(), self.config, self.run, self.prepared.tokens
        autocast = _autocast(config)
        progress = Progress(self.budget_s, config.max_steps)
        last_eval = last_ckpt = time.monotonic()
        tokens_seen, window_start = 0, time.monotonic()
        self.model.train()
        while not self.out_of_time():
            if self.stage_over():
                log.info("stage 1 (language modelling) done at step %d; fine-tuning on translation", run.step)
                run.stage, run.epoch, run.batch = 2, 0, 0
            lengths = self.recipe.lengths(tokens, run.stage)
            # Corpus weights pick the rows of translation epochs (stage 2); language modelling takes them all.
            rows = (
                epoch_rows(self.corpus_rows, config.corpus_weights, config.seed, run.epoch) if run.stage == 2 else None
            )
            order = batches(lengths, config.batch_tokens, random.Random(config.seed * 1000 + run.epoch), rows)
            while run.batch < len(order) and not self.out_of_time() and not self.stage_over():
                step_batches = order[run.batch : run.batch + config.accumulate]
                self.optimizer.zero_grad(set_to_none=True)
                loss, count = accumulate_gradients(self.recipe, self.model, tokens, step_batches, run.stage, autocast)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.clip_norm)
                run.step += 1
                lr = config.learning_rate * lr_factor(
                    run.step,
                    config.warmup_steps,
                    run.rewarm_from,
                    rewarm_steps(config.accumulate),
                    cooldown_to=config.max_steps,
                    cooldown=config.cooldown_steps or 0,
                )
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                self.optimizer.step()
                self.recipe.after_step(self.model)
                run.batch += len(step_batches)
                tokens_seen += count
                now = time.monotonic()
                run.elapsed = now - self.start
                tokens_per_s = tokens_seen / max(now - window_start, 1e-6)
                if run.step % config.log_every == 0:
                    run.losses.append(
                        {
                            "step": run.step,
                            "loss": round(loss.item(), 4),
                            "stage": run.stage,
                            "minutes": round(run.elapsed / 60, 2),
                            "tokens_per_s": round(tokens_per_s),
                        }
                    )
                progress.show(run.step, run.elapsed, loss, tokens_per_s, lr)
                evaluating = config.eval_minutes > 0
                if evaluating and run.stage == 2 and now - last_eval >= config.eval_minutes * 60:
                    self.evaluate()
                    last_eval = time.monotonic()
                    tokens_seen, window_start = 0, time.monotonic()
                    self.save()
                    last_ckpt = time.monotonic()
                elif now - last_ckpt >= config.checkpoint_minutes * 60:
                    if not evaluating and run.stage == 2:
                        self.snapshot()  # without dev evaluation, the snapshots to average are taken at checkpoints
                    self.save()
                    last_ckpt = time.monotonic()
            run.epoch_fraction = run.epoch + run.batch / max(1, len(order))
            if run.batch >= len(order):
                run.epoch += 1
                run.batch = 0
        if run.runs[-1]["from_step"] == run.step:
            run.runs.pop()  # nothing trained in this session (``--minutes 0``: export only)
        self.save()
        sys.stderr.write("\n")


def train(config: TrainingConfig, export: bool = True) -> dict[str, Any]:
    """Run (or resume) training in ``config.work_dir``.

    Args:
        config: the run's settings.
        export: pick the best weights, export and convert the model to ``config.output``; else stop after
            training with the state saved in the work directory.

    Returns:
        A summary of the run: steps, epochs, minutes, and with ``export`` the dev scores and chosen weights.

    Raises:
        InvalidRequest: the settings are invalid or the work directory holds a run of another model.
        MissingDependency: torch (the ``train`` extra) is not installed.
    """
    torch = require_torch()
    recipe = make_recipe(config)
    work = config.work_dir
    work.mkdir(parents=True, exist_ok=True)
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    threads = torch.get_num_threads()
    device = torch.device(config.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    _autocast(config)  # an unknown precision fails before the data is prepared
    if config.accumulate < 1:
        raise InvalidRequest(f"accumulate must be 1 or more batches per optimizer step, not {config.accumulate}")
    if config.cooldown_steps is not None and (config.cooldown_steps < 1 or not config.max_steps):
        raise InvalidRequest(
            f"a cool-down of {config.cooldown_steps} steps needs --max-steps (the step it ends at) and 1 or more "
            "steps, e.g. --max-steps 9000 --cooldown-steps 150"
        )

    state_path = work / STATE_FILE
    resumed = state_path.exists()
    if resumed or is_prepared(work):
        check_same_model(config)
    (work / "config.json").write_text(json.dumps(config.to_json(), indent=2, ensure_ascii=False))

    prepared = prepare(config, recipe)
    check_corpus_weights(config.corpus_weights, prepared.corpora)
    dev_examples = sample_dev(prepared.dev_pairs, config)
    model = recipe.new_model()
    stage1_seconds, stage1_steps = stage_budget(config, recipe)
    run = RunState(stage=1 if (stage1_seconds or stage1_steps) else 2)
    saved = load_state(state_path) if resumed else None
    if saved is not None:
        model.load_state_dict(saved.weights)
        run = saved.run
        random.setstate(saved.python_rng)
        torch.set_rng_state(saved.torch_rng)
        log.info("resumed at step %d (%.1f minutes trained)", run.step, run.elapsed / 60)
    model.to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=config.learning_rate,
        betas=(0.9, 0.98),
        eps=1e-9,
        weight_decay=0.0,
        fused=device.type == "cuda",
    )
    if saved is not None and saved.has_moments:
        optimizer.load_state_dict(saved.optimizer)
        if saved.moments == "factored":
            log.info("second moments rebuilt from the checkpoint's factors, first moments from zero: no re-warm-up")
    elif saved is not None:
        run.rewarm_from = run.step
        log.info(
            "no optimizer moments in the checkpoint: re-warming the learning rate over %d steps",
            rewarm_steps(config.accumulate),
        )
    # The seed and the position in the data order let mt.training.order replay each session's batches and check
    # that its replay reaches the position where the session began.
    run.runs.append(
        {**new_run_record(config, run), "seed": config.seed, "from_epoch": run.epoch, "from_batch": run.batch}
        | ({"moments": saved.moments} if saved is not None else {})
    )

    session = _Session(config, recipe, model, optimizer, run, prepared, dev_examples, threads)
    with stop_on_signals(session.request_stop):
        session.train()
    model.to("cpu")
    if not export:
        return {"steps": run.step, "minutes": round(run.elapsed / 60, 1), "work_dir": str(work)}
    return finish(config, recipe, model, run, prepared, dev_examples, threads)
