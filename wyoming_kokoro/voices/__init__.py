"""Voice catalogues, one folder per Kokoro version, shipped as package data."""
