"""Where issues come from: issue files (YAML) and plain listings of articles."""

from .issue_file import issue_schema, load_issue, parse_issue, write_issue_file
from .listing import listing_to_yaml, parse_listing, read_listing

__all__ = [
    "issue_schema",
    "listing_to_yaml",
    "load_issue",
    "parse_issue",
    "parse_listing",
    "read_listing",
    "write_issue_file",
]
