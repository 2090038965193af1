"""What a reader meets first: the home page names every article of the site's menu, so a reader who starts there
finds the newest pages too (found by a fresh reader's trial: 'What if?', 'What would change the answer?' and 'Try
your own text' were in the menu but not on the home page)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


class _Loader(yaml.SafeLoader):
    pass


# mkdocs.yml uses MkDocs' !ENV tag; its value does not matter here
_Loader.add_constructor("!ENV", lambda loader, node: None)


def _nav_pages() -> list[str]:
    config = yaml.load((REPO / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_Loader)
    pages = []
    for entry in config["nav"]:
        (page,) = entry.values()
        pages.append(page)
    return pages


def test_the_home_page_links_every_page_of_the_menu():
    home = (REPO / "docs" / "index.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([a-z_]+\.md)(?:#[^)]*)?\)", home))
    pages = [page for page in _nav_pages() if page != "index.md"]
    assert len(pages) >= 9    # the menu was read: the site's nine articles besides the home page
    missing = [page for page in pages if page not in linked]
    assert missing == [], f"the home page (docs/index.md) does not link {missing}"


def test_the_home_page_lists_articles_in_the_menus_order():
    home = (REPO / "docs" / "index.md").read_text(encoding="utf-8")
    listed = re.findall(r"^- \*\*\[[^\]]+\]\(([a-z_]+\.md)\)\*\*", home, flags=re.M)
    menu = [page for page in _nav_pages() if page in listed]
    assert listed == menu, "the home page's list and the menu give the articles in different orders"
