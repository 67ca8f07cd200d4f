"""The status filter: one checkbox per status, all of them in sight, with "all" and "none"."""

from __future__ import annotations

from collections.abc import Iterable

import ipywidgets as widgets

from ..errors import InvalidRequestError
from ._part import Part

__all__ = ["StatusPicker"]


class StatusPicker(Part):
    """Checkboxes for ``statuses`` (none ticked: any status), and buttons to tick all or none.

    ``value`` is the tuple of ticked statuses in lifecycle order, and can be set, as a
    ``SelectMultiple``'s can: ``picker.value = ("failed", "busy")``.
    """

    def __init__(self, statuses: Iterable[str], *, columns: int = 3) -> None:
        self.checkboxes = {
            name: widgets.Checkbox(
                value=False, description=name, indent=False, layout=widgets.Layout(width="11em")
            )
            for name in statuses
        }
        self.all_button = widgets.Button(description="all", layout=widgets.Layout(width="5em"))
        self.none_button = widgets.Button(description="none", layout=widgets.Layout(width="5em"))
        self.all_button.on_click(lambda _b: self._tick(self.checkboxes))
        self.none_button.on_click(lambda _b: self._tick(()))
        self.hint = widgets.HTML("<small>none ticked: any status</small>")
        boxes = list(self.checkboxes.values())
        grid = widgets.GridBox(
            boxes,
            layout=widgets.Layout(grid_template_columns=f"repeat({columns}, max-content)"),
        )
        self.box = widgets.VBox(
            [
                widgets.HBox(
                    [
                        widgets.Label("Status", layout=widgets.Layout(width="7em")),
                        self.all_button,
                        self.none_button,
                        self.hint,
                    ]
                ),
                grid,
            ]
        )
        self.box.add_class("apifonica-statuses")

    def _tick(self, names: Iterable[str]) -> None:
        chosen = set(names)
        for name, box in self.checkboxes.items():
            box.value = name in chosen

    @property
    def value(self) -> tuple[str, ...]:
        """The ticked statuses, in lifecycle order."""
        return tuple(name for name, box in self.checkboxes.items() if box.value)

    @value.setter
    def value(self, names: Iterable[str]) -> None:
        chosen = tuple(names)
        unknown = [n for n in chosen if n not in self.checkboxes]
        if unknown:
            raise InvalidRequestError(
                f"unknown statuses {unknown}; choose from {list(self.checkboxes)}"
            )
        self._tick(chosen)
