from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lmsops.stack.plugins.filter.packages import FilterModule

FILTERS = FilterModule().filters()


def test_filters_are_registered():
    assert set(FILTERS) == {"packages_missing", "packages_present"}


def test_missing_and_present():
    facts = {"packages": {"ufw": [{}]}}
    assert FILTERS["packages_missing"](["ufw", "fail2ban"], facts) == ["fail2ban"]
    assert FILTERS["packages_present"](["ufw", "telnet"], facts) == ["ufw"]


@pytest.mark.parametrize("name", ["packages_missing", "packages_present"])
def test_bad_input_is_a_filter_error_naming_the_filter(name):
    with pytest.raises(AnsibleFilterError, match=name):
        FILTERS[name]("ufw", {})
