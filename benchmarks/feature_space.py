"""Feature space over 5,000 digits: t-SNE time, PCA time, nearest-neighbour query time.

The 5,000 built-in digits (train and test) through the shipped digits CNN, conv3's flattened maps
(1,152 numbers per image, pool="auto") and the FC layer relu4 (70); then
* `tsne()` of the 5,000 vectors (PCA to 50 first, openTSNE, 750 iterations): the time to its first
  picture (the first progress report, after 25 iterations; target <= 5 s on 2 cores) and to the end
  (target <= 20 s), against scikit-learn's Barnes-Hut TSNE on the same 50-D vectors with the same
  iterations, measured in the same run;
* `pca()` to 2-D (target <= 100 ms);
* `Neighbours` fit once, then the median of 50 single queries (target <= 100 ms).
Run: `python benchmarks/feature_space.py [--jobs 2]`.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from convis_widgets.analysis import Neighbours, features, pca, same_class_rate, tsne
from convis_widgets.data import digits
from convis_widgets.models import pretrained_digits_cnn


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.jobs)
    model = pretrained_digits_cnn()
    images = torch.cat([digits("train").images, digits("test").images])
    labels = np.concatenate([digits("train").labels.numpy(), digits("test").labels.numpy()])
    print(f"{len(images):,} digits, n_jobs={args.jobs}")
    for layer in ("conv3", "relu4"):
        vectors, t_feat = timed(lambda layer=layer: features(model, layer, images))
        print(f"{layer}: features {vectors.shape} in {t_feat:.2f} s; "
              f"5-NN same-class rate {same_class_rate(vectors, labels):.3f}")
        first: list[float] = []
        t0 = time.perf_counter()
        full, t_full = timed(lambda v=vectors, f=first, t=t0: tsne(
            v, n_jobs=args.jobs, progress=lambda *_: f.append(time.perf_counter() - t)))
        reduced = PCA(n_components=50, random_state=0).fit_transform(vectors).astype(np.float32)
        _, t_sklearn = timed(lambda x=reduced: TSNE(init="pca", learning_rate="auto", max_iter=750,
                                                    random_state=0, n_jobs=args.jobs).fit_transform(x))
        print(f"  t-SNE: first picture {first[0]:.1f} s (target <= 5 s), done {t_full:.1f} s "
              f"(target <= 20 s); scikit-learn {t_sklearn:.1f} s, ratio {t_full / t_sklearn:.2f}; "
              f"2-D 5-NN same-class rate {same_class_rate(full.points, labels):.3f}")
        pca(vectors)
        times = [timed(lambda v=vectors: pca(v))[1] for _ in range(5)]
        print(f"  PCA to 2-D: median {1e3 * statistics.median(times):.0f} ms (target <= 100 ms)")
        index, t_fit = timed(lambda v=vectors: Neighbours(v))
        queries = [timed(lambda q=q, i=index: i.query(q, k=8))[1] for q in range(0, 5000, 100)]
        median = 1e3 * statistics.median(queries)
        print(f"  neighbours: fit {1e3 * t_fit:.0f} ms, first query {1e3 * queries[0]:.1f} ms, median "
              f"{median:.1f} ms, max {1e3 * max(queries):.1f} ms (target <= 100 ms)")


if __name__ == "__main__":
    main()
