"""The demo's sample manifests and source files, shipped as package data."""
