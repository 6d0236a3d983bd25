/* The model on TensorFlow.js: the build's plan on its fused ops, or tf-layers and model.json
 * for a model without a plan. `tf` is the global the runtime's scripts define. */

import { foldBatchNorm } from "./weights.js";

// Functional ops only: the core bundle alone does not register the chained tensor methods.
// `frame`: the plan's `input` (PoseNet's x / 127.5 - 1), or none for Teachable Machine's own.
function toInput(canvas, grayscale, frame) {
  let image = tf.cast(tf.browser.fromPixels(canvas), "float32");
  if (grayscale) {
    // Teachable Machine's luma weights for its grayscale models.
    image = tf.sum(tf.mul(image, tf.tensor1d([0.2989, 0.587, 0.114])), -1, true);
  }
  if (frame) return tf.expandDims(tf.add(tf.div(image, frame.divisor), frame.offset), 0);
  return tf.expandDims(tf.sub(tf.div(image, 127), 1), 0);
}

// Tensors for each step, made once; the runner then only calls ops.
export function preparePlan(plan, weights) {
  const tensors = [];
  const tensor = (name) => {
    const weight = weights.get(name);
    const made = tf.tensor(weight.values, weight.shape);
    tensors.push(made);
    return made;
  };
  const steps = plan.steps.map((step) => {
    const prepared = Object.assign({}, step);
    if (step.batchnorm) {
      const folded = foldBatchNorm(step, weights);
      prepared.kernel = tf.tensor(folded.kernel.values, folded.kernel.shape);
      prepared.bias = tf.tensor(folded.bias.values, folded.bias.shape);
      tensors.push(prepared.kernel, prepared.bias);
    } else if (step.kernel) {
      prepared.kernel = tensor(step.kernel);
      if (step.bias) prepared.bias = tensor(step.bias);
    }
    if (step.op === "batchnorm") {
      for (const key of ["gamma", "beta", "mean", "variance"]) {
        if (step[key]) prepared[key] = tensor(step[key]);
      }
    }
    if (step.op === "pad") prepared.padding = [[0, 0], ...step.padding, [0, 0]];
    return prepared;
  });
  const outputs = Object.entries(plan.outputs || {});
  return {
    predict: (input) => runPlan(steps, plan.output, input).output,
    // The output and the plan's `outputs` (name → tensor): the caller disposes them all.
    predictAll: (input) => runPlan(steps, plan.output, input, outputs),
    planInput: plan.input || null, // not `input`: a tf-layers model has one of its own
    dispose: () => tensors.forEach((t) => t.dispose()),
  };
}

function runStep(step, inputs) {
  const [x, y] = inputs;
  const activation = step.activation || "linear";
  switch (step.op) {
    case "conv":
      return tf.fused.conv2d({ x, filter: step.kernel, strides: step.strides, pad: step.pad,
        dilations: step.dilations, bias: step.bias, activation });
    case "depthwise":
      return tf.fused.depthwiseConv2d({ x, filter: step.kernel, strides: step.strides,
        pad: step.pad, dilations: step.dilations, bias: step.bias, activation });
    case "dense":
      return tf.fused.matMul({ a: x, b: step.kernel, bias: step.bias, activation });
    case "batchnorm":
      return tf.batchNorm(x, step.mean, step.variance, step.beta, step.gamma, step.epsilon);
    case "activation": // one of tmbuild.plan's STANDALONE_ACTIVATIONS, each a tf op
      return tf[step.activation](x);
    case "pad":
      return tf.pad(x, step.padding);
    case "add":
      return tf.add(x, y);
    case "concat": // on the channel axis, in the order of `in`
      return tf.concat(inputs, -1);
    case "mean":
      return tf.mean(x, [1, 2]);
    case "flatten":
      return tf.reshape(x, [x.shape[0], -1]);
    case "maxpool":
      return tf.maxPool(x, step.pool, step.strides, step.pad);
    default:
      throw new Error("unknown step " + step.op);
  }
}

// Value 0 is the input batch; step i makes value i + 1 and frees what no later step reads
// (never the output nor the plan's `outputs`, [name, index] pairs).
function runPlan(steps, output, input, outputs = []) {
  const values = [input];
  steps.forEach((step) => {
    values.push(runStep(step, step.in.map((index) => values[index])));
    if (step.free) step.free.forEach((index) => values[index].dispose());
  });
  return { output: values[output],
    outputs: Object.fromEntries(outputs.map(([name, index]) => [name, values[index]])) };
}

// An audio model's input: one normalised window of 43 frames × 232 bins.
const SPECTROGRAM = [1, 43, 232, 1];

export function tensorFlowRunner(layers, model) {
  const frame = layers.planInput || null; // a plan's own input, else Teachable Machine's
  const audio = !frame && model.kind === "audio";
  const grayscale = frame ? frame.shape[2] === 1 : model.grayscale;
  const shape = frame ? [1, ...frame.shape] : audio ? SPECTROGRAM
    : [1, model.imageSize, model.imageSize, model.grayscale ? 1 : 3];
  // A pose frame comes as float32 RGB (pose.js): the plan's preprocessing on it as it is.
  const batch = (input) => (audio ? tf.tensor(input, SPECTROGRAM)
    : frame && input instanceof Float32Array
      ? tf.add(tf.div(tf.tensor(input, [1, ...frame.shape]), frame.divisor), frame.offset)
      : toInput(input, grayscale, frame));
  return {
    // A canvas for an image model, a Float32Array spectrogram for an audio one.
    async classify(input) {
      const output = tf.tidy(() => layers.predict(batch(input)));
      try {
        return Array.from(await output.data());
      } finally {
        output.dispose();
      }
    },
    // The output and a plan's `outputs` (name → {values, shape}, without the batch axis), for
    // the pose page; a model without a plan has no `outputs`.
    async run(input) {
      const result = tf.tidy(() => (layers.predictAll ? layers.predictAll(batch(input))
        : { output: layers.predict(batch(input)), outputs: {} }));
      const tensors = [result.output, ...Object.values(result.outputs)];
      try {
        const outputs = {};
        for (const [name, tensor] of Object.entries(result.outputs)) {
          outputs[name] = { values: await tensor.data(), shape: tensor.shape.slice(1) };
        }
        return { output: Array.from(await result.output.data()), outputs };
      } finally {
        tensors.forEach((tensor) => tensor.dispose());
      }
    },
    async warmUp() {
      const started = performance.now();
      const warm = tf.tidy(() => layers.predict(tf.zeros(shape)));
      await warm.data();
      warm.dispose();
      return performance.now() - started;
    },
    dispose: () => layers.dispose(),
  };
}
