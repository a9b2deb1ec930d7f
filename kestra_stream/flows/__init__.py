"""Flows as files: loading YAML with positions, load-time checks, plugin defaults.

A flow's topology (``kestra_stream.flows._graph``) is the API's and the UI's: it is not imported
here, so that running a flow does not build its models.
"""

from kestra_stream.flows._checks import expression_warnings
from kestra_stream.flows._loader import (
    flow_files,
    flow_warnings,
    load_flow,
    load_flow_file,
    load_flows,
    load_template,
)
from kestra_stream.flows._source import Source, format_path, parse_source
from kestra_stream.flows.defaults import PluginDefault, apply_plugin_defaults

__all__ = [
    "PluginDefault",
    "Source",
    "apply_plugin_defaults",
    "expression_warnings",
    "flow_files",
    "flow_warnings",
    "format_path",
    "load_flow",
    "load_flow_file",
    "load_flows",
    "load_template",
    "parse_source",
]
