from prodigy.cli.main import main

raise SystemExit(main())
