"""Sphinx configuration of the labkit book: the executed tutorials and the API reference, built offline.

Built by ``make site`` (docs/build_site.py), which copies this folder and the executed notebooks of
``build/tutorials`` into ``build/site-src`` and runs ``sphinx-build -W`` into ``build/site``.
"""

from importlib.metadata import version as _version

project = "labkit"
author = "labkit developers"
copyright = "2026, labkit developers"  # noqa: A001 - Sphinx's name
release = _version("labkit")

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.autosummary", "numpydoc", "sphinx.ext.viewcode"]
exclude_patterns = ["_build", "build_site.py", "**.ipynb_checkpoints"]

# the notebooks come executed by `make tutorials`: never run them again here
nb_execution_mode = "off"
# widgets would need the ipywidgets embed scripts from a CDN: show their static fallback (image or HTML)
nb_ipywidgets_js = {}
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None),
                              ("html", "application/vnd.jupyter.widget-state+json", None)]
nb_output_stderr = "remove"  # warnings of libraries, not results
myst_enable_extensions = ["colon_fence"]

autosummary_generate = True
autodoc_typehints = "none"  # numpydoc shows the types of the docstrings
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_validation_checks = set()

html_theme = "sphinx_book_theme"
html_title = "labkit"
html_theme_options = {
    "repository_url": "https://github.com/labkit/labkit",
    "use_repository_button": True,
    "launch_buttons": {"binderhub_url": "https://mybinder.org", "notebook_interface": "jupyterlab"},
    "path_to_docs": "docs",
    "show_navbar_depth": 1,
}
html_static_path = ["_static"]
html_css_files = ["labkit.css"]  # code cells wrap long lines instead of cutting them off
# nothing from outside: the theme bundles its fonts and icons; MathJax (a CDN) is added only to pages with
# maths, and there are none (the browser test checks every page's requests)
html_show_sourcelink = False
