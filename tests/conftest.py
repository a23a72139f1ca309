"""Settings for the whole test suite."""

from hypothesis import HealthCheck, settings

# Tests never assert wall-clock time (house rule 5): Hypothesis's default 200 ms deadline per
# example fails at random on this shared 2-core machine, so it is off for every property test.
settings.register_profile("umbra", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("umbra")
