"""The one error the config raises: a value is unknown, of the wrong type or points at nothing."""


class ConfigError(ValueError):
    """A config value is unknown, of the wrong type or points at nothing (the message names the
    dotted key); the CLI prints it as one line and exits with code 2."""
