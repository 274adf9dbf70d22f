"""Café Monitor: facial-expression based customer-satisfaction monitor for a café counter."""

__version__ = "0.1.0"
