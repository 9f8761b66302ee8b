"""dualsim models package."""
