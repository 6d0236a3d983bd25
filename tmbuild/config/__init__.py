"""Stage 1, configuration: site.yaml read and checked into a SiteConfig.

- schema: every option declared once, with its type, default, allowed values and help
- load: loading and validation against the schema (`load_config`)
- checks: the check behind each option (types, ranges, URLs, paths)
- yamlfile: a YAML file read safely, with the line and column of every value
- reference: the text made from the schema: init's site.yaml, the example, the docs page

Like every package of tmbuild, this one imports nothing itself: name the module you need.
"""
