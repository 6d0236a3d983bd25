"""`tmbuild diff`: what changed between two builds.

- compare: two tmbuild-manifest.json files compared
- format: the comparison as text, Markdown or JSON
"""
