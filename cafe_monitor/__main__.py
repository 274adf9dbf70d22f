from cafe_monitor.cli import main

raise SystemExit(main())
