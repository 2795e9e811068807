"""Bad input: one clear line for the person who gave it, and exit code 2."""

# Characters that would break the line or drive the terminal: control characters, and the
# Unicode line and paragraph separators (str.splitlines breaks at both).
_UNPRINTABLE = {i: ascii(chr(i))[1:-1] for i in [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]}


class BadInput(Exception):
    """Input the user must fix: a missing file, malformed YAML or WAV, an unknown key...

    The message is the whole line shown to the user: file, line, key path, what was expected.
    It stays one line whatever it quotes from the input (a key holding a newline, say): line
    breaks and other control characters are written as escapes.
    """

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(str(message).translate(_UNPRINTABLE))
