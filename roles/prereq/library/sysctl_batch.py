#!/usr/bin/python3
# Copyright: edgelab contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sets several sysctls at once: one module run per host instead of one per key."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: sysctl_batch
short_description: Set sysctls now and in a sysctl.d file, in one run
description:
  - For each key, sets the running value (under /proc/sys) when it differs, and makes the file
    hold C(key=value) for it (the key's line replaced, or added). Other lines of the file are kept.
  - Changed when a running value or the file changed.
options:
  values:
    description: Keys (dotted, as sysctl names them) and their values.
    type: dict
    required: true
  sysctl_file:
    description: The sysctl.d file that applies the values at boot.
    type: path
    required: true
"""

import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule


def proc_path(key):
    return os.path.join("/proc/sys", key.replace(".", "/"))


def normalize(value):
    return " ".join(str(value).split())


def main():
    module = AnsibleModule(
        argument_spec=dict(values=dict(type="dict", required=True), sysctl_file=dict(type="path", required=True)),
        supports_check_mode=True,
    )
    values = dict((k, normalize(v)) for k, v in module.params["values"].items())
    path = module.params["sysctl_file"]

    lines = []
    if os.path.exists(path):
        with open(path) as f:
            lines = f.read().splitlines()
    wanted = dict(values)
    new_lines = []
    for line in lines:
        match = re.match(r"^\s*([^#;=\s][^=]*?)\s*=", line)
        key = match.group(1) if match else None
        if key in wanted:
            new_lines.append("%s=%s" % (key, wanted.pop(key)))
        elif key is not None and key in values:
            continue  # a second line for a key already written
        else:
            new_lines.append(line)
    new_lines.extend("%s=%s" % (k, v) for k, v in wanted.items())
    file_changed = new_lines != lines

    running = []
    for key, value in values.items():
        try:
            with open(proc_path(key)) as f:
                current = normalize(f.read())
        except OSError as error:
            module.fail_json(msg="cannot read sysctl %s: %s" % (key, error))
        if current != value:
            running.append(key)

    if not module.check_mode:
        if file_changed:
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".edgelab-sysctl-")
            with os.fdopen(fd, "w") as f:
                f.write("\n".join(new_lines) + "\n")
            os.chmod(tmp, 0o644)
            module.atomic_move(tmp, path)
        for key in running:
            try:
                with open(proc_path(key), "w") as f:
                    f.write(values[key])
            except OSError as error:
                module.fail_json(msg="cannot set sysctl %s=%s: %s" % (key, values[key], error))

    module.exit_json(changed=file_changed or bool(running), file_changed=file_changed, set=running)


if __name__ == "__main__":
    main()
