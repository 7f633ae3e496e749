from trashmonitor.cli import main

raise SystemExit(main())
