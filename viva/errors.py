"""Bad input: one clear line for the person who gave it, and exit code 2."""


class BadInput(Exception):
    """Input the user must fix: a missing file, malformed YAML or WAV, an unknown key...

    The message is the whole line shown to the user: file, line, key path, what was expected.
    """

    exit_code = 2
