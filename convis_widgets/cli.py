"""Headless entry point: the widgets' pictures written as PNG files, same compute, no Jupyter."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__


def demo(out: Path, image_index: int = 0) -> list[Path]:
    """Write the quickstart's pictures for the shipped digits CNN: activations and filters per layer."""
    import numpy as np

    from .compute.activations import activations
    from .compute.filters import conv_layers, filter_images, filter_report
    from .compute.probe import layers
    from .compute.stats import channel_statistics
    from .data import digits
    from .models import evaluate, pretrained_digits_cnn
    from .render import ActivationView, FilterView, new_figure, save_png

    model = pretrained_digits_cnn()
    test = digits("test")
    if not 0 <= image_index < len(test):
        raise SystemExit(f"--image must be in 0..{len(test) - 1}; got {image_index}")
    image = test.images[image_index:image_index + 1]
    spatial = [i.name for i in layers(model, tuple(image.shape[1:])) if i.spatial]
    acts = activations(model, image, layer=spatial)
    written: list[Path] = []
    lines = [f"convis-widgets {__version__} demo: pretrained digits CNN, test image {image_index} "
             f"(label {int(test.labels[image_index])})",
             f"test accuracy on the built-in digits: {evaluate(model, test):.4f}", ""]
    for name in spatial:
        stats = channel_statistics(model, test.images, layer=name)
        fig = new_figure((9.0, 5.5))
        ActivationView(fig).update(image[0].numpy(), acts[name][0].numpy(), layer=name,
                                   dead=stats.dead, channel=0)
        written.append(save_png(fig, out / f"activations_{name}.png"))
        lines.append(f"{name}: {stats.summary()} (over {stats.count} test images)")
    lines.append("")
    for name in conv_layers(model):
        report = filter_report(model, name)
        pictures = filter_images(model, name, mode="channels")
        fig = new_figure((9.0, 4.5))
        FilterView(fig).update(pictures[:, 0], report.smoothness, report.noisy, layer=name,
                               threshold=report.threshold,
                               input_channel=0 if pictures.shape[1] > 1 else None)
        written.append(save_png(fig, out / f"filters_{name}.png"))
        lines.append(f"{name}: {report.verdict}; noisy filters: "
                     f"{np.flatnonzero(report.noisy).tolist() or 'none'}")
    summary = out / "summary.txt"
    summary.write_text("\n".join(lines) + "\n")
    written.append(summary)
    return written


def attribution_maps(out: Path, image_index: int = 0, methods: Sequence[str] | None = None,
                     layer: str | None = None) -> list[Path]:
    """Write one PNG per attribution method (every one of ``compute.attribution.METHODS`` by
    default) of a built-in test digit, explained for its predicted class by the shipped digits CNN;
    ``layer`` (default: the last spatial block) for the methods that read one."""
    from .compute.attribution import METHODS, class_scores
    from .compute.probe import default_layer, run_forward
    from .data import digits
    from .models import pretrained_digits_cnn
    from .render import new_figure, save_png
    from .render.attribution import MapView

    model = pretrained_digits_cnn()
    test = digits("test")
    if not 0 <= image_index < len(test):
        raise SystemExit(f"--image must be in 0..{len(test) - 1}; got {image_index}")
    image = test.images[image_index:image_index + 1]
    target = int(class_scores(run_forward(model, image)).argmax(dim=1)[0])
    layer = layer if layer is not None else default_layer(model, tuple(image.shape[1:]))
    written = []
    for name in methods or list(METHODS):
        method = METHODS[name]
        heat = method(model, image, target, layer=layer, window=(6, 6), stride=(1, 1))
        fig = new_figure((5.0, 2.6))
        MapView(fig).update(image[0].numpy(), heat[0].detach().cpu().numpy(),
                            f"{method.title}, class {target}" + (f" ({layer})" if method.takes_layer else ""))
        written.append(save_png(fig, out / f"attribution_{name}.png"))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """`convis-widgets demo --out DIR`: write the quickstart pictures as PNG files;
    `convis-widgets attribution --out DIR`: the attribution maps of one test digit."""
    from .compute.attribution import METHODS

    parser = argparse.ArgumentParser(prog="convis-widgets", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="write the quickstart's pictures for the shipped model")
    p_demo.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    p_demo.add_argument("--image", type=int, default=0, help="index of the built-in test digit")
    p_attr = sub.add_parser("attribution", help="write attribution maps of a test digit (shipped model)",
                            description="methods: " + "; ".join(f"{m.name}: {m.description}"
                                                                for m in METHODS.values()))
    p_attr.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    p_attr.add_argument("--image", type=int, default=0, help="index of the built-in test digit")
    p_attr.add_argument("--method", action="append", choices=list(METHODS), dest="methods",
                        help="an attribution method (repeat for several; default: every method)")
    p_attr.add_argument("--layer", help="the layer of the methods that read one (Grad-CAM); "
                        "default: the last spatial block")
    args = parser.parse_args(argv)
    paths = (demo(args.out, args.image) if args.command == "demo"
             else attribution_maps(args.out, args.image, args.methods, args.layer))
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
