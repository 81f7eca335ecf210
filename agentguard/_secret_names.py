"""Field names that hold a secret (``password``, ``dbPassword``, ``SECRET_KEY``...): the audit log
withholds such a field's value whatever it looks like. A name is read as words, however spelled."""

from __future__ import annotations

from agentguard._decoded import compile_latin1 as _compile


def _ascii(text: str) -> bytes:
    return text.encode("ascii", "replace") if not text.isascii() else text.encode("ascii")


_SENSITIVE_KEY = _compile(
    r"(?i)(?:.*[_-])?(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|"
    r"private[_-]?key|client[_-]?secret|authorization|auth|credentials?|cookie|session[_-]?id)"
)
# A field name as words, however it is spelled: snake_case, kebab-case, camelCase, ACRONYMKey.
_KEY_WORDS = _compile(r"[A-Z]+[a-z]*|[a-z]+|[0-9]+")
# The last word alone names a secret ("dbPassword", "MYSQL_PWD", "authToken", "user.secrets").
_SECRET_LAST_WORDS = frozenset(
    {
        "password",
        "passwords",
        "passwd",
        "passphrase",
        "passcode",
        "pwd",
        "secret",
        "secrets",
        "token",
        "credential",
        "credentials",
        "cookie",
        "cookies",
        "authorization",
        "auth",
        "apikey",
        "jwt",
        "otp",
        "totp",
        "pass",
        "pat",
        "pin",
        "cvv",
        "cvc",
        "mnemonic",
    }
)
# ... or glued to a prefix in one word ("PGPASSWORD", "DJANGOSECRET", "xsrftoken"); "max_tokens" is not.
_SECRET_SUFFIXES = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "secretkey",
    "privatekey",
    "privkey",
    "accesskey",
    "signingkey",
    "masterkey",
    "encryptionkey",
)
_ONE_TIME_CODES = frozenset({"otp", "mfa", "totp", "verification", "recovery", "backup", "security", "pass"})
# "key", "id", "string", "phrase" and "code" name a secret only after these ("SECRET_KEY",
# "accountKey", "sessionId", "seedPhrase", "otp_code"); "zip_code" and "phrase" alone are plain.
_SECRET_PAIRS = {
    "key": frozenset(
        {
            "api",
            "access",
            "private",
            "secret",
            "account",
            "signing",
            "encryption",
            "master",
            "client",
            "ssh",
            "gpg",
            "pgp",
            "session",
            "storage",
            "license",
            "shared",
            "hmac",
            "priv",
            "sk",
        }
    ),
    "phrase": frozenset({"pass", "seed", "recovery", "secret"}),
    "code": _ONE_TIME_CODES,
    "codes": _ONE_TIME_CODES,
    "id": frozenset({"session"}),
    "string": frozenset({"connection"}),
}


def _key_words(key: str) -> list[str]:
    words: list[str] = []
    for token in _KEY_WORDS.findall(_ascii(key)):
        word = token.decode("ascii")
        capitals = len(word) - len(word.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
        if 1 < capitals < len(word):  # "AWSSecret", "APIKey": the last capital starts the next word
            words.append(word[: capitals - 1].lower())
            word = word[capitals - 1 :]
        words.append(word.lower())
    return words


# Only a name's last words decide: a longer (agent-chosen) name is read from its tail, so splitting
# it costs the same whatever its length (a 1 MB camelCase name took seconds per record).
_TAIL = 128
_DIGITS_AND_SEPARATORS = "0123456789_-. "


def _tail(key: str) -> str:
    """The end of a long name: ``_TAIL`` characters before a trailing number, and that number's end."""
    head = key.rstrip(_DIGITS_AND_SEPARATORS)
    return head[-_TAIL:] + key[len(head) :][-8:]


def is_sensitive_key(key: str) -> bool:
    """Whether an argument or field name (``password``, ``api_key``, ``dbPassword``, ``SECRET_KEY``,
    ``PGPASSWORD``, ``password2``, ``api_key_v2``...) holds a secret: the audit log redacts such a
    field's value whatever it looks like."""
    if len(key) > _TAIL:
        key = _tail(key)
    if _SENSITIVE_KEY.fullmatch(_ascii(key)) is not None:
        return True
    words = _key_words(key)
    # A number or version after the name ("password2", "DB_PASSWORD_2", "api_key_v2") names the same.
    while len(words) > 1 and words[-1].isdigit():
        words.pop()
        if len(words) > 1 and words[-1] == "v":
            words.pop()
    if not words:
        return False
    last = words[-1]
    if last in _SECRET_LAST_WORDS or last.endswith(_SECRET_SUFFIXES):
        return True
    before = _SECRET_PAIRS.get(last)
    return before is not None and len(words) > 1 and words[-2] in before
