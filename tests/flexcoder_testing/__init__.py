"""Builders shared by the tests: tiny random-weight open_clip models and tiny datasets in their real on-disk formats.

Importable in tests as `flexcoder_testing` (pyproject: pytest `pythonpath`).
"""
