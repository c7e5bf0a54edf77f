"""`python -m wyoming_kokoro` and the `wyoming-kokoro` console script."""

from .cli import main

if __name__ == "__main__":
    main()
