"""The Textual console. Entry point: `vmss_tui.ui.app.run_console`."""
