"""What every part of the explorer's form shares: closing the widgets it owns."""

from __future__ import annotations

import ipywidgets as widgets

#: Description width of the form's labelled fields, so they line up.
WIDE = {"description_width": "7em"}


class Part:
    """A piece of the explorer (a form section, a view) that owns widgets as attributes."""

    def close(self) -> None:
        """Close every widget this part holds, shown or not, and their children."""
        for value in list(vars(self).values()):
            items = value.values() if isinstance(value, dict) else (value,)
            for item in items:
                if isinstance(item, widgets.Widget):
                    close_tree(item)
                elif isinstance(item, Part):
                    item.close()


def close_tree(widget: widgets.Widget) -> None:
    """Close ``widget`` and every widget below it."""
    for child in getattr(widget, "children", ()):
        close_tree(child)
    widget.close()
