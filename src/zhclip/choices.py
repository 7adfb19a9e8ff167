"""Names of precisions, runtimes and training autocast modes (no torch import: the CLI builds its flags at once)."""

PRECISIONS = ("fp32", "bf16", "fp16", "int8")
PRECISION_CHOICES = (*PRECISIONS, "auto")
RUNTIME_CHOICES = ("auto", "torch", "onnxruntime", "openvino")
AMP_MODES = ("fp32", "bf16", "amp")  # autocast modes of a training step (the weights stay fp32)
