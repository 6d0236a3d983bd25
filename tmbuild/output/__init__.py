"""Stage 5, the output: compressed siblings, the manifest, and the folder written safely.

- compress: .gz and .br siblings, cached by content
- manifest: tmbuild-manifest.json, every file with its size and hashes
- write: the site written into a temporary folder, then swapped in whole
- safety: which output folder a build may replace (empty, or an earlier build's)
"""
