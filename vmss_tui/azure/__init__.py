"""The data layer: async Azure SDK clients -> domain objects. Public API: vmss_tui.azure.fleet.

Kept import-light: the SDK modules load when a Fleet opens, not when this package is imported.
"""
