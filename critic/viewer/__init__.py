"""``critic view``: one self-contained HTML page per transcript, score file, experiment or report.

The page needs nothing but a browser: styles, the small script (sorting,
filters, expand/collapse) and the plots (inline SVG) are all inside it, and it
loads nothing from the network, so it opens offline and can be mailed around.
Everything that came from a model or a file is escaped.

What the viewer accepts, told apart by content (:mod:`critic.viewer.sources`):

* a transcript (``critic run`` / ``critic debate``): its first line is the
  header (``"kind": "header"``); ``"mode": "debate"`` makes it a debate;
* a score file (``critic score`` output): one result per line;
* an experiment summary (``critic eval``'s ``summary.json``) and a calibration
  report (``critic calibrate``'s ``report.json``): one JSON object whose
  top-level ``"kind"`` is ``"experiment"`` or ``"calibration"``, with the keys
  documented in :mod:`critic.viewer.reports`. Producers must write that
  ``"kind"``.

    >>> from critic.viewer import write_html
    >>> write_html(Path("run.jsonl"))          # doctest: +SKIP
    PosixPath('run.html')
"""

from critic.viewer.pages import default_output, render_html, write_html
from critic.viewer.sources import ViewKind

__all__ = ["ViewKind", "default_output", "render_html", "write_html"]
