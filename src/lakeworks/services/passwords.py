"""The password policy for new passwords: long enough, and not one attackers try first.

Applied when a password is set (account creation, a change, an admin's reset, the first-admin
setup), never at sign-in, so existing passwords keep working until their owner changes them.
Refused: fewer than ``MIN_PASSWORD_LENGTH`` characters; the most common passwords and keyboard
runs (a short built-in list, compared without case and ignoring trailing digits and
punctuation); passwords made of very few distinct characters (``aaaaaaaaaa``,
``abababababab``); straight runs of characters (``1234567890``, ``abcdefghijk``); passwords
containing the username.
"""

from __future__ import annotations

from itertools import pairwise

from lakeworks.errors import InvalidInput

MIN_PASSWORD_LENGTH = 10
MIN_DISTINCT_CHARACTERS = 5

# The top of the published most-common-password lists (and the keyboard runs they are full
# of), at the lengths that pass the length rule or nearly do.
COMMON_PASSWORDS = frozenset(
    """
    password passw0rd password1 password12 password123 password1234 passwordpassword 123456789
    1234567890 12345678910 0123456789 0987654321 9876543210 1q2w3e4r5t 1qaz2wsx3edc qwertyuiop
    qwertyuiop123 qwerty123456 qwertyuiopasdfghjkl asdfghjkl asdfghjkl123 zxcvbnm123
    zxcvbnmasdfghjkl qazwsxedc qazwsxedcrfv 1q2w3e4r5t6y abcdefghij abc123456789 iloveyou123
    iloveyouforever letmein123 letmeinnow welcome123 welcome1234 welcometo administrator
    admin12345 admin123456 adminadmin changeme123 changemenow trustno1234 sunshine123
    princess123 football123 baseball123 basketball superman123 batman12345 starwars123
    dragon12345 monkey12345 master12345 shadow12345 michael123 jennifer123 computer123
    internet123 whatever123 secret12345 mypassword mypassword1 mypassword123 nopassword
    default123 lakeworks123 cloudera123 lakeworkslakeworks
    """.split()  # noqa: SIM905 - a word list reads better as text
)

_KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "abcdefghijklmnopqrstuvwxyz")


def check_new_password(password: str, username: str = "") -> None:
    """Raise ``InvalidInput`` saying what is wrong with ``password`` as a new password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.")
    lowered = password.lower()
    core = lowered.rstrip("0123456789!@#$%^&*.?_- ")
    if lowered in COMMON_PASSWORDS or core in COMMON_PASSWORDS:
        raise InvalidInput("That password is one of the most common ones; choose another.")
    if len(set(lowered)) < MIN_DISTINCT_CHARACTERS:
        raise InvalidInput(
            "That password repeats too few characters; use a longer phrase of several words."
        )
    if _is_run(lowered):
        raise InvalidInput("That password is a run of consecutive keys or characters.")
    name = username.strip().lower()
    if len(name) >= 3 and name in lowered:
        raise InvalidInput("The password must not contain the username.")


def _is_run(text: str) -> bool:
    """A straight run along the alphabet, the digits or a keyboard row, either direction."""
    steps = {ord(b) - ord(a) for a, b in pairwise(text)}
    if steps in ({1}, {-1}):
        return True
    return any(text in row or text in row[::-1] for row in _KEYBOARD_ROWS)
