"""Comparing JSON policy documents the way IAM reads them (AWS may hand back a policy reformatted)."""

from __future__ import annotations

from typing import Any


def canonical(value: Any) -> Any:
    """A one-element list equals its element; the order of list items does not matter."""
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        items = sorted((canonical(v) for v in value), key=repr)
        return items[0] if len(items) == 1 else items
    return value


def same_policy(a: Any, b: Any) -> bool:
    return canonical(a) == canonical(b)
