"""contrique_export: turn CONTRIQUE checkpoints into ONNX model bundles (needs the export extra)."""
