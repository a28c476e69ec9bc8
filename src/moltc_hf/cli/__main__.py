"""`python -m moltc_hf.cli ...` (and `accelerate launch -m moltc_hf.cli predict ...`)."""

from . import main

raise SystemExit(main())
