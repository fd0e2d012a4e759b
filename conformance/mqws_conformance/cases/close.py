"""placeholder"""


def register():
    pass
