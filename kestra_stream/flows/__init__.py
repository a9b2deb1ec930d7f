"""Flows as files: loading YAML with positions, load-time checks, plugin defaults; a flow's topology."""

from kestra_stream.flows._graph import FlowGraph, execution_graph, flow_graph
from kestra_stream.flows._loader import flow_files, load_flow, load_flow_file, load_flows
from kestra_stream.flows._source import Source, format_path, parse_source
from kestra_stream.flows.defaults import PluginDefault, apply_plugin_defaults

__all__ = [
    "FlowGraph",
    "PluginDefault",
    "Source",
    "apply_plugin_defaults",
    "execution_graph",
    "flow_files",
    "flow_graph",
    "format_path",
    "load_flow",
    "load_flow_file",
    "load_flows",
    "parse_source",
]
