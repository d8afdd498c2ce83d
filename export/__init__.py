"""Build-time tools (torch): model definitions, checkpoint import, ONNX export, training."""
