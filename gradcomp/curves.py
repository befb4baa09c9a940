"""The learning curve of a training run: train loss and dev F1 per epoch (matplotlib)."""

from __future__ import annotations

from .errors import GradcompError


def plot_learning_curve(run, path) -> None:
    """A PNG (or any format matplotlib writes) of ``run`` (a ``train.Training``)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise GradcompError("--plot needs matplotlib: pip install 'gradcomp[plot]'") from None
    epochs = [r.epoch for r in run.epochs]
    figure, loss_axis = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    loss_axis.plot(epochs, [r.loss for r in run.epochs], "o-", color="tab:blue",
                   label="train loss")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("train loss (mean cross-entropy)", color="tab:blue")
    loss_axis.set_xticks(epochs)
    handles = loss_axis.get_lines()
    if any(r.dev for r in run.epochs):
        f1_axis = loss_axis.twinx()
        f1_axis.plot(epochs, [r.dev["f1"] for r in run.epochs], "s-", color="tab:orange",
                     label="dev entity F1")
        f1_axis.set_ylabel("dev entity F1", color="tab:orange")
        f1_axis.set_ylim(0, 1)
        if run.kept is not None:
            f1_axis.axvline(run.kept.epoch, color="gray", linestyle=":", linewidth=1.2,
                            label=f"kept: epoch {run.kept.epoch} (dev F1 "
                                  f"{run.kept.dev['f1']:.3f})")
        handles = handles + f1_axis.get_lines()
    figure.legend(handles, [h.get_label() for h in handles], loc="lower center",
                  ncol=len(handles), fontsize=8, frameon=False)
    loss_axis.set_title("window tagger: learning curve")
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    figure.savefig(path)
    plt.close(figure)
