"""The wheel carries the pinned TensorFlow.js files, so that `pip install tmbuild` is enough.

Hatch runs this hook when it builds the wheel. The files come from where a build would take
them (TMBUILD_TFJS_DIR, the user cache, or `npm pack` once, on the machine that makes the
wheel), are checked against the hashes pinned in tmbuild/page/tfjs.py, and go into the wheel
beside that module, where a build finds them first: no Node.js and no network for users.
An editable install (a checkout) skips this and takes the files from the cache instead.
"""

from __future__ import annotations

import sys

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class RuntimeFilesHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        sys.path.insert(0, self.root)
        try:
            from tmbuild.page import tfjs
        finally:
            sys.path.remove(self.root)
        target = "tmbuild/page/tfjs_files/" + tfjs.TFJS_VERSION
        # Every backend's files, each read back and checked against its pinned sha256.
        for runtime_file in tfjs.runtime_files(tfjs.TFJS_VERSION, "auto"):
            runtime_file.read_bytes()
            build_data["force_include"][str(runtime_file.path)] = f"{target}/{runtime_file.name}"
