#!/usr/bin/env python3
"""Dump a GGUF header with the reference reader (the `gguf` package on PyPI) as JSON.

Used by the conformance test (crates/headroom/tests/conformance.rs) and the benchmark
(scripts/bench-gguf.sh). Output: {"metadata": {key: {"type": t, "value": v}}, "tensors": [...]}
with type names as headroom prints them ("uint32", "array[string]").
"""
import json
import sys

from gguf import GGUFReader, GGUFValueType


def type_name(types):
    if types[0] == GGUFValueType.ARRAY:
        inner = types[1].name.lower() if len(types) > 1 else "uint8"
        return "array[%s]" % inner
    return types[0].name.lower()


def main(path):
    reader = GGUFReader(path)
    metadata = {}
    for name, field in reader.fields.items():
        if name.startswith("GGUF."):
            continue
        metadata[name] = {"type": type_name(field.types), "value": field.contents()}
    tensors = [
        {
            "name": tensor.name,
            "dimensions": [int(d) for d in tensor.shape],
            "type": tensor.tensor_type.name,
            "absolute_offset": int(tensor.data_offset),
        }
        for tensor in reader.tensors
    ]
    json.dump({"metadata": metadata, "tensors": tensors}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
