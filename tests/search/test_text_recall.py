"""Recall@20 of the approximate index for real text queries of a trained model (the demo model) over its image
embeddings of rendered scenes: the modality gap must not push it below 0.95 (`benchmarks/search_text_recall.py`
measures the same at 20k images)."""

from __future__ import annotations

import numpy as np
import pytest
from benchmarks.search_text_recall import demo_embeddings

from zhclip.search.vector_index import TARGET_RECALL, VectorIndex, recall


@pytest.mark.slow
def test_demo_model_text_queries_reach_recall_target(tmp_path):
    data = demo_embeddings(3_000, tmp_path, max_texts=600)
    images, texts = data["images"].astype(np.float32), data["text_vectors"]
    order = np.random.default_rng(0).permutation(len(texts))
    samples, held_out = texts[order[:32]], texts[order[32:]]
    index = VectorIndex(np.arange(len(images)), np.full(len(images), np.nan), images, approx_threshold=1)
    truth = [set(index.search(q, 20, exact=True).rows.tolist()) for q in held_out]
    assert recall(index, held_out, truth, 20) >= 0.95  # tuned without text samples
    index.lists.tune(index, TARGET_RECALL, samples)
    assert recall(index, held_out, truth, 20) >= 0.95 and index.lists.nprobe < index.lists.nlist
