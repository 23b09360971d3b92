from toolserver.devtools.cli import main

raise SystemExit(main())
