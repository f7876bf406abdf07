"""Fruit information cards: the package's fruit_facts.json, and the fruit kind a dataset class name stands for."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources


class FruitFacts:
    """The package's fruit_facts.json: one card per fruit kind and a map from dataset class names to kinds."""

    def __init__(self, document: dict):
        self.kinds: dict[str, dict] = document["kinds"]
        self._classes = {name.lower(): kind for name, kind in document.get("classes", {}).items()}
        self._aliases = {name.lower(): kind for name, kind in document.get("aliases", {}).items()}

    @classmethod
    def load(cls) -> FruitFacts:
        return _packaged_facts()

    def kind_for(self, label: str | None) -> str | None:
        """'Apple Red 1' -> 'apple', 'lemon' -> 'lemon', 'Tomato 4' -> 'tomato', unknown -> None."""
        if not label:
            return None
        text = " ".join(label.replace("_", " ").split()).lower()
        if text in self._classes:
            return self._classes[text]
        words = [w for w in text.split() if not w.isdigit()]
        # The whole name without numbers, then its first word ("Apple Hit 1" -> "apple"), singular or plural.
        for candidate in (" ".join(words), words[0] if words else ""):
            for form in (candidate, _singular(candidate)):
                if form in self.kinds:
                    return form
                if form in self._aliases:
                    return self._aliases[form]
        return None

    def card(self, label: str | None) -> dict | None:
        kind = self.kind_for(label)
        if kind is None:
            return None
        return {"kind": kind, **self.kinds[kind]}


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "oes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") else word


@lru_cache(maxsize=1)
def _packaged_facts() -> FruitFacts:
    text = resources.files("fruits").joinpath("data/fruit_facts.json").read_text(encoding="utf-8")
    return FruitFacts(json.loads(text))
