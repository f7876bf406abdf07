"""A small IAM policy evaluator for the static IAM tests: enough of AWS's rules to read AmazonEMRServicePolicy_v2
and our inline policies honestly, and nothing more.

- A request is allowed when some Allow statement matches it and no Deny statement does (explicit deny wins).
- A statement matches when its Action and Resource match (IAM wildcards: `*` any run, `?` one character; actions
  case-insensitively) and every condition holds.
- Conditions: StringEquals and StringLike, on any context key (iam:PassedToService, aws:ResourceTag/...,
  aws:RequestTag/...), and Bool. A key missing from the request context fails the condition (as in IAM). Any
  other operator, NotAction/NotResource, or a statement we cannot read makes the evaluation raise: a test must not
  pass because this evaluator skipped something it does not understand.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class Unsupported(Exception):
    """The policy uses something this evaluator does not evaluate."""


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str, value: str, ignore_case: bool = False) -> bool:
    # fnmatch also reads [...] as a character class; IAM does not, so escape brackets first.
    pattern = pattern.replace("[", "[[]")
    regex = fnmatch.translate(pattern)
    return re.match(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _condition_holds(operator: str, tests: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    for key, wanted in tests.items():
        # Context keys are case-insensitive in IAM; tag keys inside them keep their case here (ours are lower).
        found = next((v for k, v in context.items() if k.lower() == key.lower()), None)
        if found is None:
            return False
        values = [str(w) for w in _as_list(wanted)]
        if operator == "StringEquals":
            ok = found in values
        elif operator == "StringLike":
            ok = any(_wildcard(w, found) for w in values)
        elif operator == "Bool":
            ok = found.lower() in [w.lower() for w in values]
        else:
            raise Unsupported(f"condition operator {operator}")
        if not ok:
            return False
    return True


def statement_matches(statement: Mapping[str, Any], request: Request) -> bool:
    unknown = set(statement) - {"Sid", "Effect", "Action", "Resource", "Condition"}
    if unknown:
        raise Unsupported(f"statement elements {sorted(unknown)}")
    if not any(_wildcard(a, request.action, ignore_case=True) for a in _as_list(statement["Action"])):
        return False
    if not any(_wildcard(r, request.resource) for r in _as_list(statement["Resource"])):
        return False
    return all(_condition_holds(op, tests, request.context)
               for op, tests in (statement.get("Condition") or {}).items())


def allowed(policies: Iterable[Mapping[str, Any]], request: Request) -> bool:
    statements = [s for policy in policies for s in _as_list(policy["Statement"])]
    if any(s["Effect"] == "Deny" and statement_matches(s, request) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and statement_matches(s, request) for s in statements)
