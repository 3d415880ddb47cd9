"""The runtime's encoder session on a bare exported graph, for the parity and fidelity tests.

Export opens every variant of a staged bundle through :class:`contrique_infer.session.Encoder`;
these tests hold graphs without a bundle around them, so :func:`open_graph` gives the session a
manifest of the graph's own feature size.
"""

from __future__ import annotations

from pathlib import Path

import onnx

from contrique_infer.manifest import FeatureSpec, InputContract, Manifest, Provenance, VariantInfo
from contrique_infer.session import CPU, Encoder


def open_graph(path: Path) -> Encoder:
    """An Encoder on the CPU for the graph at ``path`` (its feature size read from the graph)."""
    (output,) = onnx.load(str(path), load_external_data=False).graph.output
    dim = output.type.tensor_type.shape.dim[1].dim_value
    manifest = Manifest(
        name=path.stem,
        architecture="test",
        input=InputContract(),
        feature=FeatureSpec(dim=2 * dim, per_scale_dim=dim),
        variants={"fp32": VariantInfo("fp32", path.name)},
        heads=(),
        default_head=None,
        files={},
        provenance=Provenance("none", "0" * 64, "none", "none"),
    )
    return Encoder(path, manifest, providers=[CPU])
