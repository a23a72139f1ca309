"""Errors of the store layer.

All derive from `StoreError`, itself an `UmbraError`, so callers above can catch the layer as
a whole. Messages are one line written for the user: what happened and what to do about it.
They never include the passphrase, keys or stored content.
"""

from umbra.core import UmbraError


class StoreError(UmbraError):
    """Something went wrong with the local encrypted store."""


class WrongPassphrase(StoreError):
    """The passphrase does not unlock this profile. The database was not touched."""

    def __init__(self, profile: str) -> None:
        super().__init__(f"wrong passphrase for profile {profile!r}; check it and try again")
        self.profile = profile


class DamagedStore(StoreError):
    """The profile's files are truncated or corrupted (the passphrase itself was right)."""

    def __init__(self, path: object, detail: str = "") -> None:
        reason = f" ({detail})" if detail else ""
        super().__init__(
            f"the store at {path} is damaged{reason}; restore the profile from a backup"
        )
        self.path = path


class SchemaTooNew(StoreError):
    """The store was written by a newer Umbra that uses a schema this program does not know."""

    def __init__(self, namespace: str, found: int, known: int) -> None:
        super().__init__(
            f"this profile was written by a newer version of Umbra ({namespace} schema "
            f"v{found}, this program knows up to v{known}); upgrade Umbra to open it"
        )
        self.namespace = namespace
        self.found = found
        self.known = known


class ProfileExists(StoreError):
    """A profile of that name already exists; creating it again would overwrite it."""

    def __init__(self, profile: str) -> None:
        super().__init__(f"a profile named {profile!r} already exists; choose another name")
        self.profile = profile


class ProfileNotFound(StoreError):
    """No profile of that name exists in the data directory."""

    def __init__(self, profile: str, data_dir: object) -> None:
        super().__init__(
            f"no profile named {profile!r} in {data_dir}; create it first or check the name"
        )
        self.profile = profile
