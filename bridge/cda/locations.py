"""Where an element sits in its document, as an XPath a person can paste into an editor."""

from __future__ import annotations

from typing import Any

from lxml import etree

__all__ = ["xpath_of"]


def xpath_of(node: Any, attribute: str | None = None) -> str:
    """An XPath with local names and 1-based positions among same-named siblings.

    >>> root = etree.fromstring('<a xmlns="urn:x"><b/><b><c/></b></a>')
    >>> xpath_of(root[1][0])
    '/a/b[2]/c'
    >>> xpath_of(root[1][0], "value")
    '/a/b[2]/c/@value'
    """
    if node is None or not isinstance(getattr(node, "tag", None), str):
        return "/"
    steps = []
    el = node
    while el is not None:
        name = etree.QName(el).localname
        parent = el.getparent()
        if parent is None:
            steps.append(name)
            break
        same = [s for s in parent.iterchildren(el.tag)]
        steps.append(f"{name}[{same.index(el) + 1}]" if len(same) > 1 else name)
        el = parent
    path = "/" + "/".join(reversed(steps))
    return f"{path}/@{attribute}" if attribute else path
