"""wsad-rasalore: see README.md for the method and its status."""
