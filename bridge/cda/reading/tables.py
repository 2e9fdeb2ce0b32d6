"""Where a narrative element sits in its table: its cell, its row's label, its column header.

A result's `originalText/reference` may point at its label ("Folates") or at the cell
holding its value ("25 ug/L"); what names the analysis is then elsewhere in the row
or above the column. Cells are placed on the table's grid as HTML does it: a cell
spanning rows (`rowspan`) occupies the same column in the rows below, one spanning
columns (`colspan`) the next columns, so "the first column" and "the column's header"
mean what a reader sees, not an index among siblings.
"""

from __future__ import annotations

from lxml import etree

from bridge.cda.datatypes import NarrativePlace, Surroundings
from bridge.cda.parsing import V3

__all__ = ["TableGrids"]

_TH = f"{{{V3}}}th"
_CELLS = frozenset({f"{{{V3}}}td", _TH})
_TR = f"{{{V3}}}tr"
_TABLE = f"{{{V3}}}table"
_THEAD = f"{{{V3}}}thead"
_TEXT = f"{{{V3}}}text"
_BR = f"{{{V3}}}br"
_MAX_SPAN = 64  # a span larger than any real table is read as this many rows or columns
_MAX_COLUMNS = 1024


def _text(el: etree._Element | None) -> str | None:
    """All text below `el`, a line break read as a space, whitespace collapsed."""
    if el is None:
        return None
    if not len(el):
        return " ".join(el.text.split()) or None if el.text else None
    parts: list[str] = []
    for event, node in etree.iterwalk(el, events=("start", "end")):
        if event == "start":
            if node.tag == _BR:
                parts.append(" ")
            elif node.text:
                parts.append(node.text)
        elif node is not el and node.tail:
            parts.append(node.tail)
    return " ".join("".join(parts).split()) or None


def _own_text(target: etree._Element) -> str | None:
    """A target's text; None for a whole row, whose text runs its cells together."""
    return None if target.tag == _TR else _text(target)


def _span(cell: etree._Element, name: str) -> int:
    written = cell.get(name)
    if written is None:
        return 1
    written = written.strip()
    return min(max(int(written), 1), _MAX_SPAN) if written.isdigit() else 1


class _Grid:
    """One row group (thead, tbody, tfoot, or a table's own rows) laid out as a grid."""

    __slots__ = ("columns", "index", "rows")

    def __init__(self, group: etree._Element) -> None:
        self.columns: dict[etree._Element, int] = {}  # cell → its first column
        self.index: dict[etree._Element, int] = {}  # row → its position in `rows`
        self.rows: list[dict[int, etree._Element]] = []  # per row: column → covering cell
        spanning: dict[int, tuple[int, etree._Element]] = {}  # column → (rows left, cell)
        for row in group:
            if row.tag != _TR:
                continue
            covering = {c: cell for c, (_, cell) in spanning.items()}
            spanning = {c: (left - 1, cell) for c, (left, cell) in spanning.items() if left > 1}
            column = 0
            for cell in row:
                if cell.tag not in _CELLS:
                    continue
                while column in covering:
                    column += 1
                self.columns[cell] = column
                rowspan, colspan = _span(cell, "rowspan"), _span(cell, "colspan")
                for c in range(column, column + colspan):
                    covering[c] = cell
                    if rowspan > 1:
                        spanning[c] = (rowspan - 1, cell)
                column += colspan
            self.index[row] = len(self.rows)
            self.rows.append(covering)

    def texts(self, row: etree._Element, columns: range) -> tuple[str, ...]:
        """The texts of the cells of `row` over `columns`, each cell once, empty ones left out."""
        covering = self.rows[self.index[row]]
        cells = dict.fromkeys(covering[c] for c in columns if c in covering)
        return tuple(text for cell in cells if (text := _text(cell)))


class TableGrids:
    """Grids of the tables of one document, each laid out once, on first use."""

    __slots__ = ("_grids",)

    def __init__(self) -> None:
        self._grids: dict[etree._Element, _Grid] = {}

    def _grid(self, group: etree._Element) -> _Grid:
        grid = self._grids.get(group)
        if grid is None:
            grid = self._grids[group] = _Grid(group)
        return grid

    def place(self, target: etree._Element) -> NarrativePlace:
        """What surrounds `target`: its cell, the other cells of its row, its column's header."""
        return NarrativePlace(lambda: _own_text(target), lambda: self._surroundings(target))

    def _surroundings(self, target: etree._Element) -> Surroundings:
        cell = row = None
        for el in (target, *target.iterancestors()):
            if el.tag in _CELLS:
                cell = el
            elif el.tag == _TR:
                row = el
                break
            elif el.tag == _TEXT:
                break
        if row is None:
            return Surroundings()
        group = row.getparent()
        grid = self._grid(group)
        if cell is None:  # a whole row: every cell, left to right
            return Surroundings(row_texts=grid.texts(row, range(_MAX_COLUMNS)))
        column = grid.columns.get(cell, 0)
        return Surroundings(
            cell_text=_text(cell),
            row_texts=grid.texts(row, range(column - 1, -1, -1)),
            column_header=self._header(group, column) if column else None,
        )

    def _header(self, group: etree._Element, column: int) -> str | None:
        """The text of the header cell over `column`: the last row of the table's thead,
        else the table's first row when it holds only th cells."""
        table = group if group.tag == _TABLE else group.getparent()
        if table is None:
            return None
        head = next((g for g in table if g.tag == _THEAD), None)
        if head is not None:
            rows = self._grid(head).rows
        else:
            first_row = next(table.iter(_TR), None)
            if first_row is None or any(c.tag != _TH for c in first_row if c.tag in _CELLS):
                return None
            rows = self._grid(first_row.getparent()).rows[:1]
        if not rows:
            return None
        return _text(rows[-1].get(column))
