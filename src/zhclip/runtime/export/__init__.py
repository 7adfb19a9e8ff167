"""`zhclip export executorch|mnn|coreml`: the towers of a model as files a phone or an edge board runs, each
directory with a `manifest.json` an app follows without zhclip (inputs, preprocessing, tokenizer, output) and the
cosine to fp32 measured when it was written.

    export_mobile("executorch", "demo_model.pt", "out/", precision="int8")
"""

from .base import TARGET_NAMES
from .mobile import ExportOptions, export_mobile

__all__ = ["TARGET_NAMES", "ExportOptions", "export_mobile"]
