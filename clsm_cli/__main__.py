"""``python -m clsm_cli``: the ``clsm`` command (``cli/app.run``)."""

import gc

gc.disable()  # over the app's imports; run() resumes it, or keeps it paused for a quick command

from clsm_cli.cli.app import run  # noqa: E402

run()
