"""Which config fields are references to other steps' outputs, optional ones (``Ref | None``) included."""

from __future__ import annotations

from typing import get_args

from pydantic.fields import FieldInfo

from runner.block import RefSpec


def ref_spec(info: FieldInfo) -> RefSpec | None:
    """The field's RefSpec: on the field itself, or on a member of its union (an optional reference)."""
    for marker in info.metadata:
        if isinstance(marker, RefSpec):
            return marker
    for member in get_args(info.annotation):
        for marker in getattr(member, "__metadata__", ()):
            if isinstance(marker, RefSpec):
                return marker
    return None
