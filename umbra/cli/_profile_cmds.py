"""`umbra init` and `umbra profiles`."""

import click

from umbra.core.crypto import encode_public_key
from umbra.store import create_profile, list_profiles

from ._app import CliState, emit, json_option, pass_state
from ._invocation import with_runnable_commands


@click.command()
@json_option
@pass_state
def init(state: CliState) -> None:
    """Create a new profile (a persona) protected by a passphrase."""
    passphrase = state.passphrase(confirm=True)
    profile = create_profile(state.data_dir, state.profile_name, passphrase)
    try:
        seller_id = encode_public_key(profile.identity.signing_public)
        data = {"profile": profile.name, "path": str(profile.path), "seller_id": seller_id}
        emit(
            state,
            data,
            lambda: click.echo(
                f"Created profile {profile.name!r} in {profile.path}\n"
                f"Your seller id: {seller_id}\n"
                "Keep the passphrase safe: without it the profile cannot be opened."
            ),
        )
    finally:
        profile.close()


@click.command()
@json_option
@pass_state
def profiles(state: CliState) -> None:
    """List the profiles in the data directory."""
    names = list_profiles(state.data_dir)
    emit(
        state,
        {"data_dir": str(state.data_dir), "profiles": names},
        lambda: click.echo(
            "\n".join(names)
            if names
            else with_runnable_commands("No profiles yet: run `umbra init`.")
        ),
    )
