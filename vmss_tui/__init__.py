"""vmss-tui: a keyboard-first terminal console for Azure Virtual Machine Scale Sets."""

__version__ = "0.1.0"
