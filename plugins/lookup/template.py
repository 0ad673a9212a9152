# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: template
short_description: Render a template on the controller, without copying every variable first
version_added: 0.1.0
description:
  - Returns the rendered content of each template named in the terms, found like the
    P(ansible.builtin.template#lookup) lookup finds it (the role's C(templates/) directory first, then
    the search path).
  - The same templates, variables and result as P(ansible.builtin.template#lookup) with its default
    options, without its cost on the controller. ansible-core's lookup takes a deep copy of every
    variable of the host (facts, host variables, role variables) before each render. On this
    collection's lab that copy took 0.25 s of controller CPU per render, 260 renders per converge.
    This lookup hands the template a shallow copy, as the P(ansible.builtin.template#module) action does.
  - The roles of this collection render their configuration files with it and pass the contents to
    M(lmsops.stack.config_files), which writes them all in one module run.
  - With ansible-core older than 2.19 it hands the call to P(ansible.builtin.template#lookup).
author:
  - lmsops.stack maintainers (@lmsops)
options:
  _terms:
    description: Template file names, relative to the role's C(templates/) directory or the search path.
    type: list
    elements: str
    required: true
  template_vars:
    description:
      - Variables the template sees in addition to (and above) the host's variables.
    type: dict
    default: {}
notes:
  - Jinja's C(trim_blocks) is on and the other Jinja settings are the defaults, as with
    P(ansible.builtin.template#lookup) when no option is given.
  - The template sees C(ansible_managed) and the C(template_*) variables, as with the built-in lookup.
seealso:
  - plugin: ansible.builtin.template
    plugin_type: lookup
  - module: lmsops.stack.config_files
"""

EXAMPLES = r"""
- name: Write the Redis configuration and the unit drop-in in one module run
  lmsops.stack.config_files:
    files:
      - dest: /etc/redis/redis.conf
        content: "{{ lookup('lmsops.stack.template', 'redis.conf.j2') }}"
        mode: "0640"
      - dest: /etc/php/8.2/fpm/pool.d/www.conf
        content: "{{ lookup('lmsops.stack.template', 'pool.conf.j2', template_vars={'pool': {'name': 'www'}}) }}"
        mode: "0644"
"""

RETURN = r"""
_raw:
  description: The rendered content of each template, in the order of the terms.
  type: list
  elements: str
"""

import os

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

try:
    from ansible.template import generate_ansible_template_vars, trust_as_template
except ImportError:  # ansible-core < 2.19: the built-in lookup is used instead
    trust_as_template = None


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        if trust_as_template is None:
            from ansible.plugins.loader import lookup_loader

            builtin = lookup_loader.get("ansible.builtin.template", loader=self._loader, templar=self._templar)
            return builtin.run(terms, variables, **kwargs)

        self.set_options(var_options=variables, direct=kwargs)
        template_vars = self.get_option("template_vars") or {}
        variables = variables or {}

        rendered = []
        for term in terms:
            path = self.find_file_in_search_path(variables, "templates", term)
            if not path:
                raise AnsibleError("the template file %s could not be found for the lookup" % term)
            source = trust_as_template(self._loader.get_text_file_contents(path))

            # Jinja includes and imports look in the template's own directory first, then in each
            # search path and its templates/ subdirectory.
            searchpath = [os.path.dirname(path)]
            for base in variables.get("ansible_search_path", []):
                searchpath.extend([os.path.join(base, "templates"), base])

            # A shallow copy is enough: rendering does not change the values it reads.
            context = dict(variables)
            for key, value in generate_ansible_template_vars(path=term, fullpath=path).items():
                if key != "ansible_managed" or key not in context:
                    context[key] = value
            context.update(template_vars)

            templar = self._templar.copy_with_new_env(available_variables=context, searchpath=searchpath)
            rendered.append(templar.template(source, escape_backslashes=False, overrides={"trim_blocks": True}))
        return rendered
