"""`tmbuild eval` and `tmbuild split`: how good the model is, measured in the page that ships.

- run: `evaluate`, held-out images through the built page in headless Chromium
- headless: the built site opened in headless Chromium
- labelled: labelled image folders and how their names map to the labels
- metrics: accuracy, confusion, thresholds, from the predictions
- intervals: 95% intervals on those figures, and how many images would narrow them
- verdict: can it ship, at what threshold; and whether --write-threshold may write it
- classify: images through the page's window.tmbuild API, in batches, as uploads go
- clips: an audio model's clips through the page's classifyAudio, and a clip's answer
- leakage: held-out images that are training images, by their bytes or a perceptual hash
- perturb: changes of light, colour, focus and framing, for the robustness table
- sound_perturb: noise and changes of level, for an audio model's robustness table
- pose_perturb: a pose model's changes, made inside PoseNet's padded frame
- report: eval.json and eval.html, with the charts they draw
- summary: what the terminal shows
- record: tmbuild-eval.json, the accuracy recorded beside a build for tmbuild diff
- agreement: the bars a quantised model clears against float32 to keep its answers
- choose: `quantize: auto`, the smallest format that clears them, measured in the page
- lints: advice on a model and its images
- split: a held-out share of each label's images set aside
"""
