"""What the runtime checks in an ONNX file before onnxruntime reads it: that it is self-contained.

An ONNX tensor may keep its values in another file ("external data": a ``location`` relative to the
model file), which onnxruntime reads when it opens the model. The manifest verifies the bytes of
the files it lists; weights in a file it does not list would reach onnxruntime unverified. Bundles
therefore hold self-contained graphs (``contrique-export`` embeds the weights), and
:func:`external_locations` finds every tensor that points elsewhere, so that such a graph is refused
before onnxruntime sees it.

The file is read as protobuf wire format, without the ``onnx`` package (the runtime does not depend
on it): every tensor of the model is visited (initializers, sparse initializers, tensor attributes
of nodes, in subgraphs and functions too), while the tensors' data is skipped, not decoded.
"""

from __future__ import annotations

from collections.abc import Iterator

# Field numbers of onnx.proto (tests/test_onnxfile.py checks them against the onnx package).
_MODEL = {7: "graph", 20: "training", 25: "function"}
_TRAINING = {1: "graph", 2: "graph"}
_FUNCTION = {7: "node", 11: "attribute"}
_GRAPH = {1: "node", 5: "tensor", 15: "sparse"}
_NODE = {5: "attribute"}
_ATTRIBUTE = {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"}
_SPARSE = {1: "tensor", 2: "tensor"}
_SCHEMAS = {"model": _MODEL, "training": _TRAINING, "function": _FUNCTION, "graph": _GRAPH, "node": _NODE,
            "attribute": _ATTRIBUTE, "sparse": _SPARSE}
_TENSOR_NAME, _TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION = 8, 13, 14
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
_MAX_DEPTH = 64  # messages nested deeper than this (subgraphs of subgraphs...) are refused


class MalformedModelError(ValueError):
    """The bytes are not a well-formed ONNX protobuf message."""


def external_locations(data: bytes | memoryview) -> list[tuple[str, str]]:
    """Every tensor of an ONNX model whose values are stored outside the model's bytes.

    Args:
        data: The bytes of an ``.onnx`` file.

    Returns:
        ``(tensor name, location)`` of each such tensor (location ``""`` if none is given), in
        file order; empty for a self-contained model.

    Raises:
        MalformedModelError: The bytes are not a well-formed protobuf message.
    """
    found: list[tuple[str, str]] = []
    _visit(memoryview(data), "model", found, 0)
    return found


def _visit(data: memoryview, kind: str, found: list[tuple[str, str]], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise MalformedModelError(f"messages nested more than {_MAX_DEPTH} deep")
    if kind == "tensor":
        _tensor(data, found)
        return
    schema = _SCHEMAS[kind]
    for number, value in _fields(data):
        if number in schema and isinstance(value, memoryview):
            _visit(value, schema[number], found, depth + 1)


def _tensor(data: memoryview, found: list[tuple[str, str]]) -> None:
    name, location, external = "", "", False
    for number, value in _fields(data):
        if number == _TENSOR_NAME and isinstance(value, memoryview):
            name = bytes(value).decode("utf-8", "replace")
        elif number == _TENSOR_DATA_LOCATION and value == _EXTERNAL:
            external = True
        elif number == _TENSOR_EXTERNAL_DATA and isinstance(value, memoryview):
            external = True
            entry = {n: bytes(v) for n, v in _fields(value) if isinstance(v, memoryview)}
            if entry.get(_ENTRY_KEY) == b"location":
                location = entry.get(_ENTRY_VALUE, b"").decode("utf-8", "replace")
    if external:
        found.append((name, location))


def _fields(data: memoryview) -> Iterator[tuple[int, int | memoryview]]:
    """``(field number, value)`` of each field of a message: an int (varint, fixed 32/64-bit) or the
    bytes of a length-delimited field (a string, packed numbers or a message, not decoded here)."""
    position, end = 0, len(data)
    while position < end:
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise MalformedModelError(f"field number 0 at byte {position}")
        if wire == 0:
            value, position = _varint(data, position)
            yield number, value
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if position + size > end:
                raise MalformedModelError("a fixed-size field runs past the end")
            yield number, int.from_bytes(data[position : position + size], "little")
            position += size
        elif wire == 2:
            size, position = _varint(data, position)
            if position + size > end:
                raise MalformedModelError(f"a field of {size} bytes runs past the end at byte {position}")
            yield number, data[position : position + size]
            position += size
        else:
            raise MalformedModelError(f"wire type {wire} at byte {position} (not used by ONNX)")


def _varint(data: memoryview, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise MalformedModelError(f"a truncated or overlong number at byte {position}")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
