"""A template wsad plugin: copy this package, rename it, and replace the method."""
