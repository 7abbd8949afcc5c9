"""``python -m critic.cli``: the ``critic`` command."""

from critic.cli.main import main

raise SystemExit(main())
