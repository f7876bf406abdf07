"""The region guard: every `fruits cloud` command works in an EU region only (GDPR: the photos stay in the EU)."""

from __future__ import annotations

from .errors import RegionError

# AWS regions in a member state of the European Union. London (eu-west-2) and Zurich (eu-central-2) are not:
# the United Kingdom and Switzerland are outside the EU (covered by adequacy decisions, which is not the claim
# fruits makes), so they are refused like any other region.
EU_REGIONS = (
    "eu-west-1",  # Ireland
    "eu-west-3",  # Paris
    "eu-central-1",  # Frankfurt
    "eu-north-1",  # Stockholm
    "eu-south-1",  # Milan
    "eu-south-2",  # Spain
)
DEFAULT_REGION = "eu-west-3"


def check_region(region: str | None) -> str:
    """The region if it is in the EU, else a RegionError naming the allowed ones."""
    name = (region or "").strip().lower()
    if name in EU_REGIONS:
        return name
    shown = repr(region) if region else "(none)"
    raise RegionError(
        f"region {shown} is outside the EU: fruits cloud runs only in EU member states' regions "
        f"{', '.join(EU_REGIONS)} "
        f"(pass --region {DEFAULT_REGION})"
    )


def resolve_region(flag: str | None, configured: str | None) -> str:
    """--region, else the region of the standard AWS configuration (AWS_REGION, profile), else eu-west-3.

    The configured region is guarded too: a profile set to us-east-1 is refused rather than silently
    replaced, so nobody believes their data went where it did not.
    """
    if flag:
        return check_region(flag)
    if configured:
        return check_region(configured)
    return DEFAULT_REGION


def bucket_location_to_region(location_constraint: str | None) -> str:
    """GetBucketLocation's answer as a region name (None means us-east-1, 'EU' is the legacy eu-west-1)."""
    if not location_constraint:
        return "us-east-1"
    if location_constraint == "EU":
        return "eu-west-1"
    return location_constraint
