"""Progress bars that a saved notebook keeps in their final state: downloads, ``ipfs add``, region writes.

``tqdm.auto`` draws a widget in Jupyter; a notebook saved without its widget state (``jupyter nbconvert``, the book,
GitHub) then shows only the widget's text fallback as it was when the bar was created (``0%| 0/42``). In a
Jupyter kernel :func:`bar` draws one HTML bar instead, redrawn in place through a display id (as
:func:`labkit.progress` does): JupyterLab shows it moving, and the saved output is its last drawing
(``100% 42/42``). Outside Jupyter it is tqdm's text bar.
"""

from __future__ import annotations

import functools
import html
import re
from typing import Any

from labkit._lazy import attempt_import

#: the colours of a bar: working or done, and failed
GREEN, RED = "#2e7d32", "#c0392b"


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (a notebook or JupyterLab's console), not a terminal's IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ != "TerminalInteractiveShell"


def html_bar(done: float, total: float | None, text: str, failed: bool = False) -> str:
    """One bar as HTML: a ``<progress>`` element and its text (no ``value`` while the total is unknown).

    Examples
    --------
    >>> "<progress value='42' max='42'" in html_bar(42, 42, "100% 42/42 chunks")
    True
    """
    value = f"value='{_number(done)}' max='{_number(max(total, 1))}' " if total is not None else ""
    return (f"<div class='labkit-progress'><progress {value}style='width: 320px; accent-color: "
            f"{RED if failed else GREEN}'></progress> <code>{html.escape(text)}</code></div>")


def _number(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.6g}"


def show(done: float, total: float | None, text: str, failed: bool = False, handle: Any = None) -> Any:
    """Draw a bar in this notebook cell, or redraw the one ``handle`` (what the first call returned) shows.

    The output holds the HTML bar and its text (for text-only frontends); JupyterLab redraws it in place and
    a saved notebook keeps its last drawing.
    """
    from IPython.display import display

    bundle = {"text/html": html_bar(done, total, text, failed), "text/plain": text}
    if handle is None:
        return display(bundle, raw=True, display_id=True)
    handle.update(bundle, raw=True)
    return handle


def progress_bar(**options: Any) -> Any:
    """A tqdm progress bar: an HTML bar redrawn in place in a Jupyter kernel, tqdm's text bar elsewhere.

    Parameters
    ----------
    **options
        tqdm's (``total``, ``unit``, ``unit_scale``, ``desc``, ``disable`` ...).

    Examples
    --------
    >>> with progress_bar(total=3, desc="steps", disable=True) as b:
    ...     b.update(3)
    """
    tqdm = attempt_import("tqdm.std")
    return (_html_bar_class() if in_notebook() else tqdm.tqdm)(**options)


@functools.cache
def _html_bar_class() -> type:
    """:class:`HtmlBar`, made on first use (tqdm is imported only when a bar is drawn)."""
    from tqdm.std import tqdm

    class HtmlBar(tqdm):
        """tqdm drawn as one HTML bar through a display id: the saved notebook shows its last drawing.

        tqdm counts, throttles and formats (rates, sizes, time left); :meth:`display` redraws the bar. A bar closed
        before its total (an exception in its ``with`` block) stays red.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["gui"] = True  # tqdm itself writes nothing (its "GUI mode"): display() draws
            kwargs["disable"] = bool(kwargs.get("disable", False))
            self._handle = None
            super().__init__(*args, **kwargs)
            if not self.disable:
                self.display()

        def display(self, msg: str | None = None, pos: int | None = None, failed: bool = False) -> bool:
            d = self.format_dict
            d["bar_format"] = (d["bar_format"] or "{l_bar}<bar/>{r_bar}").replace("{bar}", "<bar/>")
            text = re.sub(r" +", " ", re.sub(r"\s*\|?<bar/>\|?\s*", " ", self.format_meter(**d))).strip()
            total = d["total"] or (d["n"] if self.disable else None)  # closed without a total: a full bar
            self._handle = show(d["n"], total, text, failed, self._handle)
            return True

        def close(self) -> None:
            if self.disable:
                return
            super().close()  # sets self.disable
            self.display(failed=bool(self.total) and self.n < self.total)

    return HtmlBar
