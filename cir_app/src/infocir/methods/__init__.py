"""Composed-image-retrieval methods: one module per method, looked up by name in the registry."""

from infocir.methods.base import CIRMethod, Composition, MethodContext, Query
from infocir.methods.registry import create_method, list_method_names, list_methods

__all__ = ["CIRMethod", "Composition", "MethodContext", "Query", "create_method", "list_method_names", "list_methods"]
