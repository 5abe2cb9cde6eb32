"""Stage train: fit the dense MLP and save it as a Keras model and as TensorFlow-free kernels.

The validation split is carved from the training set (seeded permutation) and is the only data
used to choose anything (the restored epoch); the test set is evaluated once, at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from prunelab.atomic import write_json
from prunelab.datasets import load_dataset
from prunelab.entry import prepare_tensorflow
from prunelab.params import ParamsError, load_params, parse_seed
from prunelab.sparsity import accuracy_and_loss
from prunelab.training import Trainer, split_validation, steps_per_epoch
from prunelab.weights import save_kernels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--seed", required=True, help="one of train.seeds")
    parser.add_argument("--data", type=Path, required=True, help="folder with the IDX files")
    parser.add_argument("--model", type=Path, required=True, help="output .keras file")
    parser.add_argument("--weights", type=Path, required=True, help="output .npz of kernels")
    parser.add_argument("--metrics", type=Path, required=True, help="output metrics JSON")
    parser.add_argument("--live-dir", type=Path, required=True, help="dvclive output folder")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        seed = parse_seed("--seed", args.seed, params["train"]["seeds"])
    except ParamsError as error:
        print(f"train: error: {error}", file=sys.stderr)
        return 1
    cfg, data_cfg = params["train"], params["data"]

    prepare_tensorflow()
    import keras
    import tensorflow as tf
    from dvclive import Live

    from prunelab.model import build_mlp, get_kernels, set_kernels

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()

    train_all, test = load_dataset(args.data, data_cfg["train_images"], data_cfg["test_images"])
    fit, val = split_validation(train_all, cfg["validation_split"], seed)
    steps = steps_per_epoch(len(fit.labels), cfg["batch_size"]) * cfg["epochs"]
    model = build_mlp(dropout=cfg["dropout"])
    trainer = Trainer(
        model,
        cfg["learning_rate"],
        steps if cfg["lr_schedule"] == "cosine" else None,
        cfg["weight_decay"],
        cfg["batch_size"],
    )
    print(
        f"train: {len(fit.labels)} training, {len(val.labels)} validation, "
        f"{len(test.labels)} test images; {cfg['epochs']} epochs, seed {seed}",
        flush=True,
    )
    live = Live(str(args.live_dir), dvcyaml=False, save_dvc_exp=False)
    best: dict[str, Any] = {"accuracy": -1.0}

    def log_epoch(epoch: int, loss: float, accuracy: float) -> None:
        kernels = get_kernels(model)
        val_accuracy, val_loss = accuracy_and_loss(kernels, val.images, val.labels)
        for name, value in [("train/loss", loss), ("train/accuracy", accuracy),
                            ("eval/loss", val_loss), ("eval/accuracy", val_accuracy)]:
            live.log_metric(name, value)
        live.next_step()
        # The restored epoch is the earliest with the best validation accuracy.
        if val_accuracy > best["accuracy"]:
            best.update(accuracy=val_accuracy, epoch=epoch, kernels=kernels)
        print(
            f"epoch {epoch + 1}/{cfg['epochs']}: loss {loss:.4f}, accuracy {accuracy:.4f}, "
            f"val_loss {val_loss:.4f}, val_accuracy {val_accuracy:.4f}, "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )

    started = time.perf_counter()
    trainer.train_epochs(fit, cfg["epochs"], seed, cfg["flip_augment"], on_epoch_end=log_epoch)
    train_seconds = time.perf_counter() - started
    live.end()
    test_accuracy, test_loss = accuracy_and_loss(best["kernels"], test.images, test.labels)

    save_kernels(best["kernels"], args.weights)
    set_kernels(model, best["kernels"])
    args.model.parent.mkdir(parents=True, exist_ok=True)
    staging = args.model.with_name(f".{args.model.stem}.partial.keras")
    model.save(staging)
    os.replace(staging, args.model)
    metrics = {
        "test_accuracy": round(test_accuracy, 6),
        "test_loss": round(test_loss, 6),
        "best_val_accuracy": round(best["accuracy"], 6),
        "best_epoch": best["epoch"] + 1,
        "seed": seed,
        "epochs_run": cfg["epochs"],
        "train_seconds": round(train_seconds, 2),
    }
    write_json(metrics, args.metrics)
    print(f"train: {metrics}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
