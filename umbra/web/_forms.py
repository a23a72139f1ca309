"""The listing form of the pages: what the browser sent, for redisplay and for the catalog.

The security gate has parsed the body in memory and left it in ``scope["umbra.form"]``.
Problems become `UsageError` sentences that name the field, shown above the form with the
values kept (except files, which browsers never prefill).
"""

from dataclasses import dataclass, field

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from umbra.core import ShippingOption, SignedListing, UsageError, format_xmr, limits
from umbra.market import (
    DEFAULT_LIFETIME_DAYS,
    LIFETIME_DAYS,
    QUANTITY,
    ListingChanges,
    ListingDraft,
    price_field,
    shipping_option,
    shipping_options,
    tag_list,
    whole_number,
)

FORM_SCOPE_KEY = "umbra.form"  # set by umbra.api's security gate (the scope is the contract)
SHIPPING_ROWS = 3
DAY_S = 24 * 3600


@dataclass
class ShippingRow:
    name: str = ""
    regions: str = ""
    cost: str = ""


@dataclass
class ListingForm:
    """The form's values as text, as the user typed them."""

    title: str = ""
    description: str = ""
    price: str = ""
    quantity: str = "1"
    category: str = ""
    condition: str = "new"
    ships_from: str = ""
    tags: str = ""
    lifetime_days: str = str(DEFAULT_LIFETIME_DAYS)
    shipping: list[ShippingRow] = field(default_factory=list)
    keep_images: bool = True
    images: tuple[bytes, ...] = ()
    base_revision: str = ""  # the revision an edit started from (see `ListingChanges`)

    def padded_shipping(self) -> list[ShippingRow]:
        rows = list(self.shipping)
        return rows + [ShippingRow() for _ in range(max(0, SHIPPING_ROWS - len(rows)))]

    @classmethod
    def from_listing(cls, signed: SignedListing) -> "ListingForm":
        b = signed.body

        return cls(
            title=b.title,
            description=b.description,
            price=format_xmr(b.price),
            quantity=str(b.quantity),
            category=b.category,
            condition=b.condition,
            ships_from=b.ships_from,
            tags=", ".join(b.tags),
            lifetime_days=str(max(1, (b.expires_at - b.created_at) // DAY_S)),
            base_revision=str(b.revision),
            shipping=[
                ShippingRow(o.name, ", ".join(o.regions), format_xmr(o.cost)) for o in b.shipping
            ],
        )

    # -- to the catalog ----------------------------------------------------------------------

    def _shipping_options(self) -> tuple[ShippingOption, ...]:
        return shipping_options(
            [
                shipping_option(row.name, row.regions, row.cost)
                for row in self.shipping
                if row.name.strip() or row.regions.strip() or row.cost.strip()
            ]
        )

    def to_draft(self) -> ListingDraft:
        missing = [
            label
            for label, value in (
                ("a title", self.title),
                ("a price", self.price),
                ("a category", self.category),
                ("the country you ship from", self.ships_from),
            )
            if not value.strip()
        ]
        if missing:
            raise UsageError(f"Please give {', '.join(missing)}.")
        return ListingDraft(
            title=self.title,
            description=self.description.replace("\r\n", "\n"),
            price=price_field("Price", self.price),
            quantity=whole_number("Quantity", self.quantity, *QUANTITY),
            category=self.category.strip(),
            condition=self.condition.strip(),
            ships_from=self.ships_from.strip(),
            tags=tag_list([self.tags]),
            shipping=self._shipping_options(),
            lifetime_days=whole_number(
                "Days to keep it listed", self.lifetime_days, *LIFETIME_DAYS
            ),
            images=self.images,
        )

    def to_changes(self) -> ListingChanges:
        draft = self.to_draft()
        replace = bool(self.images) or not self.keep_images
        return ListingChanges(
            title=draft.title,
            description=draft.description,
            price=draft.price,
            quantity=draft.quantity,
            category=draft.category,
            condition=draft.condition,
            ships_from=draft.ships_from,
            tags=draft.tags,
            shipping=draft.shipping,
            lifetime_days=draft.lifetime_days,
            images=self.images if replace else None,
            base_revision=int(self.base_revision) if self.base_revision.isdigit() else None,
        )


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _texts(form: FormData, name: str) -> list[str]:
    return [v if isinstance(v, str) else "" for v in form.getlist(name)]


async def read_listing_form(request: Request) -> ListingForm:
    form = request.scope.get(FORM_SCOPE_KEY)
    if not isinstance(form, FormData):
        raise UsageError("The form arrived empty. Reload the page and try again.")
    names, regions, costs = (_texts(form, n) for n in ("ship_name", "ship_regions", "ship_cost"))
    if len(names) > limits.MAX_SHIPPING_OPTIONS:
        raise UsageError(f"At most {limits.MAX_SHIPPING_OPTIONS} shipping options.")
    rows = [
        ShippingRow(n, r, c)
        for n, r, c in zip(
            names,
            regions + [""] * (len(names) - len(regions)),
            costs + [""] * (len(names) - len(costs)),
            strict=False,
        )
    ]
    images = []
    for item in form.getlist("images"):
        if isinstance(item, UploadFile):
            data = await item.read()
            if data:
                images.append(data)
    return ListingForm(
        title=_text(form, "title"),
        description=_text(form, "description"),
        price=_text(form, "price"),
        quantity=_text(form, "quantity") or "1",
        category=_text(form, "category"),
        condition=_text(form, "condition") or "new",
        ships_from=_text(form, "ships_from"),
        tags=_text(form, "tags"),
        lifetime_days=_text(form, "lifetime_days") or str(DEFAULT_LIFETIME_DAYS),
        shipping=rows,
        keep_images=_text(form, "keep_images") == "yes",
        images=tuple(images),
        base_revision=_text(form, "base_revision")[:10],
    )
