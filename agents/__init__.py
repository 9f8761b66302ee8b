"""dualsim agents package."""
