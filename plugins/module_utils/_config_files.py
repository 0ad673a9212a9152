# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure text logic of the config_files module: setting `KEY<sep>VALUE` lines in a config file.

Used for files a distribution owns and comments at length (/etc/login.defs, /etc/default/*), where
a template would have to copy the distribution's text for every release: only the named keys are
set, everything else stays as shipped.
"""
from __future__ import absolute_import, annotations, division, print_function

import re

__metaclass__ = type


def _pattern(key, separator):
    # type: (str, str) -> re.Pattern
    if separator.strip():
        return re.compile(r"^\s*" + re.escape(key) + r"\s*" + re.escape(separator.strip()))
    return re.compile(r"^\s*" + re.escape(key) + r"(\s|$)")


def check_settings(settings, separator):
    # type: (object, object) -> None
    """Raise ValueError when the settings cannot be written unambiguously."""
    if not isinstance(separator, str) or separator == "" or "\n" in separator:
        raise ValueError("separator must be a non-empty string without a newline, got %r" % (separator,))
    if not isinstance(settings, dict):
        raise ValueError("settings must be a dict of key: value, got %s" % type(settings).__name__)
    for key, value in settings.items():
        if not isinstance(key, str) or not key or re.search(r"\s", key) or key.startswith("#"):
            raise ValueError("setting names must be non-empty words without spaces or '#', got %r" % (key,))
        if separator.strip() and separator.strip() in key:
            raise ValueError("setting name %r contains the separator %r" % (key, separator))
        if isinstance(value, (dict, list)) or value is None or "\n" in str(value):
            raise ValueError("setting %s must be a single-line scalar, got %r" % (key, value))


def _render_value(value):
    # type: (object) -> str
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def set_settings(text, settings, separator=" "):
    # type: (str, dict, str) -> str
    """Return `text` with one active `KEY<separator>VALUE` line per setting.

    The first active line for a key is replaced in place (comments and order kept), later active
    duplicates are dropped so the file means one thing, and keys not present are appended in the
    order given. Commented-out lines (`#KEY ...`) are left alone.
    """
    check_settings(settings, separator)
    lines = text.splitlines()
    done = set()  # type: set
    out = []
    patterns = [(key, _pattern(key, separator)) for key in settings]
    for line in lines:
        for key, pattern in patterns:
            if pattern.match(line):
                if key not in done:
                    out.append("%s%s%s" % (key, separator, _render_value(settings[key])))
                    done.add(key)
                break
        else:
            out.append(line)
    for key, _pattern_unused in patterns:
        if key not in done:
            out.append("%s%s%s" % (key, separator, _render_value(settings[key])))
    return "\n".join(out) + "\n" if out else ""
