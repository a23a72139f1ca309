"""The category taxonomy offered to sellers: "top" or "top/sub" slugs.

Documents from peers may carry any well-formed slug (a newer client may know more categories);
the local CLI and UI offer only these.
"""

import re

CATEGORY_PATTERN = re.compile(r"^[a-z0-9-]{1,32}(/[a-z0-9-]{1,32})?$")

CATEGORIES: dict[str, tuple[str, ...]] = {
    "art": ("prints", "paintings", "crafts"),
    "books": ("fiction", "non-fiction", "comics"),
    "clothing": ("men", "women", "shoes", "accessories"),
    "collectibles": ("coins", "cards", "stamps"),
    "digital": ("software", "ebooks", "music", "art"),
    "electronics": ("phones", "computers", "audio", "cameras", "components"),
    "home": ("kitchen", "furniture", "garden", "tools"),
    "services": ("design", "programming", "writing", "translation", "tutoring"),
    "sports": ("outdoor", "fitness", "cycling"),
    "toys": ("games", "models", "puzzles"),
    "other": (),
}


def known_categories() -> list[str]:
    """Every offered slug, tops and subs, sorted."""
    slugs = []
    for top, subs in CATEGORIES.items():
        slugs.append(top)
        slugs.extend(f"{top}/{sub}" for sub in subs)
    return sorted(slugs)


def is_known_category(slug: str) -> bool:
    top, _, sub = slug.partition("/")
    return top in CATEGORIES and (not sub or sub in CATEGORIES[top])
