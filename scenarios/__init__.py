"""dualsim scenarios package."""
