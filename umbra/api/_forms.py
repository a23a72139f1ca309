"""Listing input from a form (multipart for the API), checked field by field.

The security gate has already read and parsed the body (in memory, size-capped) and put the
`FormData` in the request scope; this module turns it into a `ListingDraft` or
`ListingChanges`. Every problem is a `UsageError` naming the field and what to send instead.
"""

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from umbra.core import ShippingOption, UsageError
from umbra.market import (
    DEFAULT_LIFETIME_DAYS,
    LIFETIME_DAYS,
    QUANTITY,
    REQUIRED_FIELDS,
    ListingChanges,
    ListingDraft,
    price_field,
    shipping_line,
    shipping_options,
    tag_list,
    whole_number,
)

from ._security import CSRF_FIELD, FORM_SCOPE_KEY

TEXT_FIELDS = frozenset(
    {
        "title",
        "description",
        "price",
        "quantity",
        "category",
        "condition",
        "ships_from",
        "tags",
        "shipping",
        "lifetime_days",
        "remove_images",
        "revision",
        CSRF_FIELD,
    }
)
FILE_FIELDS = frozenset({"images"})


def request_form(request: Request) -> FormData:
    """The form the gate parsed, or an error saying what kind of body to send."""
    form = request.scope.get(FORM_SCOPE_KEY)
    if not isinstance(form, FormData):
        raise UsageError("send the listing as multipart/form-data (fields and image files)")
    return form


def _text(form: FormData, name: str) -> str | None:
    values = form.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise UsageError(f"{name}: send this field once")
    value = values[0]
    if not isinstance(value, str):
        raise UsageError(f"{name}: send text, not a file")
    return value


def _whole(form: FormData, name: str, low: int, high: int) -> int | None:
    text = _text(form, name)
    return None if text is None or not text.strip() else whole_number(name, text, low, high)


def _tags(form: FormData) -> tuple[str, ...] | None:
    values = form.getlist("tags")
    if not values:
        return None
    if not all(isinstance(v, str) for v in values):
        raise UsageError("tags: send text, not a file")
    return tag_list(str(v) for v in values)


def _shipping(form: FormData) -> tuple[ShippingOption, ...] | None:
    values = form.getlist("shipping")
    if not values:
        return None
    if not all(isinstance(v, str) for v in values):
        raise UsageError("shipping: send text, not a file")
    return shipping_options([shipping_line(str(v)) for v in values if str(v).strip()])


async def _images(form: FormData) -> tuple[bytes, ...] | None:
    files = form.getlist("images")
    if not files:
        return None
    out = []
    for item in files:
        if not isinstance(item, UploadFile):
            raise UsageError("images: send image files (JPEG, PNG or WebP)")
        data = await item.read()
        if data:  # browsers send an empty part when no file was chosen
            out.append(data)
    return tuple(out)


def _check_fields(form: FormData) -> None:
    for name, value in form.multi_items():
        if name in FILE_FIELDS:
            continue
        if name not in TEXT_FIELDS:
            raise UsageError(f"unknown field {name[:40]!r}")
        if not isinstance(value, str):
            raise UsageError(f"{name}: send text, not a file")


def _price(form: FormData) -> int | None:
    text = _text(form, "price")
    return None if text is None or not text.strip() else price_field("price", text)


async def draft_from_form(form: FormData) -> ListingDraft:
    """A new listing; title, price, category and ships_from are required."""
    _check_fields(form)
    missing = [n for n in REQUIRED_FIELDS if not _text(form, n)]
    if missing:
        raise UsageError(f"missing {', '.join(missing)}")
    price = _price(form)
    assert price is not None
    lifetime = _whole(form, "lifetime_days", *LIFETIME_DAYS)
    quantity = _whole(form, "quantity", *QUANTITY)
    return ListingDraft(
        title=_text(form, "title") or "",
        description=_text(form, "description") or "",
        price=price,
        quantity=1 if quantity is None else quantity,
        category=(_text(form, "category") or "").strip(),
        condition=(_text(form, "condition") or "new").strip(),
        ships_from=(_text(form, "ships_from") or "").strip(),
        tags=_tags(form) or (),
        shipping=_shipping(form) or (),
        lifetime_days=DEFAULT_LIFETIME_DAYS if lifetime is None else lifetime,
        images=await _images(form) or (),
    )


async def changes_from_form(form: FormData) -> ListingChanges:
    """An edit: only the fields sent change; new images replace the old ones.

    ``remove_images=true`` drops every image. An empty ``shipping`` or ``tags`` field clears
    that list. ``revision`` (optional): refuse the edit if the listing is no longer at it.
    """
    _check_fields(form)
    images = await _images(form)
    remove = (_text(form, "remove_images") or "").strip().lower()
    if remove not in ("", "true", "false"):
        raise UsageError("remove_images: send true or false")
    if remove == "true":
        if images:
            raise UsageError("send either new images or remove_images=true, not both")
        images = ()
    text = {n: _text(form, n) for n in ("title", "description", "category", "condition")}
    ships_from = _text(form, "ships_from")
    return ListingChanges(
        title=text["title"],
        description=text["description"],
        price=_price(form),
        quantity=_whole(form, "quantity", *QUANTITY),
        category=None if text["category"] is None else text["category"].strip(),
        condition=None if text["condition"] is None else text["condition"].strip(),
        ships_from=None if ships_from is None else ships_from.strip(),
        tags=_tags(form),
        shipping=_shipping(form),
        lifetime_days=_whole(form, "lifetime_days", *LIFETIME_DAYS),
        images=images,
        # The revision the change is based on: refused if the listing changed since (the node
        # itself makes revisions when it sells stock).
        base_revision=_whole(form, "revision", 1, 2**31),
    )
