"""lmsops.stack.template renders exactly what ansible.builtin.template's lookup renders, without
its deep copy of the variables."""
from __future__ import annotations

import copy

import pytest

from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.plugins import loader as plugin_loader
from ansible.template import Templar

TEMPLATES = {
    # the managed header and plain variables
    "header.j2": "# {{ ansible_managed }}\nport {{ port }}\nname {{ name | upper }}\n",
    # trim_blocks: the newline after a block tag is dropped; lstrip_blocks is off
    "blocks.j2": "{% for u in users %}\n  user {{ u }}\n{% endfor %}\n{% if port > 1024 %}\nhigh\n{% endif %}\n",
    # an include from the template's own directory, with the caller's variables
    "outer.j2": "outer {{ name }}\n{% include 'inner.j2' %}\n",
    "inner.j2": "inner {{ name }} {{ port }}\n",
    # no trailing newline, a template_vars override, backslashes kept as written
    "vars.j2": "pool {{ pool.name }} {{ port }} \\d+\\.\\n",
    # set inside the template does not leak into the caller's variables
    "scoped.j2": "{% set name = 'changed' %}{{ name }} {{ nested.list | join(',') }}",
}


@pytest.fixture(scope="module")
def lookups():
    # tests/unit/conftest.py (plain pytest) or ansible-test installed the collection loader
    assert plugin_loader.lookup_loader.get("lmsops.stack.template") is not None
    return plugin_loader.lookup_loader


@pytest.fixture
def search_dir(tmp_path):
    (tmp_path / "templates").mkdir()
    for name, text in TEMPLATES.items():
        (tmp_path / "templates" / name).write_text(text)
    return tmp_path


def _variables(search_dir):
    return {
        "ansible_search_path": [str(search_dir)],
        "port": 6379,
        "name": "lms",
        "users": ["ops", "deploy"],
        "nested": {"list": [1, 2, 3]},
    }


def _run(lookups, name, search_dir, terms, **kwargs):
    variables = _variables(search_dir)
    loader = DataLoader()
    templar = Templar(loader=loader, variables=variables)
    plugin = lookups.get(name, loader=loader, templar=templar)
    return plugin.run(terms, variables, **kwargs)


@pytest.mark.parametrize(
    "terms, kwargs",
    [
        (["header.j2"], {}),
        (["blocks.j2"], {}),
        (["outer.j2"], {}),
        (["vars.j2"], {"template_vars": {"pool": {"name": "www"}, "port": 9000}}),
        (["scoped.j2"], {}),
        (["header.j2", "inner.j2"], {}),
    ],
)
def test_same_result_as_the_builtin_lookup(lookups, search_dir, terms, kwargs):
    ours = _run(lookups, "lmsops.stack.template", search_dir, terms, **kwargs)
    builtin = _run(lookups, "ansible.builtin.template", search_dir, terms, **kwargs)
    assert ours == builtin
    assert len(ours) == len(terms)


def test_managed_header_and_template_vars(lookups, search_dir):
    (header,) = _run(lookups, "lmsops.stack.template", search_dir, ["header.j2"])
    assert header.startswith("# Ansible managed\n")
    assert "port 6379\nname LMS\n" in header
    (text,) = _run(lookups, "lmsops.stack.template", search_dir, ["vars.j2"],
                   template_vars={"pool": {"name": "www"}, "port": 9000})
    assert text == "pool www 9000 \\d+\\.\\n"


def test_a_user_set_ansible_managed_is_kept(lookups, search_dir):
    variables = dict(_variables(search_dir), ansible_managed="Managed by the platform")
    loader = DataLoader()
    plugin = lookups.get("lmsops.stack.template", loader=loader, templar=Templar(loader=loader, variables=variables))
    (header,) = plugin.run(["header.j2"], variables)
    assert header.startswith("# Managed by the platform\n")


class _NoDeepCopy:
    """A variable that refuses to be deep-copied, as the built-in lookup does with every variable."""

    def __deepcopy__(self, memo):
        raise AssertionError("the variables were deep-copied")


def test_the_variables_are_not_changed_and_not_deep_copied(lookups, search_dir):
    variables = _variables(search_dir)
    before = copy.deepcopy(variables)
    variables["big"] = _NoDeepCopy()
    loader = DataLoader()
    plugin = lookups.get("lmsops.stack.template", loader=loader, templar=Templar(loader=loader, variables=variables))
    (text,) = plugin.run(["scoped.j2"], variables, template_vars={"extra": 1})
    assert text == "changed 1,2,3"
    del variables["big"]
    assert variables == before
    # the built-in lookup does copy them (what this lookup exists to avoid)
    variables["big"] = _NoDeepCopy()
    builtin = lookups.get("ansible.builtin.template", loader=loader, templar=Templar(loader=loader, variables=variables))
    with pytest.raises(AssertionError, match="deep-copied"):
        builtin.run(["scoped.j2"], variables)


def test_a_missing_template_names_it(lookups, search_dir):
    with pytest.raises(AnsibleError, match="no-such.j2"):
        _run(lookups, "lmsops.stack.template", search_dir, ["no-such.j2"])


def test_a_template_error_is_raised(lookups, search_dir):
    (search_dir / "templates" / "broken.j2").write_text("{{ missing_variable }}\n")
    with pytest.raises(AnsibleError, match="missing_variable"):
        _run(lookups, "lmsops.stack.template", search_dir, ["broken.j2"])
