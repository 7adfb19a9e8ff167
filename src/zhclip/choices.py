"""The names of precisions and runtimes (no torch import: the CLI builds its flags from them instantly)."""

PRECISIONS = ("fp32", "bf16", "fp16", "int8")
PRECISION_CHOICES = (*PRECISIONS, "auto")
RUNTIME_CHOICES = ("auto", "torch", "onnxruntime", "openvino")
