"""Stage 2, the export: a Teachable Machine download read and checked.

- read: `read_export`, an `ImageExport`, `AudioExport` or `PoseExport` from a folder or a
  .zip, checked
- audio: what a Teachable Machine audio (speech commands) export is, and its checks
- pose: what a Teachable Machine pose export is, and its checks (the PoseNet it needs)
- sources: the files of a folder or a .zip, whatever their names
- layers: every weight checked against the layer that uses it
- weights_manifest: the weights manifest's entries, checked and sized without numpy
"""
