"""Stage 3, the model: the export prepared for the page, in a hashed, versioned folder.

- prepare: `prepare_model`, the model folder (`ModelFiles`)
- weights: decoding, quantising and re-sharding the weights
- int8: tmbuild's int8 weight format, one scale per output channel (`quantize: int8`)
- bias_correction: the biases that cancel int8's rounding on the kernels' mean inputs
- fold: batch norms folded into the convolutions before them
- plan: the model as a short list of fused steps, run by the page without tf-layers
- kernels: tmbuild's WebAssembly kernels that run the plan (source in wasm/kernels.c)
- cache: the prepared model kept in the user cache between builds
- posenet: PoseNet's graph model for pose sites, pinned, fetched once and verified
- pose_plan: PoseNet, and a pose model's whole path, as a plan for the page's runners
- pose_model: a pose model's folder, PoseNet and the head's weights under one plan
"""
