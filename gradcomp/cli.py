"""The ``gradcomp`` command: wiring only; the work is done by the library.

    gradcomp demo                       compile, check and train on the bundled sample
    gradcomp train --train F --dev F    train a window tagger on CoNLL files
    gradcomp predict --model M --input F
    gradcomp evaluate --model M --input F    per-type report, confusion matrix, predictions
    gradcomp source [--loss ...]        print the generated kernel source
    gradcomp graph [--model ner]        draw a computation graph
    gradcomp bench [--quick]            the window-classifier benchmark
    gradcomp bench --compile            compile times, in fresh processes
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

import numpy as np

from .errors import GradcompError


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--window", type=int, default=2, help="words each side (default 2)")
    parser.add_argument("--hidden", type=int, default=100, help="hidden units (default 100)")
    parser.add_argument("--activation", default="tanh", choices=["tanh", "relu", "sigmoid"])


@contextlib.contextmanager
def _cluster(args):
    """A Dask client for ``--workers N`` or ``--scheduler ADDRESS``, or None; closed after."""
    if not args.workers and not args.scheduler:
        yield None
        return
    from .distributed import connect

    client = connect(args.workers, args.scheduler)
    try:
        yield client
    finally:
        client.close()
        if not args.scheduler:
            client.cluster.close()


def _cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int,
                        help="run on a local Dask cluster of N worker processes")
    parser.add_argument("--scheduler", help="run on an existing Dask cluster at this address")


def _decode_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--decode", default="repair", choices=["argmax", "repair", "viterbi"],
                        help="argmax per token; repair (default: an I-X that starts a chunk "
                             "becomes B-X); viterbi (best sequence of allowed BIO transitions)")


def _scheme_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scheme", default="iob2", choices=["iob2", "iob1"],
                        help="the tag scheme of the CoNLL files (iob1 is converted to iob2)")


def _print_epoch(result) -> None:
    dev = result.dev
    line = f"{result.epoch:>5}  {result.loss:>10.4f}  {result.seconds:>7.2f}s"
    if dev:
        line += f"  {dev['accuracy']:>8.4f}  {dev['precision']:>6.3f}  {dev['recall']:>6.3f}" \
                f"  {dev['f1']:>6.3f}"
    print(line, flush=True)


def _epoch_header(with_dev: bool) -> None:
    header = "epoch  train loss     time"
    if with_dev:
        header += "  accuracy    prec     rec      F1"
    print(header)


def _vectors(args, vocab):
    from .data import load_glove

    if args.glove_file:
        return load_glove(vocab, args.glove_file, extend=args.full_vocab)
    if args.glove:
        return load_glove(vocab, extend=args.full_vocab)
    return None, 0


# ---------------------------------------------------------------- commands


def cmd_demo(args) -> int:
    from .data import Vocabulary, glove_package_available, load_glove, read_conll, sample_path
    from .train import WindowTagger, train

    started = time.perf_counter()
    train_sents, dev_sents = read_conll(sample_path("train")), read_conll(sample_path("dev"))
    print(f"data: bundled CoNLL sample, {len(train_sents)} train / {len(dev_sents)} dev sentences")
    vocab = Vocabulary.from_sentences(train_sents)
    vectors, found = load_glove(vocab, extend=False) if glove_package_available() else (None, 0)
    print("vectors: " + (f"GloVe 6B 50d ({found} of {len(vocab)} words found)" if found
                         else "random (pip install 'gradcomp[glove]' for GloVe 6B 50d)"))
    tagger = WindowTagger.create(train_sents, vectors=vectors, vocab=vocab, seed=args.seed)
    fn = tagger.loss_fn
    print(f"model: window {tagger.spec.model.window}, dim {tagger.spec.model.dim}, hidden "
          f"{tagger.spec.model.hidden}, {len(tagger.spec.tags)} tags, softmax cross-entropy")

    windows, labels = tagger.encode(train_sents[:8])
    t0 = time.perf_counter()
    value, grads = fn(**tagger.params, windows=windows, labels=labels)
    print(f"compiled loss + gradients of {', '.join(grads)} in one kernel: first call "
          f"{time.perf_counter() - t0:.2f}s (includes the Numba compile or cache load)")
    print(f"generated source: {fn.source_path}  ({len(fn.source.splitlines())} lines; "
          "`gradcomp source` prints it)")

    as64 = {k: v.astype(np.float64) for k, v in tagger.params.items()}
    value64, compiled = fn(**as64, windows=windows, labels=labels)
    _, interpreted = fn.interpret(**as64, windows=windows, labels=labels)
    worst = max(_relative(compiled[k], interpreted[k]) for k in compiled)
    print(f"check: compiled vs NumPy-interpreted gradients, max relative difference {worst:.1e}")
    small = {k: (v[:60] if k == "L" else v) for k, v in as64.items()}
    fd = fn.check(**small, windows=np.minimum(windows[:4], 59), labels=labels[:4])
    print(f"check: compiled gradients vs central finite differences, max error {fd:.1e}")

    batch_windows, batch_labels = tagger.encode(train_sents)
    batch = {**tagger.params, "windows": batch_windows[:32], "labels": batch_labels[:32]}
    compiled_us = _median_us(lambda: fn(**batch))
    interpreted_us = _median_us(lambda: fn.interpret(**batch))
    print(f"speed: one training-sized call (B = 32, float32): compiled {compiled_us:,.0f} us, "
          f"NumPy-interpreted {interpreted_us:,.0f} us ({interpreted_us / compiled_us:.0f}x)")

    baseline = tagger.evaluate(dev_sents)
    print(f"\nbaseline before training: dev F1 {baseline['f1']:.3f} (all-O tagging scores 0.000)")
    _epoch_header(True)
    run = train(tagger, train_sents, dev_sents, epochs=args.epochs, seed=args.seed,
                progress=not args.no_progress, on_epoch=_print_epoch)
    print("\n" + run.kept.dev["report"])
    print(f"dev F1 {run.kept.dev['f1']:.3f} (epoch {run.kept.epoch} of {args.epochs}, kept); "
          f"demo took {time.perf_counter() - started:.1f}s")
    print("note: the bundled sample is made up and easy, so this F1 says nothing about real "
          "data;\n      train on real CoNLL files: gradcomp train --train FILE --dev FILE --glove")
    return 0


def _median_us(call, calls: int = 30) -> float:
    call()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e6


def _relative(a, b) -> float:
    from .testing import as_dense

    a, b = as_dense(a), as_dense(b)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def cmd_train(args) -> int:
    from .data import Vocabulary, read_conll
    from .train import WindowTagger, train

    train_sents = read_conll(args.train, args.scheme)
    if not train_sents:
        raise GradcompError(f"{args.train}: no sentences")
    dev_sents = read_conll(args.dev, args.scheme) if args.dev else []
    vocab = Vocabulary.from_sentences(train_sents)
    vectors, found = _vectors(args, vocab)
    if vectors is not None:
        print(f"vectors: {found} of {len(vocab)} words from GloVe")
    tagger = WindowTagger.create(
        train_sents, window=args.window, hidden=args.hidden, activation=args.activation,
        loss=args.loss, entity=args.entity, vectors=vectors, vocab=vocab, seed=args.seed,
    )
    print(f"{len(train_sents)} train sentences, vocabulary {len(vocab)}, tags {tagger.spec.tags}")
    gradients = None
    with _cluster(args) as client:
        if client is not None:
            from .distributed.training import DaskGradients

            gradients = DaskGradients(client)
            print(f"each step's gradient on {gradients.workers} Dask workers")
        _epoch_header(bool(dev_sents))
        run = train(tagger, train_sents, dev_sents, epochs=args.epochs,
                    batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
                    seed=args.seed, progress=not args.no_progress, on_epoch=_print_epoch,
                    patience=args.patience, lr_decay=args.lr_decay, gradients=gradients)
    if run.stopped_early:
        print(f"stopped: {args.patience} epochs without a better dev F1")
    tagger.save(args.out)
    kept = (f" (epoch {run.kept.epoch}: best dev F1 {run.kept.dev['f1']:.3f})" if run.kept
            else f" (epoch {run.epochs[-1].epoch})")
    print(f"parameters written to {args.out}{kept}")
    if args.plot:
        from .curves import plot_learning_curve

        plot_learning_curve(run, args.plot)
        print(f"learning curve written to {args.plot}")
    return 0


def cmd_predict(args) -> int:
    from .data import read_conll, read_text, write_conll
    from .train import WindowTagger

    tagger = WindowTagger.load(args.model)
    sentences = read_conll(args.input, args.scheme) if args.conll else read_text(args.input)
    with _cluster(args) as client:
        if client is None:
            predicted = tagger.predict(sentences, args.decode)
        else:
            from .distributed import predict

            predicted = predict(client, tagger, sentences, args.decode)
    if args.output:
        write_conll(args.output, sentences, predicted)
        print(f"tags written to {args.output}")
    else:
        for sentence, tags in zip(sentences, predicted):
            print(" ".join(f"{w}/{t}" for w, t in zip(sentence.tokens, tags)))
    if args.conll and sentences and sentences[0].tags is not None:
        print(tagger.evaluate(sentences, args.decode)["report"])
    return 0


def cmd_evaluate(args) -> int:
    from .data import read_conll, write_conll
    from .metrics import format_confusion
    from .train import WindowTagger

    tagger = WindowTagger.load(args.model)
    sentences = read_conll(args.input, args.scheme)
    if not sentences:
        raise GradcompError(f"{args.input}: no sentences")
    result = tagger.evaluate(sentences, args.decode)
    print(f"{len(sentences)} sentences, decode {args.decode}: token accuracy "
          f"{result['accuracy']:.4f}, entity precision {result['precision']:.3f}, recall "
          f"{result['recall']:.3f}, F1 {result['f1']:.3f}\n")
    print(result["report"])
    print("token-level confusion (rows: gold, columns: predicted)")
    print(format_confusion(*result["confusion"]))
    if args.predictions:
        write_conll(args.predictions, sentences, result["predicted"])
        print(f"\n`token gold pred` columns written to {args.predictions} (conlleval reads them)")
    return 0


def cmd_source(args) -> int:
    from .runtime.compiled import compile, compile_forward
    from .models import WindowConfig, build, scores

    cfg = WindowConfig(args.window, args.dim, args.hidden, args.classes, args.activation,
                       args.loss)
    if args.forward:
        print(compile_forward(scores(cfg), fuse=not args.no_fuse, jit=False).source)
    else:
        print(compile(build(cfg), fuse=not args.no_fuse, jit=False).source)
    return 0


def cmd_graph(args) -> int:
    from .models.examples import lecture_example, ner_example
    from .viz import draw

    expr, inputs = lecture_example() if args.model == "lecture" else ner_example()
    path, note = draw(expr, args.out or f"{args.model}-graph.svg", inputs,
                      grads=not args.no_grads, adjoint=args.adjoint, expand=args.expand)
    print(f"graph written to {path}" + (f"\n{note}" if note else ""))
    return 0


def cmd_bench(args) -> int:
    if args.compile:
        from .bench.compile_times import main as compile_main

        return compile_main(repeats=args.repeats, out_dir=args.out_dir)
    from .bench import main as bench_main

    return bench_main(quick=args.quick, out_dir=args.out_dir)


# ---------------------------------------------------------------- parser


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="gradcomp", description=__doc__.split("\n\n")[0])
    sub = top.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="compile, check and train on the bundled sample")
    demo.add_argument("--epochs", type=int, default=5)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.set_defaults(run=cmd_demo)

    tr = sub.add_parser("train", help="train a window tagger on CoNLL files")
    tr.add_argument("--train", required=True, help="CoNLL file (token ... tag per line)")
    tr.add_argument("--dev", help="CoNLL file scored after every epoch")
    tr.add_argument("--glove", action="store_true", help="GloVe 6B 50d from gradcomp[glove]")
    tr.add_argument("--glove-file", help="a GloVe text file instead")
    tr.add_argument("--full-vocab", action="store_true",
                    help="use every GloVe word as vocabulary (400,000 rows for 6B)")
    tr.add_argument("--epochs", type=int, default=5)
    tr.add_argument("--batch-size", type=int, default=32)
    tr.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    tr.add_argument("--lr", type=float, help="learning rate (adam 1e-3, sgd 0.1)")
    tr.add_argument("--loss", default="softmax", choices=["softmax", "logistic"])
    tr.add_argument("--entity", help="entity type for --loss logistic, e.g. LOC")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--out", default="tagger.npz", help="where to write the parameters")
    tr.add_argument("--no-progress", action="store_true")
    tr.add_argument("--patience", type=int, help="stop after N epochs without a better dev F1")
    tr.add_argument("--lr-decay", type=float,
                    help="multiply the learning rate by this after an epoch without a better F1")
    tr.add_argument("--plot", help="write the learning curve (train loss, dev F1) to this PNG")
    _scheme_option(tr)
    _cluster_options(tr)
    _model_options(tr)
    tr.set_defaults(run=cmd_train)

    pr = sub.add_parser("predict", help="tag a text file with a trained tagger")
    pr.add_argument("--model", required=True, help="a file written by gradcomp train")
    pr.add_argument("--input", required=True, help="text, one sentence per line")
    pr.add_argument("--conll", action="store_true", help="the input is a CoNLL file; score it")
    pr.add_argument("--output", help="write CoNLL here instead of printing")
    _decode_option(pr)
    _scheme_option(pr)
    _cluster_options(pr)
    pr.set_defaults(run=cmd_predict)

    ev = sub.add_parser("evaluate", help="score a trained tagger on a CoNLL file")
    ev.add_argument("--model", required=True, help="a file written by gradcomp train")
    ev.add_argument("--input", required=True, help="a CoNLL file with gold tags")
    ev.add_argument("--predictions", help="write `token gold pred` columns here")
    _decode_option(ev)
    _scheme_option(ev)
    ev.set_defaults(run=cmd_evaluate)

    so = sub.add_parser("source", help="print the generated source of the window loss")
    so.add_argument("--dim", type=int, default=50)
    so.add_argument("--classes", type=int, default=5)
    so.add_argument("--loss", default="softmax", choices=["softmax", "logistic", "max_margin"])
    so.add_argument("--forward", action="store_true", help="the forward scores kernel instead")
    so.add_argument("--no-fuse", action="store_true", help="one named line per node")
    _model_options(so)
    so.set_defaults(run=cmd_source)

    gr = sub.add_parser("graph", help="draw a computation graph with values and gradients")
    gr.add_argument("--model", default="lecture", choices=["lecture", "ner"])
    gr.add_argument("--out", default=None, help="output file (.svg, .png or .dot)")
    gr.add_argument("--no-grads", action="store_true", help="no gradient labels on edges")
    gr.add_argument("--adjoint", action="store_true", help="draw the backward graph too")
    gr.add_argument("--expand", action="store_true",
                    help="draw composites (cross-entropy, logsumexp, softmax) op by op")
    gr.set_defaults(run=cmd_graph)

    be = sub.add_parser("bench", help="benchmark compiled vs interpreted vs peers")
    be.add_argument("--quick", action="store_true", help="a subset, under a minute")
    be.add_argument("--out-dir", default="bench-results", help="JSON and PNG go here")
    be.add_argument("--compile", action="store_true",
                    help="time compiling instead: each loss in fresh processes, cold and warm")
    be.add_argument("--repeats", type=int, default=3, help="fresh processes per loss (--compile)")
    be.set_defaults(run=cmd_bench)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except GradcompError as error:
        print(f"gradcomp {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
