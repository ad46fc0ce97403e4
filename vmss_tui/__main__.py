from vmss_tui.cli import main

raise SystemExit(main())
