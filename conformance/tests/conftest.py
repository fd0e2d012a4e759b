import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import pytest  # noqa: E402

import badbroker  # noqa: E402


@pytest.fixture
def bad_target():
    """Starts the misbehaving target with the given switches; stops every one started."""
    started = []

    def start(*switches):
        b = badbroker.BadBroker(switches).start()
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


@pytest.fixture(scope="session")
def clean_target():
    b = badbroker.BadBroker().start()
    yield b
    b.stop()
