"""The Textual console. Entry point: `vmss_tui.cli.console.run_console`."""
