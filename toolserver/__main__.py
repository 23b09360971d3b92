from toolserver.cli import main

raise SystemExit(main())
