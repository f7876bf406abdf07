"""The sentences the dashboard says about a photo, in the page's language.

English is the library's own wording (`classify.explain`), unchanged; other languages are built from the same
facts (certainty, votes, neighbours, familiarity) through the catalogue, since the library speaks English only.
"""

from __future__ import annotations

from ..classify import certainty_words, explain as explain_in_english
from .i18n import Messages


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark for extraction, translate later"
    return message


# The words classify.certainty_words returns, marked so the extractor puts them in the catalogue.
CERTAINTY = {"Very likely": N_("Very likely"), "Likely": N_("Likely"), "Probably": N_("Probably"),
             "Not sure, perhaps": N_("Not sure, perhaps")}


def certainty(t: Messages, score: float) -> str:
    return t.gettext(CERTAINTY[certainty_words(score)])


def explain(t: Messages, label: str, score: float, votes: int, k: int, familiarity: float | None = None,
            kind: str | None = None) -> str:
    """'Very likely a lemon: 18 of the 20 most similar photos are lemons.', or its translation."""
    if t.language == "en":
        return explain_in_english(label, score, votes, k, familiarity)
    name = label if not kind or t.kind(kind).lower() == label.lower() else f"{label} ({t.kind(kind)})"
    sentence = t.gettext("%(certainty)s %(name)s: %(votes)s of the %(k)s most similar photos show it.",
                         certainty=certainty(t, score), name=name, votes=votes, k=k)
    if familiarity is not None and familiarity <= 0.0:
        sentence += " " + t.gettext(
            "Take it with care: this photo is farther from the reference photos than they are from each other "
            "(another background or light, or a fruit they do not show).")
    return sentence


def verdict(t: Messages, answer: dict) -> str:
    """The identify answer's lead sentence: the kind, then the variety; "not sure" and the candidates when the
    service is not confident. Uses the answer's own `verdict` in English."""
    if t.language == "en" and answer.get("verdict"):
        return answer["verdict"]
    if "confident" not in answer:  # an answer without kinds: its label-level sentence
        top = (answer.get("top") or [{}])[0]
        if t.language == "en" or not top.get("label"):
            return answer.get("sentence", "")
        return explain(t, top["label"], top.get("score", 0.0), top.get("votes", 0),
                       answer.get("neighbours_considered", 0), kind=top.get("kind"))
    kinds = answer.get("kinds") or []
    if answer.get("confident") is False or not answer.get("kind"):
        names = ", ".join(t.kind(c.get("kind")) or c.get("name") or "?" for c in kinds[:3])
        return t.gettext("Not sure: this photo is not like the reference photos. Perhaps %(names)s.",
                         names=names or "–")
    score = kinds[0]["score"] if kinds else 0.0
    return t.gettext("%(certainty)s %(kind)s (%(variety)s).", certainty=certainty(t, score),
                     kind=t.kind(answer["kind"]), variety=answer.get("variety") or "–")


# The words run_output.describe.colour_name returns.
COLOURS = {"black": N_("black"), "white": N_("white"), "grey": N_("grey"), "red": N_("red"),
           "orange": N_("orange"), "yellow": N_("yellow"), "green": N_("green"), "blue": N_("blue"),
           "purple": N_("purple"), "pink": N_("pink"), "brown": N_("brown"), "dark red": N_("dark red")}


def colour(t: Messages, name: str | None) -> str:
    return t.gettext(COLOURS[name]) if name in COLOURS else (name or "–")
