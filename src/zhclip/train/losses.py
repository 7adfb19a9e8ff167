"""Loss functions on (already gathered) embedding batches. Row i of every tensor is pair i.

All image/text embeddings here are L2-normalised; `scale` is a logit scale already exponentiated.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def clip_loss(
    image: torch.Tensor, text: torch.Tensor, scale: torch.Tensor | float, positives: torch.Tensor | None = None
) -> torch.Tensor:
    """Symmetric InfoNCE: mean of image->text and text->image cross-entropy, the diagonal being positive.

    `positives` (N, N) bool, image i x text j, names several positives per row; each row's target is then
    spread evenly over its positives (soft targets). The diagonal alone gives plain InfoNCE exactly."""
    logits = scale * image @ text.t()
    if positives is None:
        labels = torch.arange(logits.shape[0], device=logits.device)
        return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2
    targets = positives.to(logits.dtype)
    image_to_text = F.cross_entropy(logits, targets / targets.sum(1, keepdim=True))
    text_to_image = F.cross_entropy(logits.t(), targets.t() / targets.t().sum(1, keepdim=True))
    return (image_to_text + text_to_image) / 2


def shared_ids(image_ids: torch.Tensor, text_ids: torch.Tensor) -> torch.Tensor:
    """(N, N) bool: pairs i and j share the image id or the text id (so text j is true of image i)."""
    return (image_ids[:, None] == image_ids[None, :]) | (text_ids[:, None] == text_ids[None, :])


def similarity_kl(
    student_image: torch.Tensor,
    student_text: torch.Tensor,
    student_scale: torch.Tensor | float,
    teacher_image: torch.Tensor,
    teacher_text: torch.Tensor,
    teacher_scale: torch.Tensor | float,
    temperature: float,
) -> torch.Tensor:
    """KL(teacher || student) of the in-batch image->text and text->image similarity distributions.

    Logits are each model's scaled cosine similarities divided by `temperature`; the mean of both directions
    is multiplied by temperature**2 so its gradient scale does not depend on the temperature.
    """
    s_logits = student_scale * student_image @ student_text.t() / temperature
    t_logits = teacher_scale * teacher_image @ teacher_text.t() / temperature
    rows = _kl_rows(t_logits, s_logits)
    cols = _kl_rows(t_logits.t(), s_logits.t())
    return (rows + cols) / 2 * temperature**2


def _kl_rows(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    return F.kl_div(
        F.log_softmax(student_logits.float(), dim=1),
        F.log_softmax(teacher_logits.float(), dim=1),
        log_target=True,
        reduction="batchmean",
    )


def feature_alignment(student: torch.Tensor, teacher: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-pair distance between (projected) student and teacher embeddings, averaged over the batch.

    `cosine`: 1 - cos(student, teacher). `mse`: squared L2 distance (the student is not re-normalised, so a
    projection can also learn the scale).
    """
    if kind == "cosine":
        return (1 - F.cosine_similarity(student.float(), teacher.float(), dim=-1)).mean()
    if kind == "mse":
        return (student.float() - teacher.float()).pow(2).sum(dim=-1).mean()
    raise ValueError(f"unknown feature loss {kind!r}")


def interactive_contrastive(
    student_image: torch.Tensor,
    student_text: torch.Tensor,
    teacher_image: torch.Tensor,
    teacher_text: torch.Tensor,
    scale: torch.Tensor | float,
) -> torch.Tensor:
    """CLIP-KD's ICL: InfoNCE of student images vs teacher texts and of student texts vs teacher images."""
    labels = torch.arange(student_image.shape[0], device=student_image.device)
    image_to_text = F.cross_entropy(scale * student_image @ teacher_text.t(), labels)
    text_to_image = F.cross_entropy(scale * student_text @ teacher_image.t(), labels)
    return (image_to_text + text_to_image) / 2
