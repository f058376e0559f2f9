"""When to show a progress bar."""


def _quiet(progress, small: bool):
    """tqdm's ``disable`` for a ``progress`` flag: True, False, or None (automatic).

    Automatic shows a bar for long work on a terminal only (tqdm's ``None``).
    """
    if progress is None:
        return True if small else None
    return not progress
