"""contrique_infer.onnxfile: finding ONNX tensors stored outside the model file, without the onnx package."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from tiny_bundle import encoder_model

from contrique_infer import onnxfile
from contrique_infer.onnxfile import MalformedModelError, external_locations


def test_field_numbers_are_those_of_onnx_proto() -> None:
    """Every field of onnx.proto that can lead to a tensor is followed, as the message it is."""
    kinds = {"GraphProto": "graph", "NodeProto": "node", "TensorProto": "tensor", "AttributeProto": "attribute",
             "SparseTensorProto": "sparse", "FunctionProto": "function", "TrainingInfoProto": "training"}
    for message, schema in [
        (onnx.ModelProto, onnxfile._MODEL), (onnx.TrainingInfoProto, onnxfile._TRAINING),
        (onnx.FunctionProto, onnxfile._FUNCTION), (onnx.GraphProto, onnxfile._GRAPH), (onnx.NodeProto, onnxfile._NODE),
        (onnx.AttributeProto, onnxfile._ATTRIBUTE), (onnx.SparseTensorProto, onnxfile._SPARSE),
    ]:
        followed = {f.number: kinds[f.message_type.name] for f in message.DESCRIPTOR.fields
                    if f.message_type is not None and f.message_type.name in kinds}
        assert schema == followed, message.__name__
    tensor = onnx.TensorProto.DESCRIPTOR.fields_by_name
    assert (tensor["name"].number, tensor["external_data"].number, tensor["data_location"].number) == (
        onnxfile._TENSOR_NAME, onnxfile._TENSOR_EXTERNAL_DATA, onnxfile._TENSOR_DATA_LOCATION)
    entry = onnx.StringStringEntryProto.DESCRIPTOR.fields_by_name
    assert (entry["key"].number, entry["value"].number) == (onnxfile._ENTRY_KEY, onnxfile._ENTRY_VALUE)
    assert onnx.TensorProto.EXTERNAL == onnxfile._EXTERNAL


def _external(tensor: TensorProto, location: str = "w.bin") -> TensorProto:
    tensor.data_location = TensorProto.EXTERNAL
    tensor.ClearField("raw_data")
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    return tensor


def _model(graph: onnx.GraphProto, **kwargs) -> bytes:
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], **kwargs).SerializeToString()


def _weights(name: str = "W") -> TensorProto:
    return numpy_helper.from_array(np.ones((2, 2), "float32"), name)


def _graph(nodes=(), initializer=(), sparse=(), name: str = "g") -> onnx.GraphProto:
    return helper.make_graph(list(nodes), name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
                             [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])],
                             initializer=list(initializer), sparse_initializer=list(sparse))


def test_self_contained_models_have_none() -> None:
    assert external_locations(encoder_model().SerializeToString()) == []
    assert external_locations(encoder_model(log_brightness=True).SerializeToString()) == []


def test_external_tensors_are_found_wherever_they_are() -> None:
    add = helper.make_node("Add", ["x", "W"], ["y"])
    # an initializer
    assert external_locations(_model(_graph([add], [_external(_weights())]))) == [("W", "w.bin")]
    # a Constant node's tensor attribute
    constant = helper.make_node("Constant", [], ["W"], value=_external(_weights("c"), "c.bin"))
    assert external_locations(_model(_graph([constant, add]))) == [("c", "c.bin")]
    # a subgraph of an If node, two levels down
    inner = _graph([constant, helper.make_node("Identity", ["W"], ["y"])], name="inner")
    middle = _graph([helper.make_node("If", ["cond"], ["y"], then_branch=inner, else_branch=inner)], name="middle")
    outer = helper.make_node("If", ["cond"], ["y"], then_branch=middle, else_branch=_graph(name="plain"))
    assert external_locations(_model(_graph([outer]))) == [("c", "c.bin")] * 2
    # a sparse initializer's values, and a tensor marked external without a location
    values = _external(numpy_helper.from_array(np.ones(1, "float32"), "v"), "s.bin")
    indices = numpy_helper.from_array(np.zeros(1, "int64"), "i")
    sparse = helper.make_sparse_tensor(values, indices, [2, 2])
    bare = _weights("bare")
    bare.data_location = TensorProto.EXTERNAL
    assert external_locations(_model(_graph([add], [bare], [sparse]))) == [("bare", ""), ("v", "s.bin")]
    # a node of a model-local function
    function = helper.make_function("local", "f", ["x"], ["y"], [constant, add], [helper.make_opsetid("", 17)])
    graph = _graph([helper.make_node("f", ["x"], ["y"], domain="local")])
    data = _model(graph, functions=[function])
    assert external_locations(data) == [("c", "c.bin")]


@pytest.mark.parametrize("data", [b"\x08\x07garbage" * 10, b"\x0a\xff\xff\xff\xff\x0f", b"\x3a\x05abc", b"\x80"])
def test_malformed_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(MalformedModelError):
        external_locations(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_a_list_or_malformed(data: bytes) -> None:
    try:
        result = external_locations(data)
    except MalformedModelError:
        return
    assert isinstance(result, list)
