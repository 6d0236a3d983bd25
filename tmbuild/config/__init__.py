"""Stage 1, configuration: site.yaml read and checked into a SiteConfig.

- load: the schema of every option, loading and validation (`load_config`, `SiteConfig`)
- checks: the check behind each option (types, ranges, URLs, paths)
- yamlfile: a YAML file read safely, with the line and column of every value

Like every package of tmbuild, this one imports nothing itself: name the module you need.
"""
