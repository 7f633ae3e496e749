import gc

# The CLI's own imports allocate thousands of objects and no garbage: the cyclic
# collector stays off for them, as cli.main keeps it off for the command's imports.
gc.disable()
from trashmonitor.cli import main  # noqa: E402

gc.enable()
raise SystemExit(main())
