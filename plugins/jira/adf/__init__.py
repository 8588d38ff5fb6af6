"""HTML -> Atlassian Document Format (ADF), for Jira Cloud issue descriptions. Flask-free.

    from plugins.jira.adf import html_to_adf, validate_adf
    result = html_to_adf("<h1>Title</h1><p>Some <b>bold</b> text</p>")
    result.adf, result.warnings, result.adf_size_bytes, result.character_reduction
    validate_adf(result.adf) == []

The mapping, the rules and the warning codes are documented in docs/jira-adf.md.
"""

from .convert import html_to_adf
from .result import Conversion, ConversionWarning
from .validate import SCHEMA_VERSION, adf_schema, validate_adf

__all__ = [
    "SCHEMA_VERSION",
    "Conversion",
    "ConversionWarning",
    "adf_schema",
    "html_to_adf",
    "validate_adf",
]
