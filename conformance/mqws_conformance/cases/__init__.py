"""Case modules; each registers its cases in registry.REGISTRY."""


def register_all():
    from . import handshake, framing, close, semantics, semantics5, robustness, vectors  # noqa: F401
    vectors.register()
    for mod in (handshake, framing, close, semantics, semantics5, robustness):
        mod.register()
