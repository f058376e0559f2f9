"""Sphinx configuration of the symsgd API reference (built with warnings as errors in CI)."""

import pathlib
import sys

import symsgd

sys.path.insert(0, str(pathlib.Path(__file__).parent / "_ext"))

project = "symsgd"
author = "the symsgd developers"
release = symsgd.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_parser",
    "symsgd_docs",  # docs/_ext: re-exported data's comments, the front-door list
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
root_doc = "index"

# Every automodule in docs/api says :members: itself: a "members" default here would override a
# page's explicit list of members (Sphinx 9 replaces a non-string default's option).
autodoc_default_options = {"show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# Docstrings use the Google layout (Args:, Returns:, Raises:, Attributes:).
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# Callable objects (codegen.Kernel) describe the arguments and errors of a call in sections of
# their own, rendered like Args.
napoleon_custom_sections = [("Args of a call", "params_style"),
                            ("Raises of a call", "params_style")]
myst_heading_anchors = 3

html_theme = "alabaster"
html_static_path = []
