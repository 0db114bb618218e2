"""One module per scenario; each `run(lab, sizes, report)` adds its rows and raw numbers."""
