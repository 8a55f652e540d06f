"""Encodings shared by the layers: ``jsontext`` (strict JSON text, parsed exactly) and
``floats`` (lossless non-finite floats: a value and its kind)."""
