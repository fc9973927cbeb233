"""`python -m bot` is the `tradewire` command."""
from bot.cli import main

raise SystemExit(main())
