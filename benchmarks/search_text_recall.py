"""Recall@20 of the approximate index for *text* queries of a trained model (the demo model), whose text
embeddings sit apart from its image embeddings (the modality gap), before and after tuning `nprobe` on text.

The library is N rendered scenes of the offline benchmark (`zhclip.data.synth`, the generator behind
`zhclip data synth`), the queries are their distinct captions; both encoded by `src/zhclip/assets/demo_model.pt`
on the CPU. Embeddings are cached in OUT (rerunning costs only the index builds).

    python benchmarks/search_text_recall.py [--images 20000] [--queries 400] [--out experiments/search_text_recall]

Results: printed, and OUT/search_text_recall.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from zhclip.runtime.machine import describe_machine
from zhclip.search.vector_index import TARGET_RECALL, VectorIndex, recall, tuning_queries

DEMO_MODEL = Path(__file__).resolve().parents[1] / "src" / "zhclip" / "assets" / "demo_model.pt"
K = 20
BATCH = 256


def demo_embeddings(images: int, out: Path, seed: int = 0, max_texts: int | None = None) -> dict[str, np.ndarray]:
    """Image vectors of `images` rendered scenes and the vectors of their distinct captions (the first
    `max_texts` when given), cached in `out`."""
    cache = out / f"demo-embeddings-{images}-seed{seed}{f'-texts{max_texts}' if max_texts else ''}.npz"
    if cache.is_file():
        return dict(np.load(cache))
    import zhclip
    from zhclip.data.synth.captions import describe
    from zhclip.data.synth.generate import SPLIT_CODES, SynthOptions, split_scenes
    from zhclip.data.synth.render import render_scene

    model = zhclip.load(DEMO_MODEL, device="cpu")
    options = SynthOptions()
    size = (options.image_size, options.image_size)
    vectors, captions = [], {}
    batch: list = []
    for index, (scene, _) in enumerate(split_scenes(seed, "test", images, options)):
        batch.append(render_scene(scene, size, noise=options.noise))
        rng = np.random.default_rng([seed, SPLIT_CODES["test"], index, 1])
        captions.update(dict.fromkeys(c.text for c in describe(scene, rng, options.captions_per_image)))
        if len(batch) == BATCH or index == images - 1:
            vectors.append(model.encode_images(batch))
            batch = []
            print(f"encoded {index + 1}/{images} images", flush=True)
    texts = list(captions)[:max_texts]
    text_vectors = np.concatenate([model.encode_texts(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)])
    result = {
        "images": np.concatenate(vectors).astype(np.float32),
        "texts": np.array(texts),
        "text_vectors": text_vectors,
    }
    out.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, **result)
    tmp.replace(cache)
    return result


def text_recall_table(data: dict[str, np.ndarray], queries: int, samples: int = 32, seed: int = 0) -> str:
    """nprobe and recall@20 of text queries for each way of tuning, on one index of the image vectors."""
    images = data["images"].astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(data["text_vectors"]))
    tuning, held_out = data["text_vectors"][order[:samples]], data["text_vectors"][order[samples : samples + queries]]
    started = time.perf_counter()
    index = VectorIndex(np.arange(len(images)), np.full(len(images), np.nan, np.float32), images, approx_threshold=1)
    build = time.perf_counter() - started
    lists, image_like = index.lists, tuning_queries(index, None)[0]
    truth = {
        name: [set(index.search(q, K, exact=True).rows.tolist()) for q in qs]
        for name, qs in (("text", held_out), ("image", image_like))
    }
    curve = {}
    for nprobe in (2**i for i in range(int(np.log2(lists.nlist)) + 1)):
        lists.nprobe = nprobe
        curve[nprobe] = recall(index, held_out, truth["text"], K)
    tunings = {
        "before: noisy copies of rows only": lambda: lists.tune_on(index, [image_like], TARGET_RECALL),
        "after, no text samples (rows moved off the image mean, random directions)": lambda: lists.tune(
            index, TARGET_RECALL
        ),
        f"after, {samples} real text queries as samples": lambda: lists.tune(index, TARGET_RECALL, tuning),
    }
    rows = []
    for name, tune in tunings.items():
        tune()
        times = []
        for q in held_out:
            start = time.perf_counter()
            index.search(q, K)
            times.append(time.perf_counter() - start)
        text = recall(index, held_out, truth["text"], K)
        image = recall(index, image_like, truth["image"], K)
        rows.append(f"| {name} | {lists.nprobe} | {text:.3f} | {image:.3f} | {1000 * np.median(times):.2f} |")
    return "\n".join(
        [
            f"{len(images):,} image vectors x {images.shape[1]} (demo model), IVF {lists.nlist} lists "
            f"(built in {build:.1f} s), target recall {TARGET_RECALL}; {len(held_out)} held-out caption queries "
            f"(not among the {samples} samples); recall@{K} against exact search",
            "",
            "| tuning | nprobe | recall@20, text queries | recall@20, noisy rows | text query p50 ms |",
            "|---|---|---|---|---|",
            *rows,
            "",
            "text-query recall@20 by nprobe: " + ", ".join(f"{p}: {r:.3f}" for p, r in curve.items()),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--out", type=Path, default=Path("experiments/search_text_recall"))
    args = parser.parse_args()
    started = time.perf_counter()
    data = demo_embeddings(args.images, args.out)
    print(f"embeddings: {time.perf_counter() - started:.0f} s (0 when cached)")
    report = describe_machine() + " (timings measured under load unless stated)\n\n"
    report += text_recall_table(data, args.queries)
    print(report)
    (args.out / "search_text_recall.md").write_text(report + "\n")


if __name__ == "__main__":
    main()
