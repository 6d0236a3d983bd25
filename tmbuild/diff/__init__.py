"""`tmbuild diff`: what changed between two builds.

- compare: two tmbuild-manifest.json files compared
- accuracy: the change in accuracy tmbuild eval recorded beside each build
- format: the comparison as text, Markdown or JSON
"""
